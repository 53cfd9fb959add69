"""The Grafana dashboard (packaging/grafana/fastlb.json) queries only what fastlb exports.

Every metric name in its queries must appear in `/metrics` of a real fastlb that has a tcp,
an http and a mysql frontend. Two kinds of families exist only after events this test can't
cause cheaply, and come from the exporter code on real snapshots instead: `fastlb_http_*`
(after an HTTP request has been served: the running snapshot with http counters filled in,
as test_api.py does) and `fastlb_vrrp_*` (needs root and an interface: a real speaker's
snapshot). Label names in selectors and `by (...)` must exist on those metrics too. A
dashboard metric that fastlb does not export fails the test.
"""

from __future__ import annotations

import importlib.util
import json
import re
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from http_stats import with_http
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from fastlb import LoadBalancer
from fastlb.api.metrics import StatsCollector
from fastlb.api.stats_models import StatsSnapshot
from fastlb.failover.config import FailoverConfig
from fastlb.failover.speaker import VrrpSpeaker
from support import NamedHTTPBackend, free_port, http_get

ROOT = Path(__file__).resolve().parent.parent
DASHBOARD = ROOT / "packaging" / "grafana" / "fastlb.json"
GENERATOR = ROOT / "packaging" / "grafana" / "build_dashboard.py"
# Added by Prometheus when it scrapes (target labels), or by histogram_quantile's buckets.
SCRAPE_LABELS = {"instance", "job"}
SELECTOR = re.compile(r"\b(fastlb_[a-z0-9_]+)(?:\{([^}]*)\})?")
BY_CLAUSE = re.compile(r"\bby \(([^)]*)\)")

# metric name -> the label names of its series (empty when the family has no series yet)
Exported = dict[str, set[str]]


def dashboard() -> dict[str, Any]:
    loaded: dict[str, Any] = json.loads(DASHBOARD.read_text())
    return loaded


def queries(board: dict[str, Any]) -> list[str]:
    """Every PromQL text of the dashboard: panel targets and template variables."""
    found = [
        target["expr"]
        for panel in board["panels"]
        for target in panel.get("targets", [])
        if target.get("expr")
    ]
    for variable in board["templating"]["list"]:
        query = variable.get("query")
        if variable["type"] == "query":
            found.append(query["query"] if isinstance(query, dict) else query)
    return found


def exported_names(text: str) -> Exported:
    """Sample names (what Prometheus stores: `x_total`, `x_bucket`, ...) with their labels.
    A family without series still defines its names, as its type implies."""
    suffixes = {"counter": ["_total"], "gauge": [""], "histogram": ["_bucket", "_sum", "_count"]}
    names: Exported = {}
    for family in text_string_to_metric_families(text):
        for suffix in suffixes.get(family.type, [""]):
            names.setdefault(family.name + suffix, set())
        for sample in family.samples:
            names.setdefault(sample.name, set()).update(sample.labels)
    return names


def scrape(stats: dict[str, Any]) -> Exported:
    """What /metrics shows for the stats snapshot `stats` (the API's own collector)."""
    registry = CollectorRegistry()
    registry.register(StatsCollector(lambda: StatsSnapshot.model_validate(stats)))
    return exported_names(generate_latest(registry).decode())


def wait_for_check(lb: LoadBalancer, timeout: float = 10.0) -> None:
    """Until web-01 has a check result (fastlb_server_check_status has no series before)."""
    deadline = time.monotonic() + timeout
    while lb.stats()["backends"]["web"]["servers"]["web-01"].get("check", {}).get("status") != "ok":
        assert time.monotonic() < deadline, "no health check result"
        time.sleep(0.05)


def vrrp_snapshot() -> dict[str, Any]:
    """The failover section a (never started) speaker reports."""
    config = FailoverConfig(interface="lo", vrid=51, virtual_ips=["10.99.0.100/24"])
    return VrrpSpeaker(config, lambda: None).snapshot()


