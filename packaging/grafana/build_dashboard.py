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

    def _newline(self) -> None:
        self._y += self._row_height
        self._x = 0
        self._row_height = 0


def target(expr: str, legend: str = "", *, instant: bool = False, ref: str = "A") -> dict[str, Any]:
    query: dict[str, Any] = {
        "datasource": DATASOURCE,
        "expr": expr,
        "legendFormat": legend or "__auto",
        "refId": ref,
    }
    if instant:
        query.update(instant=True, range=False, format="table")
    return query


def timeseries(
    title: str, targets: list[dict[str, Any]], unit: str = "short", description: str = ""
) -> dict[str, Any]:
    for index, query in enumerate(targets):
        query["refId"] = chr(ord("A") + index)
    return {
        "type": "timeseries",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": targets,
        "fieldConfig": {
            "defaults": {"unit": unit, "custom": {"fillOpacity": 10, "showPoints": "never"}},
            "overrides": [],
        },
        "options": {
            "legend": {"displayMode": "table", "placement": "bottom", "calcs": ["lastNotNull"]},
            "tooltip": {"mode": "multi", "sort": "desc"},
        },
    }


def stat(
    title: str,
    expr: str,
    unit: str = "short",
    mappings: list[dict[str, Any]] | None = None,
    thresholds: list[dict[str, Any]] | None = None,
    legend: str = "",
    text_mode: str = "auto",
) -> dict[str, Any]:
    return {
        "type": "stat",
        "title": title,
        "datasource": DATASOURCE,
        "targets": [target(expr, legend)],
        "fieldConfig": {
            "defaults": {
                "unit": unit,
                "mappings": mappings or [],
                "thresholds": {
                    "mode": "absolute",
                    "steps": thresholds or [{"color": "green", "value": None}],
                },
            },
            "overrides": [],
        },
        "options": {
            "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
            "colorMode": "background" if text_mode == "auto" else "none",
            "graphMode": "none",
            "textMode": text_mode,
        },
    }


def table(title: str, expr: str, hide: list[str], description: str = "") -> dict[str, Any]:
    """An instant query as a table, the label columns kept and `hide` left out."""
    excluded = {name: True for name in ["Time", "__name__", "job", *hide]}
    return {
        "type": "table",
        "title": title,
        "description": description,
        "datasource": DATASOURCE,
        "targets": [target(expr, instant=True)],
        "transformations": [{"id": "organize", "options": {"excludeByName": excluded}}],
        "fieldConfig": {"defaults": {}, "overrides": []},
        "options": {"showHeader": True},
    }


def rate(metric: str, by: str, selector: str = "") -> str:
    labels = f"{INSTANCE}, {selector}" if selector else INSTANCE
    return f"sum by ({by}) (rate({metric}{{{labels}}}[{RATE}]))"


def quantile(q: float, metric: str, by: str, selector: str = "") -> str:
    labels = f"{INSTANCE}, {selector}" if selector else INSTANCE
    return f"histogram_quantile({q}, sum by (le, {by}) (rate({metric}_bucket{{{labels}}}[{RATE}])))"


def gauge(metric: str, selector: str = "") -> str:
    labels = f"{INSTANCE}, {selector}" if selector else INSTANCE
    return f"{metric}{{{labels}}}"


def overview(layout: Layout) -> None:
    layout.row("Overview")
    layout.add(stat("Client connections", f"sum({gauge('fastlb_current_connections')})"), 4, 4)
    layout.add(
        stat(
            "New connections",
            f"sum(rate(fastlb_frontend_sessions_total{{{INSTANCE}}}[{RATE}]))",
            unit="cps",
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "Throughput",
            f"sum(rate(fastlb_frontend_bytes_in_total{{{INSTANCE}}}[{RATE}]))"
            f" + sum(rate(fastlb_frontend_bytes_out_total{{{INSTANCE}}}[{RATE}]))",
            unit="Bps",
        ),
        4,
        4,
    )
    layout.add(stat("Servers UP", "sum(" + gauge("fastlb_server_status", 'state="UP"') + ")"), 4, 4)
    layout.add(
        stat(
            "Servers DOWN",
            "sum(" + gauge("fastlb_server_status", 'state="DOWN"') + ")",
            thresholds=[{"color": "green", "value": None}, {"color": "red", "value": 1}],
        ),
        4,
        4,
    )
    layout.add(
        stat(
            "VRRP state",
            f"{gauge('fastlb_vrrp_state')} == 1",
            legend="{{instance}} vrid {{vrid}}: {{state}}",
            text_mode="name",
        ),
        4,
        4,
    )


