// The MySQL topology and failover panel: per `mode: mysql` backend with a monitor, its
// servers (role, state, lag, read pool), the write hold of a switchover, and the recent
// failover events (/api/stats `mysql_topology`). Drawn with the main script's helpers.
"use strict";
(() => {
  const d = window.fastlbDashboard;
  if (!d) return;
  const { h, setText, setAttr, syncChildren, field, ago, clock, ms, int, num } = d;
  const $ = (id) => document.getElementById(id);
  const EVENTS_SHOWN = 10;
  // The kinds that mean a person should look (events.py logs them as warnings).
  const WARNINGS = new Set(["failover_started", "switchover_failed", "failover_failed", "diverged"]);

  function makeBackend(name) {
    return h("article", { class: "card", "data-mysql-backend": name },
      h("div", { class: "card-head", id: `mysql-${name}-head` },
        h("h3", { text: name }),
        h("span", { "data-field": "primary" }),
        h("span", { class: "muted", "data-field": "mode" }),
        h("span", { "data-field": "hold" })),
      h("dl", { class: "kv", "data-field": "counters" },
        h("div", null, h("dt", { text: "Failovers" }), h("dd", { "data-field": "failovers" })),
        h("div", null, h("dt", { text: "Switchovers" }), h("dd", { "data-field": "switchovers" })),
        h("div", null, h("dt", { text: "Writes unavailable" }), h("dd", { "data-field": "unavailable" })),
        h("div", null, h("dt", { text: "Kept out" }), h("dd", { "data-field": "kept_out" }))),
      h("p", { class: "err", "data-field": "conflict", hidden: true }),
      h("div", { class: "table-wrap" },
        h("table", null,
          h("caption", { class: "sr-only", text: `Servers of backend ${name} as the topology monitor sees them` }),
          h("thead", null, h("tr", null,
            h("th", { scope: "col", class: "l", text: "Server" }),
            h("th", { scope: "col", class: "l", text: "Role" }),
            h("th", { scope: "col", class: "l", text: "State" }),
            h("th", { scope: "col", text: "Lag" }),
            h("th", { scope: "col", class: "l", text: "Reads" }),
            h("th", { scope: "col", class: "l", text: "Why" }))),
          h("tbody", { "data-field": "servers" }))),
      h("ul", { class: "events", id: `mysql-${name}-events`, "data-field": "events", "aria-label": `Recent failover events of ${name}` }));
  }

  function serverState(s, keptOut, diverged) {
    if (!s.reachable) return "down";
    if (diverged) return "diverged";
    if (keptOut) return "fenced";
    return s.read_only === false ? "writable" : "read-only";
  }

  function renderServers(body, backend, t, keptOut, diverged) {
    const servers = t.servers || [];
    syncChildren(body, servers.map((s) => s.name), (name) =>
      h("tr", { "data-mysql-server": name, id: `mysql-${backend}-${name}` },
        h("th", { scope: "row", "data-field": "name", text: name }),
        h("td", { class: "l", "data-field": "role" }),
        h("td", { class: "l", "data-field": "state" }),
        h("td", { class: "num", "data-field": "lag" }),
        h("td", { class: "l", "data-field": "reads" }),
        h("td", { class: "l", "data-field": "reason" })));
    for (const s of servers) {
      const row = body.querySelector(`tr[data-mysql-server="${CSS.escape(s.name)}"]`);
      const role = s.name === t.primary ? "primary" : "replica";
      setText(field(row, "role"), role);
      field(row, "role").className = "l db-" + role;
      const st = serverState(s, keptOut.has(s.name), diverged.has(s.name));
      setText(field(row, "state"), st);
      field(row, "state").className = "l db-" + st;
      setText(field(row, "lag"), role === "primary" ? "—" : s.lag_seconds === null || s.lag_seconds === undefined ? "?" : `${ms(s.lag_seconds)} ms`);
      setText(field(row, "reads"), s.in_read_pool ? "yes" : "no");
      setText(field(row, "reason"), s.reason || "");
      setAttr(row.querySelector("th"), "title", s.address || "");
    }
  }

  function renderEvents(list, events) {
    const shown = events.slice(-EVENTS_SHOWN).reverse();  // newest first
    const keyOf = (e) => `${e.at}/${e.kind}/${e.server}`;
    syncChildren(list, shown.map(keyOf), (key) => {
      const e = shown.find((x) => keyOf(x) === key);
      const gtid = e.gtid ? ` (GTID ${e.gtid})` : "";
      return h("li", { class: WARNINGS.has(e.kind) ? "ev-warn" : "", title: clock(e.at), "data-kind": e.kind },
        h("span", { class: "mono", text: new Date(e.at * 1000).toLocaleTimeString() }), " ",
        h("b", { text: e.kind }), ` ${e.server || ""}: ${e.message}${gtid}`);
    });
  }

  function render(data) {
    const box = $("mysql"), topo = data.mysql_topology || {};
    const names = Object.keys(topo).filter((name) => topo[name]);
    box.hidden = names.length === 0;
    if (!names.length) return;
    const root = $("mysql-backends");
    syncChildren(root, names, makeBackend);
    for (const name of names) {
      const t = topo[name], card = root.querySelector(`[data-mysql-backend="${CSS.escape(name)}"]`);
      const f = t.failover;
      const keptOut = new Set((f && f.kept_out) || []);
      const diverged = new Set((f && f.diverged) || []);
      const primary = field(card, "primary");
      setText(primary, t.primary ? `primary ${t.primary}` : "NO PRIMARY (writes fail)");
      primary.className = t.primary ? "db-primary" : "db-down";
      setText(field(card, "mode"), f ? `failover ${f.mode}${f.busy ? ", running now" : ""}` : "failover off (follows the topology)");
      const hold = field(card, "hold"), gate = f && f.write_hold;
      setText(hold, gate ? (gate.held ? "writes HELD (switchover)" : `writes flowing (${int(num(gate.holds))} hold(s), ${num(gate.held_seconds).toFixed(3)} s in all)`) : "");
      hold.className = gate && gate.held ? "db-held" : "muted";
      field(card, "counters").hidden = !f;
      if (f) {
        setText(field(card, "failovers"), int(num(f.failovers_total)));
        setText(field(card, "switchovers"), int(num(f.switchovers_total)));
        setText(field(card, "unavailable"), `${num(f.write_unavailable_seconds).toFixed(2)} s`);
        setText(field(card, "kept_out"), (f.kept_out || []).join(", ") || "none");
      }
      const conflict = field(card, "conflict");
      conflict.hidden = !t.conflict;
      setText(conflict, t.conflict || "");
      renderServers(field(card, "servers"), name, t, keptOut, diverged);
      renderEvents(field(card, "events"), t.events || []);
    }
  }

  d.addPanel(render);
})();
