"""The soak's records: resource samples of the fastlb process, client errors and the
operations done to fastlb and its backends. Times are seconds since the soak started."""

from __future__ import annotations

from dataclasses import dataclass

# Each traffic class and the backend behind it (a restart of that backend is when the class
# may see errors; see verdict.ALLOWED_DURING_RESTART).
BACKEND_OF_TRAFFIC = {
    "http-keepalive": "web",
    "http-new": "web",
    "tcp-bulk": "tcp",
    "mysql": "mysql",
}


@dataclass(frozen=True)
class ResourceSample:
    """One look at the fastlb process in /proc (and its API)."""

    t: float
    pid: int
    rss_bytes: int
    fds: int
    threads: int
    connections: int | None  # live client connections (`global.current_connections`)


@dataclass(frozen=True)
class ClientError:
    """A request, transfer or query that failed as a client saw it."""

    t: float
    traffic: str  # a key of BACKEND_OF_TRAFFIC
    kind: str  # e.g. "status 502", "reset", "eof", "refused", "timeout", "mysql 1158"
    detail: str


@dataclass(frozen=True)
class Operation:
    """Something done to fastlb or a backend, from `start` until it had taken effect."""

    kind: str  # "reload" | "weight" | "restart" | "upgrade" | "exit"
    target: str  # "sighup", "ctl", "api", a backend ("web", "tcp", "mysql"), or ""
    start: float
    end: float
    ok: bool
    detail: str = ""
