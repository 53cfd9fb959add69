"""Writes packaging/grafana/fastlb.json, the Grafana dashboard of fastlb's Prometheus metrics.

Run `python packaging/grafana/build_dashboard.py` after an edit; tests/test_grafana.py checks
that the JSON is this script's output and that every metric its queries use is exported.
Panels are generated rather than hand-edited so that the queries stay uniform (the same
`instance` filter and rate window everywhere) and reviewable in one place.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

OUTPUT = Path(__file__).with_name("fastlb.json")
DATASOURCE = {"type": "prometheus", "uid": "${datasource}"}
INSTANCE = 'instance=~"$instance"'
RATE = "$__rate_interval"
WIDTH = 24


Query = tuple[str, str]  # (PromQL, legend)


class Layout:
    """Places panels left to right in rows of WIDTH grid units, and numbers them."""

    def __init__(self) -> None:
        self.panels: list[dict[str, Any]] = []
        self._x = 0
        self._y = 0
        self._row_height = 0

    def row(self, title: str) -> None:
        self._newline()
        self.panels.append(
            {
                "type": "row",
                "title": title,
                "collapsed": False,
                "gridPos": {"h": 1, "w": WIDTH, "x": 0, "y": self._y},
                "id": len(self.panels) + 1,
                "panels": [],
            }
        )
        self._y += 1

    def add(self, panel: dict[str, Any], width: int = 8, height: int = 8) -> None:
        if self._x + width > WIDTH:
            self._newline()
        panel["gridPos"] = {"h": height, "w": width, "x": self._x, "y": self._y}
        panel["id"] = len(self.panels) + 1
        self.panels.append(panel)
        self._x += width
        self._row_height = max(self._row_height, height)

    def series(
        self, title: str, unit: str, queries: list[Query], description: str = "", width: int = 8
    ) -> None:
        """A time series panel of `queries`."""
        self.add(
            panel("timeseries", title, queries, description)
            | {
                "fieldConfig": {
                    "defaults": {
                        "unit": unit,
                        "custom": {"fillOpacity": 10, "showPoints": "never"},
                    },
                    "overrides": [],
                },
                "options": {
                    "legend": {
                        "displayMode": "table",
                        "placement": "bottom",
                        "calcs": ["lastNotNull"],
                    },
                    "tooltip": {"mode": "multi", "sort": "desc"},
                },
            },
            width,
        )

    def stat(
        self, title: str, query: Query, unit: str = "short", alert_at: int | None = None
    ) -> None:
        """A single-value panel; red from `alert_at` on. A legend shows the series' names."""
        steps: list[dict[str, Any]] = [{"color": "green", "value": None}]
        if alert_at is not None:
            steps.append({"color": "red", "value": alert_at})
        by_name = bool(query[1])
        self.add(
            panel("stat", title, [query])
            | {
                "fieldConfig": {
                    "defaults": {"unit": unit, "thresholds": {"mode": "absolute", "steps": steps}},
                    "overrides": [],
                },
                "options": {
                    "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                    "colorMode": "none" if by_name else "background",
                    "graphMode": "none",
                    "textMode": "name" if by_name else "auto",
                },
            },
            4,
            4,
        )

    def table(self, title: str, expr: str, description: str = "") -> None:
        """An instant query as a table of its label values (the value column hidden)."""
        query = panel("table", title, [(expr, "")], description)
        query["targets"][0].update(instant=True, range=False, format="table")
        hidden = dict.fromkeys(["Time", "__name__", "job", "Value"], True)
        query["transformations"] = [{"id": "organize", "options": {"excludeByName": hidden}}]
        query["options"] = {"showHeader": True}
        self.add(query)

    def _newline(self) -> None:
        self._y += self._row_height
        self._x = 0
        self._row_height = 0


