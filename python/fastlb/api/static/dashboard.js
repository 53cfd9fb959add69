// The dashboard's main script: polls GET /api/stats, keeps the recent snapshots and the
// rates derived from them, and draws the header and the frontend and backend tables; the
// panels (dashboard_*.js) draw the rest through window.fastlbDashboard.
"use strict";
(() => {
  const POLL_MS = 1000;
  const TIMEOUT_MS = 3000;
  const WINDOW_S = 120;
  const RATE_BASE_S = 1;
  const STATS_URL = "api/stats";
  const PALETTE = ["#4e79a7", "#f28e2b", "#59a14f", "#e15759", "#76b7b2",
                   "#edc948", "#b07aa1", "#ff9da7", "#9c755f", "#86bcb6"];
  const $ = (id) => document.getElementById(id);

  const state = {
    data: null,        // the last good snapshot
    samples: [],       // recent snapshots; samples[0] is the base of the rates (>= 1 s old if any)
    rates: null,       // {frontends: {name: {...}}, backends: {...}, servers: {key: {...}}}
    history: [],       // [{t: Unix s (browser clock), rate: Map(key -> sessions/s), p99: Map(key -> ms)}]
    lastOk: 0,         // Date.now() of the last good snapshot
    failing: false,
    error: "",
    colors: new Map(),
  };

  // ---- formatting -------------------------------------------------------------------
  const int = (n) => (Number.isFinite(n) ? Math.round(n).toLocaleString("en-US") : "—");
  const num = (v) => (typeof v === "number" && Number.isFinite(v) ? v : 0);
  function rate(n) {
    if (!Number.isFinite(n)) return "—";
    return n >= 100 ? int(n) : n >= 10 ? n.toFixed(1) : n.toFixed(2).replace(/\.?0+$/, "") || "0";
  }
  function bytes(n) {
    if (!Number.isFinite(n)) return "—";
    const units = ["B", "KiB", "MiB", "GiB", "TiB", "PiB"];
    let i = 0;
    while (Math.abs(n) >= 1024 && i < units.length - 1) { n /= 1024; i += 1; }
    return (i === 0 ? String(Math.round(n)) : n >= 100 ? n.toFixed(0) : n.toFixed(1)) + " " + units[i];
  }
  const byteRate = (n) => (Number.isFinite(n) ? bytes(n) + "/s" : "—");
  function ms(seconds) {
    if (!Number.isFinite(seconds)) return "—";
    const v = seconds * 1000;
    if (v === 0) return "0";
    return v >= 100 ? int(v) : v >= 10 ? v.toFixed(1) : v >= 1 ? v.toFixed(2) : v.toFixed(3);
  }
  function duration(s) {
    s = Math.max(0, Math.floor(s));
    const d = Math.floor(s / 86400), h = Math.floor(s / 3600) % 24, m = Math.floor(s / 60) % 60, sec = s % 60;
    if (d) return `${d}d ${h}h`;
    if (h) return `${h}h ${m}m`;
    if (m) return `${m}m ${sec}s`;
    return `${sec}s`;
  }
  const ago = (unixSeconds) => duration(Date.now() / 1000 - unixSeconds) + " ago";
  const clock = (unixSeconds) => new Date(unixSeconds * 1000).toLocaleString();
  const hist = (h) => (h && typeof h === "object" && num(h.count) > 0 ? h : null);

  function serverStatus(s) {
    if (typeof s.status === "string" && s.status) return s.status.toUpperCase();
    // Cores without the `status` field: operator state first, then health.
    if (s.state === "maint") return "MAINT";
    if (s.state === "drain") return "DRAIN";
    if (s.health === "down") return "DOWN";
    return "UP";
  }

  function color(key) {
    if (!state.colors.has(key)) state.colors.set(key, PALETTE[state.colors.size % PALETTE.length]);
    return state.colors.get(key);
  }

  // ---- tiny DOM helpers --------------------------------------------------------------
  function h(tag, props, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(props || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c !== null && c !== undefined) node.append(c);
    return node;
  }
  function setText(node, text) { if (node && node.textContent !== text) node.textContent = text; }
  function setAttr(node, name, value) {
    if (!node) return;
    if (value === null || value === undefined || value === "") node.removeAttribute(name);
    else if (node.getAttribute(name) !== value) node.setAttribute(name, value);
  }
  // Keep `parent`'s children in the order of `keys`, creating missing ones with make(key).
  function syncChildren(parent, keys, make) {
    const existing = new Map();
    for (const child of Array.from(parent.children)) {
      if (child.dataset.key !== undefined) existing.set(child.dataset.key, child);
      else child.remove();
    }
    keys.forEach((key, i) => {
      let node = existing.get(key);
      if (node) existing.delete(key);
      else { node = make(key); node.dataset.key = key; }
      if (parent.children[i] !== node) parent.insertBefore(node, parent.children[i] || null);
    });
    for (const node of existing.values()) node.remove();
  }
  const field = (root, name) => root.querySelector(`[data-field="${name}"]`);

  // ---- data --------------------------------------------------------------------------
  const serverKey = (backend, server) => backend + "/" + server;

  // Panels in scripts of their own (dashboard_*.js, inlined after this one by the server:
  // charts, VRRP, BGP, MySQL) draw from each good snapshot, after the tables, with these.
  const panels = [];
  window.fastlbDashboard = {
    addPanel: (render) => panels.push(render),
    h, setText, setAttr, syncChildren, field, ago, clock, ms, int, num, color, serverKey,
    state, windowSeconds: WINDOW_S,
  };

  // Rates are counter deltas over the server's own clock (uptime_seconds), measured against
  // the newest snapshot at least RATE_BASE_S old, so they stay steady however often we poll.
  function ingest(data) {
    const uptime = num(data.uptime_seconds);
    const newest = state.samples[state.samples.length - 1];
    if (newest && uptime < num(newest.uptime_seconds)) {
      state.samples = [];  // the load balancer restarted: its counters started again from 0
      state.history = [];
    }
    state.samples.push(data);
    while (state.samples.length > 2 && num(state.samples[1].uptime_seconds) <= uptime - RATE_BASE_S)
      state.samples.shift();
    const prev = state.samples.length > 1 ? state.samples[0] : null;
    const dt = prev ? uptime - num(prev.uptime_seconds) : 0;
    const per = (now, before, name) => {
      if (!before || dt <= 0) return NaN;
      return Math.max(0, num(now[name]) - num(before[name])) / dt;
    };
    // mode http: requests/s from the `http` sections (null until the first request).
    const perRequest = (now, before) => (now.http ? per(now.http, before && before.http, "requests") : NaN);
    const rates = { frontends: {}, servers: {}, backends: {} };
    for (const [name, fe] of Object.entries(data.frontends || {})) {
      const old = prev && prev.frontends ? prev.frontends[name] : null;
      rates.frontends[name] = {
        sessions: per(fe, old, "total_connections"),
        bytesIn: per(fe, old, "bytes_in"),
        bytesOut: per(fe, old, "bytes_out"),
        requests: perRequest(fe, old),
      };
    }
    const t = Date.now() / 1000;
    const point = { t, rate: new Map(), p99: new Map() };
    for (const [bname, be] of Object.entries(data.backends || {})) {
      const oldBe = prev && prev.backends ? prev.backends[bname] : null;
      rates.backends[bname] = { sessions: per(be, oldBe, "total_connections"), requests: perRequest(be, oldBe) };
      for (const [sname, s] of Object.entries(be.servers || {})) {
        const key = serverKey(bname, sname);
        const old = oldBe && oldBe.servers ? oldBe.servers[sname] : null;
        const r = {
          sessions: per(s, old, "total_connections"),
          bytesIn: per(s, old, "bytes_in"),
          bytesOut: per(s, old, "bytes_out"),
          requests: perRequest(s, old),
        };
        rates.servers[key] = r;
        if (Number.isFinite(r.sessions)) point.rate.set(key, r.sessions);
        const ct = hist(s.connect_time);
        if (ct) point.p99.set(key, num(ct.p99) * 1000);
      }
    }
    state.history.push(point);
    while (state.history.length && state.history[0].t < t - WINDOW_S - 5) state.history.shift();
    state.data = data;
    state.rates = rates;
  }

  // ---- rendering ---------------------------------------------------------------------
  function renderHeader() {
    const data = state.data;
    setText($("uptime"), data ? "uptime " + duration(num(data.uptime_seconds)) : "uptime —");
    setText($("updated"), state.lastOk ? "updated " + duration((Date.now() - state.lastOk) / 1000) + " ago" : "waiting for data");
    const status = $("status");
    const text = state.failing ? "API unreachable" : state.data ? "Live" : "Connecting…";
    setText(status, text);
    status.classList.toggle("live", !state.failing && !!state.data);
    status.classList.toggle("down", state.failing);
    const banner = $("banner");
    if (state.failing) {
      const since = state.lastOk
        ? `Showing the last data received, from ${new Date(state.lastOk).toLocaleTimeString()}.`
        : "No data received yet.";
      setText(banner, `API unreachable (${state.error}). ${since} Retrying every second.`);
      banner.hidden = false;
    } else {
      banner.hidden = true;
    }
  }

  function makeFrontendCard(name) {
    const stat = (label, key, title) =>
      h("div", { title }, h("dt", { text: label }), h("dd", { "data-field": key }));
    const titleId = "fe-" + Math.random().toString(36).slice(2);
    return h("article", { class: "card", "aria-labelledby": titleId, "data-frontend": name },
      h("div", { class: "card-head" },
        h("h3", { id: titleId, text: name }),
        h("span", { class: "mono muted", "data-field": "listen" }),
        h("span", { class: "muted", "data-field": "backend" })),
      h("dl", { class: "kv" },
        stat("Current", "current", "current sessions"), stat("Total", "total", "sessions since start"),
        stat("Sessions/s", "rate"), stat("Rejected", "rejected", "refused at max_connections"),
        stat("In/s", "in", "bytes from clients"), stat("Out/s", "out", "bytes to clients"),
        stat("No server", "noserver", "sessions closed because no server could be reached"),
        stat("Errors", "errors", "accept and local resource errors")),
      // mode http frontends only (shown once the core reports an `http` section).
      h("dl", { class: "kv", "data-field": "http", hidden: true },
        stat("Requests/s", "http_rate", "HTTP requests per second"),
        ...RESPONSE_CLASSES.map((c) => stat(c, "http_" + c, `${c} responses sent`)),
        stat("Bad requests", "http_bad", "malformed or too large (400, 431) and timed out (408)"),
        stat("Request p99 ms", "http_p99", "first request byte to last response byte")));
  }

  const RESPONSE_CLASSES = ["2xx", "3xx", "4xx", "5xx"];
  // Responses by class: counts, with the share of all responses in the title.
  function renderResponses(root, http) {
    const responses = http.responses || {};
    const all = Object.values(responses).reduce((sum, v) => sum + num(v), 0);
    for (const c of RESPONSE_CLASSES) {
      const node = field(root, "http_" + c), n = num(responses[c]);
      setText(node, int(n));
      setAttr(node, "title", all ? `${(100 * n / all).toFixed(1)}% of ${int(all)} responses` : "no responses yet");
      if (c === "5xx" && node.tagName === "DD") node.classList.toggle("alert", n > 0);
    }
  }

  function withSub(node, main, sub) {
    if (!node) return;
    const key = main + "\u0000" + sub;
    if (node.dataset.v === key) return;
    node.dataset.v = key;
    node.replaceChildren(main, h("small", { text: sub }));
  }

  function renderFrontends() {
    const box = $("frontends");
    const fes = state.data.frontends || {};
    const names = Object.keys(fes);
    if (!names.length) { box.replaceChildren(h("p", { class: "empty", text: "No frontends configured." })); return; }
    syncChildren(box, names, makeFrontendCard);
    for (const card of box.children) {
      const name = card.dataset.key, fe = fes[name], r = state.rates.frontends[name] || {};
      setText(field(card, "listen"), fe.listen || "");
      setText(field(card, "backend"), fe.backend ? "→ " + fe.backend : "");
      setText(field(card, "current"), int(num(fe.current_connections)));
      setText(field(card, "total"), int(num(fe.total_connections)));
      setText(field(card, "rate"), rate(r.sessions));
      withSub(field(card, "in"), byteRate(r.bytesIn), "total " + bytes(num(fe.bytes_in)));
      withSub(field(card, "out"), byteRate(r.bytesOut), "total " + bytes(num(fe.bytes_out)));
      const rejected = num(fe.rejected_connections);
      setText(field(card, "rejected"), int(rejected));
      field(card, "rejected").classList.toggle("alert", rejected > 0);
      const noServer = num(fe.no_server_errors);
      setText(field(card, "noserver"), int(noServer));
      field(card, "noserver").classList.toggle("alert", noServer > 0);
      const accept = num(fe.accept_errors), resource = num(fe.resource_errors);
      setText(field(card, "errors"), int(accept + resource));
      setAttr(field(card, "errors"), "title", `accept errors: ${accept}, resource errors: ${resource}`);
      field(card, "errors").classList.toggle("alert", accept + resource > 0);
      const http = fe.http, httpList = field(card, "http");
      httpList.hidden = !http;
      if (!http) continue;
      withSub(field(card, "http_rate"), rate(r.requests), "total " + int(num(http.requests)));
      renderResponses(httpList, http);
      setText(field(card, "http_bad"), int(num(http.bad_requests) + num(http.request_timeouts)));
      const rt = hist(http.request_time);
      setText(field(card, "http_p99"), rt ? ms(num(rt.p99)) : "—");
    }
  }

  const SERVER_COLUMNS = [
    // [field, class] in table order (the header is written out in makeBackend)
    ["status", "l"], ["weight", "num"], ["active", "l"],
    ["current", "num"], ["total", "num"], ["rate", "num"], ["in", "num"], ["out", "num"],
    ["connect_errors", "num"], ["retries", "num"], ["last_change", "l"], ["check", "l"],
    ["connect_p50", "num"], ["connect_p99", "num"], ["session_p50", "num"], ["session_p99", "num"],
    // mode http only (hidden while the backend has no `http` section)
    ["http_rate", "num http-col"], ["http_2xx", "num http-col"], ["http_3xx", "num http-col"],
    ["http_4xx", "num http-col"], ["http_5xx", "num http-col"], ["http_idle", "num http-col"],
  ];

  function makeBackend(name) {
    const th = (text, props) => h("th", Object.assign({ scope: "col", text }, props || {}));
    const group = (text, span) => h("th", { scope: "colgroup", colspan: span, text });
    const titleId = "be-" + Math.random().toString(36).slice(2);
    // Column groups matching the grouped headers (scope="colgroup").
    const cols = [4, 3, 2, 2, 2, 2, 2, 6].map((span) => h("colgroup", { span }));
    const hc = (text, props) => th(text, Object.assign({ class: "http-col" }, props || {}));
    const table = h("table", { "data-backend": name },
      h("caption", { class: "sr-only", text: `Servers of backend ${name}` }),
      ...cols,
      h("thead", null,
        h("tr", null,
          th("Server", { rowspan: 2, class: "l" }),
          th("Status", { rowspan: 2, class: "l" }), th("Weight", { rowspan: 2 }), th("Active", { rowspan: 2, class: "l" }),
          group("Sessions", 3), group("Bytes", 2), group("Errors", 2),
          th("Last change", { rowspan: 2, class: "l" }), th("Last check", { rowspan: 2, class: "l" }),
          group("Connect ms", 2), group("Session ms", 2),
          h("th", { scope: "colgroup", colspan: 6, class: "http-col", text: "HTTP requests" })),
        h("tr", null,
          th("Current"), th("Total"), th("Per s"), th("In"), th("Out"), th("Connect"), th("Retries"),
          th("p50"), th("p99"), th("p50"), th("p99"),
          hc("Per s"), hc("2xx"), hc("3xx"), hc("4xx"), hc("5xx"), hc("Idle conns", { title: "idle pooled connections" }))),
      h("tbody"));
    return h("article", { class: "backend panel", "aria-labelledby": titleId, "data-backend": name },
      h("div", { class: "backend-head" },
        h("h3", { id: titleId, text: name }),
        h("div", { class: "facts", "data-field": "facts" })),
      h("div", { class: "table-wrap" }, table));
  }

  function makeServerRow(key) {
    const row = h("tr", { "data-server": key.slice(key.indexOf("/") + 1) },
      h("th", { scope: "row", "data-field": "name" }));
    for (const [name, cls] of SERVER_COLUMNS) row.append(h("td", { class: cls, "data-field": name }));
    return row;
  }

  function renderServer(row, bname, sname, s) {
    const key = serverKey(bname, sname);
    const r = state.rates.servers[key] || {};
    const nameCell = field(row, "name");
    const nameKey = sname + "\u0000" + (s.backup ? "backup" : "") + "\u0000" + (s.address || "");
    if (nameCell.dataset.v !== nameKey) {
      nameCell.dataset.v = nameKey;
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = color(key);
      nameCell.replaceChildren(
        h("span", { class: "srv" }, swatch, h("span", { "data-field": "server-name", text: sname }),
          s.backup ? h("span", { class: "tag", title: "backup server", text: "backup" }) : null),
        h("small", { class: "mono", "data-field": "address", text: s.address || "" }));
    }

    const status = serverStatus(s);
    const statusCell = field(row, "status");
    if (statusCell.dataset.v !== status) {
      statusCell.dataset.v = status;
      statusCell.replaceChildren(h("span", { class: "badge " + status, text: status }));
    }
    setAttr(statusCell, "title", s.health ? `state: ${s.state || "?"}, health: ${s.health}` : `state: ${s.state || "?"}`);

    const weight = num(s.weight), initial = s.initial_weight;
    setText(field(row, "weight"), typeof initial === "number" && initial !== weight ? `${weight} / ${initial}` : String(weight));
    setAttr(field(row, "weight"), "title", typeof initial === "number" ? `configured weight: ${initial}` : "");
    setText(field(row, "active"), s.active === false ? "no" : s.active === true ? "yes" : "—");
    setAttr(field(row, "active"), "title", "in the current schedule (takes new sessions)");

    setText(field(row, "current"), int(num(s.current_connections)));
    setText(field(row, "total"), int(num(s.total_connections)));
    setText(field(row, "rate"), rate(r.sessions));
    withSub(field(row, "in"), bytes(num(s.bytes_in)), byteRate(r.bytesIn));
    withSub(field(row, "out"), bytes(num(s.bytes_out)), byteRate(r.bytesOut));
    const cerr = num(s.connect_errors);
    setText(field(row, "connect_errors"), int(cerr));
    field(row, "connect_errors").classList.toggle("err", cerr > 0);
    setText(field(row, "retries"), int(num(s.retries)));

    const change = field(row, "last_change");
    if (typeof s.last_change === "number" && s.last_change > 0) {
      const downs = typeof s.down_transitions === "number" ? `, went down ${s.down_transitions}×` : "";
      setText(change, ago(s.last_change));
      setAttr(change, "title", clock(s.last_change) + downs);
    } else {
      setText(change, "—");
      setAttr(change, "title", "");
    }

    const checkCell = field(row, "check");
    const check = s.check;
    let text = "—", cls = "", title = "no health check";
    if (check && typeof check === "object") {
      const cs = String(check.status || "pending");
      cls = "check-" + cs;
      text = cs;
      if (cs === "ok" && Number.isFinite(check.duration_seconds)) text += " · " + ms(check.duration_seconds) + " ms";
      if (cs === "failed" && check.last_error) text += " · " + String(check.last_error);
      const when = typeof check.checked_at === "number" && check.checked_at > 0 ? `, ${ago(check.checked_at)}` : "";
      title = `${check.type || "check"}: ${cs}${when}` + (check.last_error ? ` — ${check.last_error}` : "") +
        ` (${num(check.consecutive_successes)} ok / ${num(check.consecutive_failures)} failed in a row)`;
    }
    const checkKey = cls + "\u0000" + text;
    if (checkCell.dataset.v !== checkKey) {
      checkCell.dataset.v = checkKey;
      checkCell.replaceChildren(cls ? h("span", { class: cls, text }) : text);
    }
    setAttr(checkCell, "title", title);

    const ct = hist(s.connect_time), st = hist(s.session_time);
    setText(field(row, "connect_p50"), ct ? ms(num(ct.p50)) : "—");
    setText(field(row, "connect_p99"), ct ? ms(num(ct.p99)) : "—");
    setText(field(row, "session_p50"), st ? ms(num(st.p50)) : "—");
    setText(field(row, "session_p99"), st ? ms(num(st.p99)) : "—");
    const pct = (x) => (x ? `p50 ${ms(num(x.p50))}, p90 ${ms(num(x.p90))}, p99 ${ms(num(x.p99))}, p99.9 ${ms(num(x.p999))} ms (${int(num(x.count))} samples)` : "no samples yet");
    setAttr(field(row, "connect_p99"), "title", pct(ct));
    setAttr(field(row, "session_p99"), "title", pct(st));

    const http = s.http;
    setText(field(row, "http_rate"), http ? rate(r.requests) : "—");
    if (http) renderResponses(row, http);
    else for (const c of RESPONSE_CLASSES) setText(field(row, "http_" + c), "—");
    setText(field(row, "http_idle"), http ? int(num(http.idle_connections)) : "—");
    const rt = http ? hist(http.response_time) : null;
    setAttr(field(row, "http_rate"), "title", rt ? "response time " + pct(rt) : "");
  }

  function renderBackends() {
    const box = $("backends");
    const bes = state.data.backends || {};
    const names = Object.keys(bes);
    if (!names.length) { box.replaceChildren(h("p", { class: "empty", text: "No backends configured." })); return; }
    syncChildren(box, names, makeBackend);
    for (const panel of box.children) {
      const bname = panel.dataset.key, be = bes[bname];
      const servers = be.servers || {};
      // Primary servers first, then the backups (each in the API's order).
      const snames = Object.keys(servers).sort((a, b) => Number(!!servers[a].backup) - Number(!!servers[b].backup));
      const up = snames.filter((n) => serverStatus(servers[n]) === "UP").length;
      const br = state.rates.backends[bname] || {};
      const facts = [
        ["servers up", `${up}/${snames.length}`, "up"],
        ["current", int(num(be.current_connections)), "current"],
        ["total", int(num(be.total_connections)), "total"],
        ["sessions/s", rate(br.sessions), "rate"],
        ["connect errors", int(num(be.connect_errors)), "connect_errors"],
        ["retries", int(num(be.retries)), "retries"],
        ["no server", int(num(be.no_server_errors)), "no_server"],
      ];
      const http = be.http;
      if (http) {
        const hits = num(http.pool_hits), pooled = hits + num(http.pool_misses);
        facts.push(["requests/s", rate(br.requests), "http_rate"],
          ["pool hits", pooled ? `${Math.round((100 * hits) / pooled)}%` : "—", "pool_hits"]);
      }
      const factsNode = field(panel, "facts");
      const factsKey = JSON.stringify(facts);
      if (factsNode.dataset.v !== factsKey) {
        factsNode.dataset.v = factsKey;
        factsNode.replaceChildren(...facts.map(([label, value, key]) =>
          h("span", { "data-field": key }, h("b", { text: value }), " " + label)));
      }
      const tbody = panel.querySelector("tbody");
      syncChildren(tbody, snames.map((s) => serverKey(bname, s)), makeServerRow);
      for (const row of tbody.children) {
        const sname = row.dataset.key.slice(bname.length + 1);
        renderServer(row, bname, sname, servers[sname]);
      }
      // After the rows: new ones must be hidden too.
      for (const cell of panel.querySelectorAll(".http-col")) cell.hidden = !http;
    }
  }

  function render() {
    renderHeader();
    if (!state.data) return;
    renderFrontends();
    renderBackends();
    for (const panel of panels) {
      try { panel(state.data); } catch (err) { console.error("dashboard panel failed", err); }
    }
  }

  // ---- polling -------------------------------------------------------------------------
  async function fetchStats() {
    const ctrl = new AbortController();
    const timer = setTimeout(() => ctrl.abort(), TIMEOUT_MS);
    try {
      const res = await fetch(STATS_URL, { cache: "no-store", signal: ctrl.signal, headers: { Accept: "application/json" } });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const data = await res.json();
      if (!data || typeof data !== "object" || typeof data.backends !== "object" || typeof data.frontends !== "object")
        throw new Error("unexpected response");
      return data;
    } catch (err) {
      throw new Error(err && err.name === "AbortError" ? "timed out" : (err && err.message) || "network error");
    } finally {
      clearTimeout(timer);
    }
  }

  async function poll() {
    try {
      const data = await fetchStats();
      ingest(data);
      state.lastOk = Date.now();
      state.failing = false;
      state.error = "";
    } catch (err) {
      state.failing = true;
      state.error = err.message;
    }
    try { render(); } catch (err) { console.error("dashboard render failed", err); }
    setTimeout(poll, POLL_MS);
  }

  poll();
})();
