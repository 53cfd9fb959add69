// The scale-out panel: BGP state, announced prefixes, speaker, peers (with BFD), MED and
// recent announcements and withdrawals (/api/stats `bgp`, present with a `bgp:` section).
"use strict";
(() => {
  const d = window.fastlbDashboard;
  if (!d) return;
  const { h, setText, syncChildren, field, ago, int, num } = d;
  const $ = (id) => document.getElementById(id);

  function renderBgp(data) {
    const box = $("bgp"), b = data.bgp;
    box.hidden = !b;
    if (!b) return;
    const stateNode = field(box, "state");
    setText(stateNode, String(b.state || "").toUpperCase() + (b.health_reason ? ` — ${b.health_reason}` : ""));
    stateNode.className = "bgp-" + b.state;
    setText(field(box, "prefixes"), (b.virtual_ips || []).join(", "));
    setText(field(box, "speaker"), `${b.speaker}, AS ${b.local_as} from ${b.local_address}${b.bfd ? ", BFD" : ""}`);
    setText(field(box, "peers"), (b.peers || []).map((p) => `${p.address} (AS ${p.as}) ${p.state}` + (p.bfd ? `, BFD ${p.bfd}` : "")).join(", ") || "—");
    setText(field(box, "med"), b.announced_med === null || b.announced_med === undefined ? "—" : String(b.announced_med));
    setText(field(box, "withdrawals"), int(num(b.withdrawals)));
    const history = (b.history || []).slice(0, 5);
    setText(field(box, "last"), history.length ? ago(history[0].at) : "—");
    syncChildren(field(box, "history"), history.map((e) => `${e.at}/${e.action}`), (key) => {
      const e = history.find((x) => `${x.at}/${x.action}` === key);
      return h("li", { text: `${new Date(e.at * 1000).toLocaleTimeString()} ${e.action}: ${e.reason}` });
    });
  }

  d.addPanel(renderBgp);
})();