def panel(kind: str, title: str, queries: list[Query], description: str = "") -> dict[str, Any]:
    targets = [
        {"datasource": DATASOURCE, "expr": expr, "legendFormat": legend or "__auto", "refId": ref}
        for (expr, legend), ref in zip(queries, "ABCDEFGHIJKLMNOP", strict=False)
    ]
    return {
        "type": kind,
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {"defaults": {}, "overrides": []},
    }


def selector(metric: str, labels: str = "") -> str:
    return f"{metric}{{{INSTANCE}, {labels}}}" if labels else f"{metric}{{{INSTANCE}}}"


def rate(metric: str, by: str, labels: str = "") -> str:
    return f"sum by ({by}) (rate({selector(metric, labels)}[{RATE}]))"


def quantile(q: float, metric: str, by: str, labels: str = "") -> str:
    buckets = selector(f"{metric}_bucket", labels)
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({buckets}[{RATE}])))"


FRONTEND = 'proxy=~"$frontend"'
BACKEND = 'proxy=~"$backend"'
HTTP_FRONTEND = 'frontend=~"$frontend"'
HTTP_BACKEND = 'backend=~"$backend"'
SERVER = "{{proxy}}/{{server}}"


def overview(layout: Layout) -> None:
    layout.row("Overview")
    layout.stat("Client connections", (f"sum({selector('fastlb_current_connections')})", ""))
    layout.stat(
        "New connections",
        (f"sum(rate({selector('fastlb_frontend_sessions_total')}[{RATE}]))", ""),
        "cps",
    )
    throughput = " + ".join(
        f"sum(rate({selector(f'fastlb_frontend_bytes_{way}_total')}[{RATE}]))"
        for way in ("in", "out")
    )
    layout.stat("Throughput", (throughput, ""), "Bps")
    up = selector("fastlb_server_status", 'state="UP"')
    down = selector("fastlb_server_status", 'state="DOWN"')
    layout.stat("Servers UP", (f"sum({up})", ""))
    layout.stat("Servers DOWN", (f"sum({down})", ""), alert_at=1)
    vrrp_state = (f"{selector('fastlb_vrrp_state')} == 1", "{{instance}} vrid {{vrid}}: {{state}}")
    layout.stat("VRRP state", vrrp_state)


def frontends(layout: Layout) -> None:
    layout.row("Frontends")
    layout.series(
        "New connections by frontend",
        "cps",
        [(rate("fastlb_frontend_sessions_total", "proxy", FRONTEND), "{{proxy}}")],
    )
    current = selector("fastlb_frontend_current_sessions", FRONTEND)
    layout.series(
        "Open connections by frontend",
        "short",
        [
            (f"sum by (proxy) ({current})", "{{proxy}}"),
            (f"sum({selector('fastlb_max_connections')})", "global max_connections"),
        ],
    )
    layout.series(
        "Bytes by frontend (in +, out -)",
        "Bps",
        [
            (rate("fastlb_frontend_bytes_in_total", "proxy", FRONTEND), "{{proxy}} in"),
            ("-" + rate("fastlb_frontend_bytes_out_total", "proxy", FRONTEND), "{{proxy}} out"),
        ],
    )
    layout.series(
        "Refused connections by reason",
        "cps",
        [
            (
                rate("fastlb_frontend_refused_connections_total", "proxy, reason", FRONTEND),
                "{{proxy}} {{reason}}",
            )
        ],
        "acl / source limits (firewall), max_connections, untrusted PROXY headers",
    )
    errors = [
        (rate(f"fastlb_frontend_{name}_total", "proxy", FRONTEND), f"{{{{proxy}}}} {legend}")
        for name, legend in (
            ("resource_errors", "resource"),
            ("tls_handshake_failures", "TLS failed"),
            ("tls_handshake_timeouts", "TLS timeout"),
        )
    ]
    pauses = f"sum(rate({selector('fastlb_accept_pauses_total')}[{RATE}]))"
    layout.series("Frontend errors", "ops", [*errors, (pauses, "accept paused (global max)")])