@pytest.fixture(scope="module")
def exported() -> Iterator[Exported]:
    backend = NamedHTTPBackend("web-01")
    dead = f"127.0.0.1:{free_port()}"  # the MySQL servers: families, no traffic needed
    config = {
        "workers": 1,
        "drain_timeout": "1s",
        "max_connections": 1000,  # fastlb_max_connections exists only with a global limit
        "api": {"listen": "127.0.0.1:0"},
        "frontends": [
            {"name": "tcp", "listen": "127.0.0.1:0", "backend": "web"},
            {"name": "www", "listen": "127.0.0.1:0", "backend": "site", "mode": "http"},
            {"name": "sql", "listen": "127.0.0.1:0", "backend": "db", "mode": "mysql"},
        ],
        "backends": [
            {
                "name": "web",
                "health_check": {"type": "tcp", "interval": "100ms", "rise": 1, "fall": 1},
                "servers": [{"name": "web-01", "address": backend.address}],
            },
            {"name": "site", "servers": [{"name": "web-01", "address": backend.address}]},
            {
                "name": "db",
                "servers": [
                    {"name": "db-1", "address": dead, "role": "primary"},
                    {"name": "db-2", "address": dead, "role": "replica"},
                ],
                "mysql": {"users": [{"user": "app", "password": "secret"}]},
            },
        ],
    }
    try:
        with LoadBalancer(config) as lb:
            assert http_get(f"http://{lb.addresses['tcp']}/") == "hello from web-01\n"
            wait_for_check(lb)
            assert lb.api_url is not None
            with urllib.request.urlopen(lb.api_url + "/metrics", timeout=10) as response:
                names = exported_names(response.read().decode())
            stats = lb.stats()
    finally:
        backend.close()
    assert stats["frontends"]["www"]["mode"] == "http"
    events = with_http(stats, 10) | {"failover": vrrp_snapshot()}
    for name, labels in scrape(events).items():
        names.setdefault(name, set()).update(labels)
    yield names


def test_dashboard_is_the_generators_output() -> None:
    spec = importlib.util.spec_from_file_location("build_dashboard", GENERATOR)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert DASHBOARD.read_text() == module.render(), "run packaging/grafana/build_dashboard.py"


def test_every_queried_metric_is_exported(exported: Exported) -> None:
    board = dashboard()
    used = {name for query in queries(board) for name, _ in SELECTOR.findall(query)}
    assert len(used) > 40, sorted(used)  # the parsing found the queries
    missing = sorted(used - exported.keys())
    assert not missing, f"the dashboard queries metrics fastlb does not export: {missing}"


def test_every_queried_label_exists(exported: Exported) -> None:
    problems = []
    for query in queries(dashboard()):
        metrics = SELECTOR.findall(query)
        available = set().union(*(exported.get(name, set()) for name, _ in metrics))
        available |= SCRAPE_LABELS | {"le"}
        for name, matchers in metrics:
            if not exported.get(name):
                continue  # a family without series here (e.g. replication lag): no labels known
            for label in re.findall(r"([a-z_]+)\s*(?:=~|!=|!~|=)", matchers):
                if label not in exported[name] | SCRAPE_LABELS:
                    problems.append(f"{name} has no label {label!r}: {query}")
        for clause in BY_CLAUSE.findall(query):
            for label in (part.strip() for part in clause.split(",")):
                if label not in available:
                    problems.append(f"no metric of the query has {label!r}: {query}")
        for variable, label in re.findall(r"label_values\((fastlb_[a-z_]+)[^,]*, (\w+)\)", query):
            if label not in exported.get(variable, set()) | SCRAPE_LABELS:
                problems.append(f"{variable} has no label {label!r}: {query}")
    assert not problems, "\n".join(problems)


def test_the_check_catches_a_made_up_metric(exported: Exported) -> None:
    """The name check can fail: a query on a metric fastlb lacks is reported."""
    made_up = 'sum(rate(fastlb_server_made_up_total{instance=~"$instance"}[5m]))'
    used = {name for name, _ in SELECTOR.findall(made_up)}
    assert used - exported.keys() == {"fastlb_server_made_up_total"}


def test_panels_are_well_formed() -> None:
    board = dashboard()
    ids = [panel["id"] for panel in board["panels"]]
    assert len(ids) == len(set(ids))
    for panel in board["panels"]:
        position = panel["gridPos"]
        assert position["x"] + position["w"] <= 24, panel["title"]
        if panel["type"] != "row":
            assert panel["targets"] and panel["datasource"]["uid"] == "${datasource}"
    titles = {panel["title"] for panel in board["panels"] if panel["type"] == "row"}
    assert {"HTTP (mode: http)", "MySQL (mode: mysql)", "Failover (VRRP)"} <= titles
