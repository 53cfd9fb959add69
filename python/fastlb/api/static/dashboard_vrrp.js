// The VRRP panel: this node's state, virtual IPs, priority, master and recent transitions
// (/api/stats `failover`, present when the config has a `failover:` section).
"use strict";
(() => {
  const d = window.fastlbDashboard;
  if (!d) return;
  const { h, setText, syncChildren, field, ago, int, num } = d;
  const $ = (id) => document.getElementById(id);

  function renderFailover(data) {
    const box = $("failover"), f = data.failover;
    box.hidden = !f;
    if (!f) return;
    const stateNode = field(box, "state");
    setText(stateNode, String(f.state || "").toUpperCase() + (f.health_reason ? ` — ${f.health_reason}` : ""));
    stateNode.className = "vrrp-" + f.state;
    setText(field(box, "vips"), (f.virtual_ips || []).join(", ") + (f.holds_virtual_ips ? " (held here)" : ""));
    setText(field(box, "router"), `vrid ${f.vrid} on ${f.interface}, adverts every ${num(f.advert_interval)}s`);
    setText(field(box, "priority"), f.effective_priority === f.priority ? String(f.priority) : `${f.effective_priority} (of ${f.priority})`);
    setText(field(box, "master"), f.master || "—");
    setText(field(box, "transitions"), int(num(f.transitions)));
    setText(field(box, "last"), f.last_transition ? ago(f.last_transition) : "—");
    const history = (f.history || []).slice(0, 5);
    syncChildren(field(box, "history"), history.map((t) => `${t.at}/${t.to}`), (key) => {
      const t = history.find((x) => `${x.at}/${x.to}` === key);
      return h("li", { text: `${new Date(t.at * 1000).toLocaleTimeString()} ${t.from} → ${t.to}: ${t.reason}` });
    });
  }

  d.addPanel(renderFailover);
})();
