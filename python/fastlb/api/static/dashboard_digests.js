// The MySQL query digests table: the top statements by time of each `mode: mysql` frontend,
// fetched by a request of its own every DIGESTS_EVERY polls (GET /api/mysql/digests).
"use strict";
(() => {
  const d = window.fastlbDashboard;
  if (!d) return;
  const { h, int, num, ms } = d;
  const $ = (id) => document.getElementById(id);
  const DIGESTS_URL = "api/mysql/digests?sort=time&limit=15";
  const DIGESTS_EVERY = 5;  // polls: digests change slowly and copying them costs more

  let digestPolls = 0;
  async function pollDigests(data) {
    if (digestPolls++ % DIGESTS_EVERY !== 0) return;
    const frontends = data.frontends;
    if (!frontends || !Object.values(frontends).some((f) => f && f.mode === "mysql")) return;
    try {
      const res = await fetch(DIGESTS_URL, { cache: "no-store", headers: { Accept: "application/json" } });
      if (res.ok) renderDigests(await res.json());
    } catch (err) {
      console.error("digests fetch failed", err);
    }
  }
  function renderDigests(report) {
    const body = $("digests").querySelector("tbody");
    const rows = [];
    for (const [name, f] of Object.entries((report && report.frontends) || {})) {
      for (const d of f.digests || []) {
        rows.push(h("tr", null,
          h("th", { scope: "row", text: name }),
          h("td", { class: "l stmt", text: d.text, title: d.digest }),
          h("td", { text: int(d.calls) }), h("td", { text: int(d.errors) }),
          h("td", { text: int(d.rows_sent) }), h("td", { text: num(d.total_seconds).toFixed(3) }),
          h("td", { text: ms(d.mean_seconds) }), h("td", { text: ms(d.p99_seconds) }),
          h("td", { text: int(d.calls_primary) }), h("td", { text: int(d.calls_replica) })));
      }
    }
    body.replaceChildren(...rows);
    $("digests-section").hidden = rows.length === 0;
  }

  d.addPanel((data) => { pollDigests(data); });
})();
