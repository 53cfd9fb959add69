"""What `make bench` measures: wrk workloads over plain TCP and over TLS, each with the ratio
fastlb must reach."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    title: str
    path: str
    connections: int
    headers: tuple[str, ...]
    metric: str  # "requests_per_s" or "bytes_per_s" (a WrkResult property)
    target: float  # candidate / baseline ratio to reach
    # Through the TLS-terminating frontend (https://), else the plain TCP one.
    tls: bool = False

    def wrk_flags(self, threads: int, duration_s: float) -> str:
        headers = "".join(f" -H '{h}'" for h in self.headers)
        return f"-t{threads} -c{self.connections} -d{duration_s:g}s{headers} {self.path}"


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
        tls=True,
    ),
    Scenario(
        name="tls-bulk",
        title="TLS, 16 MiB transfers",
        path="/big",
        connections=4,
        headers=(),
        metric="bytes_per_s",
        target=1.00,
        tls=True,
    ),
)

BY_NAME = {s.name: s for s in SCENARIOS}