def servers(layout: Layout) -> None:
    layout.row("Backends and servers")
    layout.table(
        "Server status",
        f"{selector('fastlb_server_status', BACKEND)} == 1",
        "UP / DOWN (checks or live traffic) / DRAIN / MAINT (operator)",
    )
    layout.series("Server weight", "short", [(selector("fastlb_server_weight", BACKEND), SERVER)])
    layout.series(
        "Health check result (1 ok, 0 failed)",
        "short",
        [(selector("fastlb_server_check_status", BACKEND), SERVER)],
    )
    layout.series(
        "New connections by server",
        "cps",
        [(rate("fastlb_server_sessions_total", "proxy, server", BACKEND), SERVER)],
    )
    layout.series(
        "Open connections by server",
        "short",
        [(selector("fastlb_server_current_sessions", BACKEND), SERVER)],
    )
    layout.series(
        "Bytes by server (to +, from -)",
        "Bps",
        [
            (rate("fastlb_server_bytes_in_total", "proxy, server", BACKEND), f"{SERVER} to"),
            (
                "-" + rate("fastlb_server_bytes_out_total", "proxy, server", BACKEND),
                f"{SERVER} from",
            ),
        ],
    )
    layout.series(
        "Connect errors and retries",
        "ops",
        [
            (
                rate("fastlb_server_connection_errors_total", "proxy, server", BACKEND),
                f"{SERVER} errors",
            ),
            (rate("fastlb_server_retries_total", "proxy, server", BACKEND), f"{SERVER} retried"),
        ],
    )
    went_down = selector("fastlb_server_down_transitions_total", BACKEND)
    layout.series(
        "Went DOWN",
        "short",
        [(f"sum by (proxy, server) (increase({went_down}[{RATE}]))", SERVER)],
    )
    layout.series(
        "Seconds since last status change",
        "s",
        [(selector("fastlb_server_last_change_seconds", BACKEND), SERVER)],
    )


def latency(layout: Layout) -> None:
    layout.row("Latency")
    for title, metric in (
        ("Connect time", "fastlb_server_connect_time_seconds"),
        ("Session duration", "fastlb_server_session_time_seconds"),
    ):
        layout.series(
            f"{title} by backend (p50, p99)",
            "s",
            [
                (quantile(q, metric, "proxy", BACKEND), f"{{{{proxy}}}} p{round(q * 100)}")
                for q in (0.5, 0.99)
            ],
        )
    buckets = selector("fastlb_server_connect_time_seconds_bucket", BACKEND)
    heatmap = panel(
        "heatmap",
        "Connect time distribution",
        [(f"sum by (le) (increase({buckets}[{RATE}]))", "{{le}}")],
    )
    heatmap["targets"][0]["format"] = "heatmap"
    heatmap["options"] = {"calculate": False, "yAxis": {"unit": "s"}}
    layout.add(heatmap)


