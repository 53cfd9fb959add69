"""What `make loadtest` measures: one Locust user class per scenario, against one frontend.

A scenario names a user class of `bench/locust/locustfile.py`, how many users run it, and which
of the topology's frontends they hit. The same scenario runs against every target (fastlb,
HAProxy), so adding a scenario here is all a new workload needs, provided the topology serves
its frontend on both targets (see `Target.frontends` in runner.py): `web` is the nginx
topology, `mysql` a replicated MariaDB pair behind fastlb's `mode: mysql` and behind HAProxy's
writer port + reader port (bench/locust/mysql_topology.py).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    user_class: str  # a class in bench/locust/locustfile.py
    users: int  # concurrent Locust users (all spawned within the first second)
    metric: str  # the throughput that matters: "requests_per_s" or "bytes_per_s"
    frontend: str = "web"  # the topology frontend the users hit
    backends: str = "nginx"  # what serves that frontend, named in the CPU accounting


SCENARIOS = (
    Scenario(
        name="keepalive",
        title="keep-alive browsing, 64 B pages",
        user_class="KeepAliveBrowser",
        users=64,
        metric="requests_per_s",
    ),
    Scenario(
        name="close",
        title="a new connection per request, 64 B pages",
        user_class="NewConnectionClient",
        users=64,
        metric="requests_per_s",
    ),
    Scenario(
        name="download",
        title="large downloads, 16 MiB",
        user_class="LargeDownloader",
        users=4,
        metric="bytes_per_s",
    ),
    Scenario(
        name="mysql",
        title="MySQL: 80% point selects, 20% writes",
        user_class="MySQLUser",
        users=16,
        metric="requests_per_s",
        frontend="mysql",
        backends="mariadbd",
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}
