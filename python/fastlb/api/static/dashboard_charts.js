// The charts: sessions/s and p99 latency per server over the last windowSeconds, drawn on
// canvases from the main script's history of snapshots, with their legend.
"use strict";
(() => {
  const d = window.fastlbDashboard;
  if (!d) return;
  const { h, setText, syncChildren, int, color, serverKey } = d;
  const $ = (id) => document.getElementById(id);
  const WINDOW_S = d.windowSeconds;
  const GAP_S = 3.5;  // no data for longer than this: the chart lines break

  function seriesKeys() {
    const keys = [];
    for (const [bname, be] of Object.entries((d.state.data && d.state.data.backends) || {})) {
      const servers = be.servers || {};
      const names = Object.keys(servers);
      for (const sname of names) if (!servers[sname].backup) keys.push(serverKey(bname, sname));
      for (const sname of names) if (servers[sname].backup) keys.push(serverKey(bname, sname));
    }
    return keys;
  }

  // A round step (1, 2 or 5 x 10^n) that covers `v` in at most 4 steps.
  function niceStep(v) {
    if (!(v > 0)) return 1;
    const raw = v / 4, p = Math.pow(10, Math.floor(Math.log10(raw)));
    for (const m of [1, 2, 5, 10]) if (m * p >= raw * 0.9999) return m * p;
    return 10 * p;
  }
  const tickLabel = (v) => (v >= 100 ? int(v) : Number(v.toPrecision(3)).toString());

  function drawChart(canvas, metric, summaryId, unit) {
    const width = canvas.clientWidth, height = canvas.clientHeight;
    if (!width || !height) return;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(width * dpr) || canvas.height !== Math.round(height * dpr)) {
      canvas.width = Math.round(width * dpr);
      canvas.height = Math.round(height * dpr);
    }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, width, height);
    const css = getComputedStyle(document.documentElement);
    const muted = css.getPropertyValue("--muted").trim() || "#888";
    const grid = css.getPropertyValue("--grid").trim() || "#ddd";
    const font = css.getPropertyValue("--sans").trim() || "sans-serif";

    const points = d.state.history;
    const keys = seriesKeys();
    const tEnd = Date.now() / 1000;
    const tStart = tEnd - WINDOW_S;
    let max = 0;
    for (const p of points) for (const v of p[metric].values()) if (v > max) max = v;
    const step = niceStep(max);
    const ticks = max > 0 ? Math.max(1, Math.ceil(max / step - 1e-9)) : 4;
    const top = step * ticks;
    const pad = { l: 46, r: 10, t: 8, b: 20 };
    const plotW = width - pad.l - pad.r, plotH = height - pad.t - pad.b;
    const x = (t) => pad.l + ((t - tStart) / WINDOW_S) * plotW;
    const y = (v) => pad.t + plotH - (v / top) * plotH;

    ctx.font = `11px ${font}`;
    ctx.lineWidth = 1;
    ctx.textBaseline = "middle";
    ctx.textAlign = "right";
    for (let i = 0; i <= ticks; i++) {
      const v = step * i, yy = Math.round(y(v)) + 0.5;
      ctx.strokeStyle = grid;
      ctx.beginPath(); ctx.moveTo(pad.l, yy); ctx.lineTo(width - pad.r, yy); ctx.stroke();
      ctx.fillStyle = muted;
      ctx.fillText(tickLabel(v), pad.l - 6, yy);
    }
    ctx.textBaseline = "top";
    for (let s = 0; s <= WINDOW_S; s += 30) {
      const xx = x(tStart + s);
      ctx.textAlign = s === 0 ? "left" : s === WINDOW_S ? "right" : "center";
      ctx.fillText(s === WINDOW_S ? "now" : `-${WINDOW_S - s}s`, xx, height - pad.b + 5);
    }
    if (!points.some((p) => p[metric].size)) {
      ctx.textAlign = "center"; ctx.textBaseline = "middle";
      ctx.fillText("waiting for data…", pad.l + plotW / 2, pad.t + plotH / 2);
    }

    ctx.save();
    ctx.beginPath(); ctx.rect(pad.l, pad.t - 2, plotW, plotH + 4); ctx.clip();
    ctx.lineWidth = 2; ctx.lineJoin = "round"; ctx.lineCap = "round";
    const latest = [];
    for (const key of keys) {
      ctx.strokeStyle = ctx.fillStyle = color(key);
      ctx.beginPath();
      let pen = false, last = null, run = 0, prevT = -Infinity;
      for (const p of points) {
        const v = p[metric].get(key);
        if (v === undefined || p.t < tStart - GAP_S) { pen = false; run = 0; continue; }
        if (p.t - prevT > GAP_S) { pen = false; run = 0; }
        if (pen) ctx.lineTo(x(p.t), y(v)); else ctx.moveTo(x(p.t), y(v));
        pen = true; run += 1; last = v; prevT = p.t;
      }
      ctx.stroke();
      if (last !== null) {
        const p = points[points.length - 1];
        if (p[metric].has(key) && run === 1) { ctx.beginPath(); ctx.arc(x(p.t), y(last), 2.5, 0, 2 * Math.PI); ctx.fill(); }
        latest.push(`${key} ${tickLabel(last)}${unit}`);
      }
    }
    ctx.restore();
    setText($(summaryId), latest.length ? "Latest values: " + latest.join(", ") + "." : "No data yet.");
  }

  function renderLegend() {
    const legend = $("legend");
    const keys = seriesKeys();
    syncChildren(legend, keys, (key) => {
      const swatch = h("span", { class: "swatch", "aria-hidden": "true" });
      swatch.style.background = color(key);
      return h("li", null, swatch, key);
    });
  }

  function drawCharts() {
    drawChart($("chart-rate"), "rate", "rate-summary", "/s");
    drawChart($("chart-p99"), "p99", "p99-summary", " ms");
  }

  d.addPanel(() => {
    renderLegend();
    drawCharts();
  });
  let resizeTimer = 0;
  window.addEventListener("resize", () => {
    clearTimeout(resizeTimer);
    resizeTimer = setTimeout(() => { if (d.state.data) drawCharts(); }, 100);
  });
})();