def http(layout: Layout) -> None:
    layout.row("HTTP (mode: http)")
    layout.series(
        "Requests by frontend",
        "reqps",
        [(rate("fastlb_http_requests_total", "frontend", HTTP_FRONTEND), "{{frontend}}")],
    )
    layout.series(
        "Responses to clients by class",
        "reqps",
        [(rate("fastlb_http_responses_total", "code", HTTP_FRONTEND), "{{code}}")],
    )
    by_server = f'{HTTP_BACKEND}, server!=""'
    errors = rate("fastlb_http_responses_total", "backend, server", f'{by_server}, code="5xx"')
    every = rate("fastlb_http_responses_total", "backend, server", by_server)
    layout.series(
        "Server 5xx ratio", "percentunit", [(f"{errors} / {every}", "{{backend}}/{{server}}")]
    )
    layout.series(
        "Request time Ta (p50, p99)",
        "s",
        [
            (
                quantile(q, "fastlb_http_request_duration_seconds", "frontend", HTTP_FRONTEND),
                f"{{{{frontend}}}} p{round(q * 100)}",
            )
            for q in (0.5, 0.99)
        ],
    )
    layout.series(
        "Server response time Tr (p99)",
        "s",
        [
            (
                quantile(
                    0.99, "fastlb_http_response_duration_seconds", "backend, server", by_server
                ),
                "{{backend}}/{{server}}",
            )
        ],
    )
    hits = rate("fastlb_http_pool_hits_total", "backend", HTTP_BACKEND)
    misses = rate("fastlb_http_pool_misses_total", "backend", HTTP_BACKEND)
    layout.series(
        "Connection pool hit ratio",
        "percentunit",
        [(f"{hits} / ({hits} + {misses})", "{{backend}}")],
        "Requests sent over an idle kept-alive server connection",
    )
    idle = selector("fastlb_http_idle_server_connections", HTTP_BACKEND)
    layout.series(
        "Idle server connections", "short", [(f"sum by (backend) ({idle})", "{{backend}}")]
    )
    events = [
        (rate(f"fastlb_http_{name}_total", "frontend", HTTP_FRONTEND), f"{{{{frontend}}}} {legend}")
        for name, legend in (
            ("bad_requests", "bad request"),
            ("request_timeouts", "request timeout"),
            ("redirects", "redirect"),
            ("websocket_upgrades", "websocket"),
            ("h2_connections", "h2 connection"),
            ("access_log_dropped", "access log dropped"),
        )
    ]
    retried = (
        rate("fastlb_http_retried_requests_total", "backend", HTTP_BACKEND),
        "{{backend}} retried",
    )
    layout.series("Client errors and events", "ops", [*events, retried])


def mysql(layout: Layout) -> None:
    layout.row("MySQL (mode: mysql)")
    layout.series(
        "Statements by route",
        "ops",
        [(rate("fastlb_mysql_queries_total", "proxy, route", FRONTEND), "{{proxy}} {{route}}")],
    )
    replica = rate("fastlb_mysql_queries_total", "proxy", f'{FRONTEND}, route="replica"')
    every = rate("fastlb_mysql_queries_total", "proxy", FRONTEND)
    layout.series(
        "Share of statements on replicas", "percentunit", [(f"{replica} / {every}", "{{proxy}}")]
    )
    pinned = selector("fastlb_mysql_pinned_sessions", FRONTEND)
    layout.series(
        "Sessions",
        "short",
        [
            (rate("fastlb_mysql_sessions_total", "proxy", FRONTEND), "{{proxy}} logins/s"),
            (rate("fastlb_mysql_tls_sessions_total", "proxy", FRONTEND), "{{proxy}} TLS/s"),
            (f"sum by (proxy) ({pinned})", "{{proxy}} pinned to primary"),
        ],
    )
    layout.series(
        "Routing fallbacks and errors",
        "ops",
        [
            (rate(f"fastlb_mysql_{name}_total", "proxy", FRONTEND), f"{{{{proxy}}}} {legend}")
            for name, legend in (
                ("reads_on_primary", "read on primary"),
                ("causal_waits", "causal wait"),
                ("causal_timeouts", "causal timeout"),
                ("no_primary_errors", "no primary"),
                ("auth_failures", "auth failure"),
                ("protocol_errors", "protocol error"),
                ("server_errors", "server lost"),
            )
        ],
    )
    layout.table(
        "Server roles",
        f"{selector('fastlb_mysql_server_role')} == 1",
        "The topology monitor's view: primary or replica",
    )
    layout.series(
        "Replication lag", "s", [(selector("fastlb_mysql_replication_lag_seconds"), SERVER)]
    )
    layout.series(
        "Replicas in the read pool",
        "short",
        [(selector("fastlb_mysql_server_in_read_pool"), SERVER)],
    )
    layout.series(
        "Statements by server",
        "ops",
        [(rate("fastlb_mysql_server_queries_total", "proxy, server"), SERVER)],
    )