def frontends(layout: Layout) -> None:
    layout.row("Frontends")
    sel = 'proxy=~"$frontend"'
    layout.add(
        timeseries(
            "New connections by frontend",
            [target(rate("fastlb_frontend_sessions_total", "proxy", sel), "{{proxy}}")],
            "cps",
        )
    )
    layout.add(
        timeseries(
            "Open connections by frontend",
            [
                target(f"sum by (proxy) ({gauge('fastlb_frontend_current_sessions', sel)})"),
                target(f"sum({gauge('fastlb_max_connections')})", "global max_connections"),
            ],
        )
    )
    layout.add(
        timeseries(
            "Bytes by frontend (in +, out -)",
            [
                target(rate("fastlb_frontend_bytes_in_total", "proxy", sel), "{{proxy}} in"),
                target(
                    "-" + rate("fastlb_frontend_bytes_out_total", "proxy", sel), "{{proxy}} out"
                ),
            ],
            "Bps",
        )
    )
    layout.add(
        timeseries(
            "Refused connections by reason",
            [
                target(
                    rate("fastlb_frontend_refused_connections_total", "proxy, reason", sel),
                    "{{proxy}} {{reason}}",
                )
            ],
            "cps",
            "acl / source limits (firewall), max_connections, untrusted PROXY headers",
        )
    )
    layout.add(
        timeseries(
            "Frontend errors",
            [
                target(
                    rate("fastlb_frontend_resource_errors_total", "proxy", sel),
                    "{{proxy}} resource",
                ),
                target(
                    rate("fastlb_frontend_tls_handshake_failures_total", "proxy", sel),
                    "{{proxy}} TLS failed",
                ),
                target(
                    rate("fastlb_frontend_tls_handshake_timeouts_total", "proxy", sel),
                    "{{proxy}} TLS timeout",
                ),
                target(
                    f"sum(rate(fastlb_accept_pauses_total{{{INSTANCE}}}[{RATE}]))",
                    "accept paused (global max)",
                ),
            ],
            "ops",
        )
    )


def servers(layout: Layout) -> None:
    layout.row("Backends and servers")
    sel = 'proxy=~"$backend"'
    layout.add(
        table(
            "Server status",
            f"{gauge('fastlb_server_status', sel)} == 1",
            hide=["Value"],
            description="UP / DOWN (checks or live traffic) / DRAIN / MAINT (operator)",
        ),
        8,
        9,
    )
    layout.add(
        timeseries(
            "Server weight",
            [target(gauge("fastlb_server_weight", sel), "{{proxy}}/{{server}}")],
        ),
        8,
        9,
    )
    layout.add(
        timeseries(
            "Health check result (1 ok, 0 failed)",
            [target(gauge("fastlb_server_check_status", sel), "{{proxy}}/{{server}}")],
        ),
        8,
        9,
    )
    layout.add(
        timeseries(
            "New connections by server",
            [
                target(
                    rate("fastlb_server_sessions_total", "proxy, server", sel),
                    "{{proxy}}/{{server}}",
                )
            ],
            "cps",
        )
    )
    layout.add(
        timeseries(
            "Open connections by server",
            [target(gauge("fastlb_server_current_sessions", sel), "{{proxy}}/{{server}}")],
        )
    )
    layout.add(
        timeseries(
            "Bytes by server (to +, from -)",
            [
                target(
                    rate("fastlb_server_bytes_in_total", "proxy, server", sel),
                    "{{proxy}}/{{server}} to",
                ),
                target(
                    "-" + rate("fastlb_server_bytes_out_total", "proxy, server", sel),
                    "{{proxy}}/{{server}} from",
                ),
            ],
            "Bps",
        )
    )
    layout.add(
        timeseries(
            "Connect errors and retries",
            [
                target(
                    rate("fastlb_server_connection_errors_total", "proxy, server", sel),
                    "{{proxy}}/{{server}} errors",
                ),
                target(
                    rate("fastlb_server_retries_total", "proxy, server", sel),
                    "{{proxy}}/{{server}} retried",
                ),
            ],
            "ops",
        )
    )
    layout.add(
        timeseries(
            "Went DOWN",
            [
                target(
                    f"sum by (proxy, server) (increase(fastlb_server_down_transitions_total"
                    f"{{{INSTANCE}, {sel}}}[{RATE}]))",
                    "{{proxy}}/{{server}}",
                )
            ],
        )
    )
    layout.add(
        timeseries(
            "Seconds since last status change",
            [target(gauge("fastlb_server_last_change_seconds", sel), "{{proxy}}/{{server}}")],
            "s",
        )
    )


