"""What `make bench` measures: wrk workloads over plain TCP and TLS (`mode tcp`), wrk and
h2load over `mode http` frontends, each with the ratio fastlb must reach. Every scenario runs
at every thread count (`python -m bench --threads 1,2`) on both load balancers."""

from __future__ import annotations

from dataclasses import dataclass

# The load balancer frontend a scenario's client talks to (a `bench.configs.Ports` field):
# tcp and tls relay bytes (`mode tcp`); http, http_close and https are `mode http`.
HTTP_FRONTENDS = ("http", "http_close", "https")


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    path: str
    connections: int
    headers: tuple[str, ...]
    metric: str  # "requests_per_s" or "bytes_per_s" (a LoadResult property)
    target: float  # candidate / baseline ratio to reach
    frontend: str = "tcp"  # a `bench.configs.Ports` field
    tool: str = "wrk"  # or "h2load"
    streams: int = 0  # h2load -m: concurrent streams per connection
    # The candidate's p99 latency must also be at most the baseline's (at their best settings).
    p99_target: bool = False

    @property
    def tls(self) -> bool:
        return self.frontend in ("tls", "https")

    def client_flags(self, threads: int, duration_s: float) -> str:
        """The client's command line as the report shows it."""
        headers = "".join(f" -H '{h}'" for h in self.headers)
        if self.tool == "h2load":
            return (
                f"h2load -t{threads} -c{self.connections} -m{self.streams}"
                f" -D{duration_s:g}{headers} {self.path}"
            )
        return f"wrk -t{threads} -c{self.connections} -d{duration_s:g}s{headers} {self.path}"


SCENARIOS = (
    Scenario(
        name="keepalive",
        title="keep-alive, 64 B responses",
        path="/",
        connections=64,
        headers=(),
        metric="requests_per_s",
        target=1.10,
    ),
    Scenario(
        name="close",
        title="one connection per request, 64 B responses",
        path="/",
        connections=64,
        headers=("Connection: close",),
        metric="requests_per_s",
        target=1.05,
    ),
    Scenario(
        name="bulk",
        title="16 MiB transfers",
        path="/big",
        connections=4,
        headers=(),
        metric="bytes_per_s",
        target=1.20,
    ),
    # TLS termination, same certificate (ECDSA P-256) on both, session resumption off on
    # both: each request is a new connection with a full handshake.
    Scenario(
        name="tls-handshake",
        title="TLS, full handshake per request, 64 B responses",
        path="/",
        connections=32,
        headers=("Connection: close",),
        metric="requests_per_s",
        target=1.10,
        frontend="tls",
    ),
    Scenario(
        name="tls-bulk",
        title="TLS, 16 MiB transfers",
        path="/big",
        connections=4,
        headers=(),
        metric="bytes_per_s",
        target=1.00,
        frontend="tls",
    ),
    # mode http (issue 18): X-Forwarded-For added, keep-alive to servers, pooled connections.
    Scenario(
        name="http-keepalive",
        title="HTTP mode, keep-alive clients, 64 B responses",
        path="/",
        connections=64,
        headers=(),
        metric="requests_per_s",
        target=1.15,
        frontend="http",
        p99_target=True,
    ),
    Scenario(
        name="http-close",
        title="HTTP mode, `Connection: close` clients, server connections reused, 64 B",
        path="/",
        connections=64,
        headers=("Connection: close",),
        metric="requests_per_s",
        target=1.15,
        frontend="http_close",
    ),
    Scenario(
        name="h2",
        title="HTTP mode, HTTP/2 clients over TLS, 100 streams per connection, 64 B",
        path="/",
        connections=4,
        headers=(),
        metric="requests_per_s",
        target=1.10,
        frontend="https",
        tool="h2load",
        streams=100,
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}