def vrrp(layout: Layout) -> None:
    layout.row("Failover (VRRP)")
    master = selector("fastlb_vrrp_state", 'state="master"')
    backup = selector("fastlb_vrrp_state", 'state="backup"')
    timeline = panel(
        "state-timeline",
        "VRRP state",
        [
            (
                f"max by (instance, vrid) ({master}) * 2 + max by (instance, vrid) ({backup})",
                "{{instance}} vrid {{vrid}}",
            )
        ],
    )
    states = {"0": ("INIT/FAULT", "red"), "1": ("BACKUP", "blue"), "2": ("MASTER", "green")}
    mapping = {value: {"text": text, "color": color} for value, (text, color) in states.items()}
    timeline["fieldConfig"]["defaults"]["mappings"] = [{"type": "value", "options": mapping}]
    layout.add(timeline)
    layout.series(
        "Priority and virtual IPs",
        "short",
        [
            (selector("fastlb_vrrp_priority"), "{{instance}} configured"),
            (selector("fastlb_vrrp_effective_priority"), "{{instance}} advertised"),
            (selector("fastlb_vrrp_virtual_ips_held"), "{{instance}} holds VIPs"),
        ],
    )
    layout.series(
        "Adverts and transitions",
        "ops",
        [
            (rate(f"fastlb_vrrp_{name}_total", "instance"), f"{{{{instance}}}} {legend}")
            for name, legend in (
                ("adverts_sent", "sent"),
                ("adverts_received", "received"),
                ("invalid_adverts", "invalid"),
                ("send_errors", "send error"),
                ("transitions", "transition"),
                ("master_transitions", "became master"),
            )
        ],
    )


def variable(name: str, label: str, query: str) -> dict[str, Any]:
    return {
        "name": name,
        "label": label,
        "type": "query",
        "datasource": DATASOURCE,
        "query": {"query": query, "refId": f"{name}-query"},
        "definition": query,
        "refresh": 2,
        "multi": True,
        "includeAll": True,
        "allValue": ".*",
        "current": {"selected": True, "text": ["All"], "value": ["$__all"]},
        "sort": 1,
    }


def dashboard() -> dict[str, Any]:
    layout = Layout()
    for section in (overview, frontends, servers, latency, http, mysql, vrrp):
        section(layout)
    return {
        "title": "fastlb",
        "uid": "fastlb-overview",
        "description": "fastlb's Prometheus metrics (GET /metrics on the API): traffic, servers, "
        "latency, HTTP, MySQL routing and VRRP failover",
        "tags": ["fastlb", "load balancer"],
        "editable": True,
        "graphTooltip": 1,
        "refresh": "10s",
        "schemaVersion": 39,
        "time": {"from": "now-1h", "to": "now"},
        "timezone": "",
        "version": 1,
        "templating": {
            "list": [
                {
                    "name": "datasource",
                    "label": "Data source",
                    "type": "datasource",
                    "query": "prometheus",
                    "current": {},
                },
                variable(
                    "instance", "Instance", "label_values(fastlb_frontend_sessions_total, instance)"
                ),
                variable(
                    "frontend",
                    "Frontend",
                    'label_values(fastlb_frontend_sessions_total{instance=~"$instance"}, proxy)',
                ),
                variable(
                    "backend",
                    "Backend",
                    'label_values(fastlb_server_sessions_total{instance=~"$instance"}, proxy)',
                ),
            ]
        },
        "panels": layout.panels,
        "annotations": {"list": []},
    }


def render() -> str:
    """The dashboard as the committed file holds it."""
    return json.dumps(dashboard(), indent=2) + "\n"


if __name__ == "__main__":
    OUTPUT.write_text(render(), encoding="utf-8")
    print(f"wrote {OUTPUT}", file=sys.stderr)