def latency(layout: Layout) -> None:
    layout.row("Latency")
    sel = 'proxy=~"$backend"'
    for title, metric in (
        ("Connect time", "fastlb_server_connect_time_seconds"),
        ("Session duration", "fastlb_server_session_time_seconds"),
    ):
        layout.add(
            timeseries(
                f"{title} by backend (p50, p99)",
                [
                    target(quantile(0.5, metric, "proxy", sel), "{{proxy}} p50"),
                    target(quantile(0.99, metric, "proxy", sel), "{{proxy}} p99"),
                ],
                "s",
            )
        )
    layout.add(
        {
            "type": "heatmap",
            "title": "Connect time distribution",
            "datasource": DATASOURCE,
            "targets": [
                target(
                    "sum by (le) (increase(fastlb_server_connect_time_seconds_bucket"
                    f"{{{INSTANCE}, {sel}}}[{RATE}]))",
                    "{{le}}",
                )
                | {"format": "heatmap"}
            ],
            "options": {"calculate": False, "yAxis": {"unit": "s"}},
            "fieldConfig": {"defaults": {}, "overrides": []},
        }
    )


def http(layout: Layout) -> None:
    layout.row("HTTP (mode: http)")
    front = f'frontend=~"$frontend", {INSTANCE}'
    back = f'backend=~"$backend", {INSTANCE}'
    layout.add(
        timeseries(
            "Requests by frontend",
            [
                target(
                    f"sum by (frontend) (rate(fastlb_http_requests_total{{{front}}}[{RATE}]))",
                    "{{frontend}}",
                )
            ],
            "reqps",
        )
    )
    layout.add(
        timeseries(
            "Responses to clients by class",
            [
                target(
                    f"sum by (code) (rate(fastlb_http_responses_total{{{front}}}[{RATE}]))",
                    "{{code}}",
                )
            ],
            "reqps",
        )
    )
    layout.add(
        timeseries(
            "Server 5xx ratio",
            [
                target(
                    "sum by (backend, server) (rate(fastlb_http_responses_total"
                    f'{{{back}, server!="", code="5xx"}}[{RATE}]))'
                    " / sum by (backend, server) (rate(fastlb_http_responses_total"
                    f'{{{back}, server!=""}}[{RATE}]))',
                    "{{backend}}/{{server}}",
                )
            ],
            "percentunit",
        )
    )
    layout.add(
        timeseries(
            "Request time Ta (p50, p99)",
            [
                target(
                    quantile(
                        0.5,
                        "fastlb_http_request_duration_seconds",
                        "frontend",
                        'frontend=~"$frontend"',
                    ),
                    "{{frontend}} p50",
                ),
                target(
                    quantile(
                        0.99,
                        "fastlb_http_request_duration_seconds",
                        "frontend",
                        'frontend=~"$frontend"',
                    ),
                    "{{frontend}} p99",
                ),
            ],
            "s",
        )
    )
    layout.add(
        timeseries(
            "Server response time Tr (p99)",
            [
                target(
                    quantile(
                        0.99,
                        "fastlb_http_response_duration_seconds",
                        "backend, server",
                        'backend=~"$backend", server!=""',
                    ),
                    "{{backend}}/{{server}}",
                )
            ],
            "s",
        )
    )
    layout.add(
        timeseries(
            "Connection pool",
            [
                target(
                    f"sum by (backend) (rate(fastlb_http_pool_hits_total{{{back}}}[{RATE}]))"
                    f" / (sum by (backend) (rate(fastlb_http_pool_hits_total{{{back}}}[{RATE}]))"
                    " + sum by (backend) (rate(fastlb_http_pool_misses_total"
                    f"{{{back}}}[{RATE}])))",
                    "{{backend}} hit ratio",
                ),
            ],
            "percentunit",
            "Requests sent over an idle kept-alive server connection",
        )
    )
    layout.add(
        timeseries(
            "Idle server connections",
            [
                target(
                    f"sum by (backend) (fastlb_http_idle_server_connections{{{back}}})",
                    "{{backend}}",
                )
            ],
        )
    )
    layout.add(
        timeseries(
            "Client errors and events",
            [
                target(
                    rate(f"fastlb_http_{name}_total", "frontend", 'frontend=~"$frontend"'), legend
                )
                for name, legend in (
                    ("bad_requests", "{{frontend}} bad request"),
                    ("request_timeouts", "{{frontend}} request timeout"),
                    ("redirects", "{{frontend}} redirect"),
                    ("websocket_upgrades", "{{frontend}} websocket"),
                    ("h2_connections", "{{frontend}} h2 connection"),
                    ("access_log_dropped", "{{frontend}} access log dropped"),
                )
            ]
            + [
                target(
                    "sum by (backend) (rate(fastlb_http_retried_requests_total"
                    f"{{{back}}}[{RATE}]))",
                    "{{backend}} retried",
                )
            ],
            "ops",
        )
    )


