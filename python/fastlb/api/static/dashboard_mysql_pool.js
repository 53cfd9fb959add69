// The MySQL proxies table: per `mode: mysql` frontend, its sessions and routing, and its
// server-connection pool (mysql.pool): connections open/idle on each server, how borrows
// were served, and why sessions were pinned. Read from /api/stats `frontends[].mysql` on
// every poll.
"use strict";
(() => {
  const d = window.fastlbDashboard;
  if (!d) return;
  const { h, int, num } = d;
  const $ = (id) => document.getElementById(id);

  // "primary 2/1 · replica 1/0": open/idle pooled connections of each server.
  function perServer(byServer) {
    return Object.entries(byServer || {})
      .map(([server, f]) => `${server} ${int(f.open)}/${int(f.idle)}`)
      .join(" · ") || "—";
  }
  // The reasons sessions were pinned, most frequent first ("user_variable 3, lock 1").
  function pins(byReason) {
    return Object.entries(byReason || {})
      .filter(([, count]) => num(count) > 0)
      .sort((a, b) => num(b[1]) - num(a[1]))
      .map(([reason, count]) => `${reason} ${int(count)}`)
      .join(", ") || "—";
  }
  function reusedShare(m) {
    const borrows = num(m.pool_borrows);
    return borrows ? `${Math.round((100 * num(m.pool_reused)) / borrows)}%` : "—";
  }

  function render(data) {
    const rows = [];
    for (const [name, f] of Object.entries(data.frontends || {})) {
      const m = f && f.mysql;
      if (!m) continue;
      const cell = (field, text, title) => h("td", { "data-field": field, text, title });
      rows.push(h("tr", { "data-mysql-proxy": name, id: `mysql-pool-${name}` },
        h("th", { scope: "row", text: name }),
        cell("sessions", int(m.sessions)),
        cell("pinned", int(m.pinned_sessions)),
        cell("queries", `${int(m.queries_primary)} / ${int(m.queries_replica)}`, "primary / replica"),
        cell("open", `${int(m.pool_open)} / ${int(m.pool_idle)}`, "open / idle"),
        h("td", { class: "l", "data-field": "servers", text: perServer(m.pool_by_server) }),
        cell("borrows", int(m.pool_borrows)),
        cell("reused", reusedShare(m), "borrows served by an idle connection (no login)"),
        cell("waits", int(m.pool_waits)),
        cell("full", int(m.pool_full_errors), "sessions refused with 1040 after the connect timeout"),
        cell("resets", int(m.pool_resets)),
        h("td", { class: "l", "data-field": "pins", text: pins(m.pins_by_reason) })));
    }
    $("mysql-pool").querySelector("tbody").replaceChildren(...rows);
    $("mysql-pool-section").hidden = rows.length === 0;
  }

  d.addPanel(render);
})();