def mysql(layout: Layout) -> None:
    layout.row("MySQL (mode: mysql)")
    sel = 'proxy=~"$frontend"'
    layout.add(
        timeseries(
            "Statements by route",
            [
                target(
                    rate("fastlb_mysql_queries_total", "proxy, route", sel), "{{proxy}} {{route}}"
                )
            ],
            "ops",
        )
    )
    layout.add(
        timeseries(
            "Share of statements on replicas",
            [
                target(
                    rate("fastlb_mysql_queries_total", "proxy", f'{sel}, route="replica"')
                    + " / "
                    + rate("fastlb_mysql_queries_total", "proxy", sel),
                    "{{proxy}}",
                )
            ],
            "percentunit",
        )
    )
    layout.add(
        timeseries(
            "Sessions",
            [
                target(rate("fastlb_mysql_sessions_total", "proxy", sel), "{{proxy}} logins/s"),
                target(rate("fastlb_mysql_tls_sessions_total", "proxy", sel), "{{proxy}} TLS/s"),
                target(
                    f"sum by (proxy) ({gauge('fastlb_mysql_pinned_sessions', sel)})",
                    "{{proxy}} pinned to primary",
                ),
            ],
        )
    )
    layout.add(
        timeseries(
            "Routing fallbacks and errors",
            [
                target(rate(f"fastlb_mysql_{name}_total", "proxy", sel), f"{{{{proxy}}}} {legend}")
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
            "ops",
        )
    )
    layout.add(
        table(
            "Server roles",
            f"{gauge('fastlb_mysql_server_role')} == 1",
            hide=["Value"],
            description="The topology monitor's view: primary or replica",
        )
    )
    layout.add(
        timeseries(
            "Replication lag",
            [target(gauge("fastlb_mysql_replication_lag_seconds"), "{{proxy}}/{{server}}")],
            "s",
        )
    )
    layout.add(
        timeseries(
            "Replicas in the read pool",
            [target(gauge("fastlb_mysql_server_in_read_pool"), "{{proxy}}/{{server}}")],
        )
    )
    layout.add(
        timeseries(
            "Statements by server",
            [
                target(
                    rate("fastlb_mysql_server_queries_total", "proxy, server"),
                    "{{proxy}}/{{server}}",
                )
            ],
            "ops",
        )
    )


def vrrp(layout: Layout) -> None:
    layout.row("Failover (VRRP)")
    layout.add(
        {
            "type": "state-timeline",
            "title": "VRRP state",
            "datasource": DATASOURCE,
            "targets": [
                target(
                    "max by (instance, vrid) ("
                    + gauge("fastlb_vrrp_state", 'state="master"')
                    + ") * 2 + max by (instance, vrid) ("
                    + gauge("fastlb_vrrp_state", 'state="backup"')
                    + ")",
                    "{{instance}} vrid {{vrid}}",
                )
            ],
            "fieldConfig": {
                "defaults": {
                    "mappings": [
                        {
                            "type": "value",
                            "options": {
                                "0": {"text": "INIT/FAULT", "color": "red"},
                                "1": {"text": "BACKUP", "color": "blue"},
                                "2": {"text": "MASTER", "color": "green"},
                            },
                        }
                    ]
                },
                "overrides": [],
            },
            "options": {"showValue": "auto"},
        }
    )
    layout.add(
        timeseries(
            "Priority and virtual IPs",
            [
                target(gauge("fastlb_vrrp_priority"), "{{instance}} configured"),
                target(gauge("fastlb_vrrp_effective_priority"), "{{instance}} advertised"),
                target(gauge("fastlb_vrrp_virtual_ips_held"), "{{instance}} holds VIPs"),
            ],
        )
    )
    layout.add(
        timeseries(
            "Adverts and transitions",
            [
                target(rate(f"fastlb_vrrp_{name}_total", "instance"), f"{{{{instance}}}} {legend}")
                for name, legend in (
                    ("adverts_sent", "sent"),
                    ("adverts_received", "received"),
                    ("invalid_adverts", "invalid"),
                    ("send_errors", "send error"),
                    ("transitions", "transition"),
                    ("master_transitions", "became master"),
                )
            ],
            "ops",
        )
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
