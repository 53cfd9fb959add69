"""Checks made through each load balancer before anything is timed (never timed themselves).

They make sure the two sides do the same work: the response is nginx's, `mode http` adds the
client's X-Forwarded-For, `Connection: close` clients get reused server connections (nginx's
`$connection` repeats), and the h2 frontend really speaks h2 (h2load falls back to HTTP/1.1
silently). Each returns a short description for the report, or raises ProbeFailed saying why.
"""

from __future__ import annotations

import http.client
import ssl
import subprocess
import urllib.request

from bench import configs
from bench.drivers import h2load
from bench.result import LoadParseError

REUSE_REQUESTS = 12


class ProbeFailed(RuntimeError):
    """What a load balancer frontend did wrong (the message is for the report)."""


def _insecure_context() -> ssl.SSLContext:
    context = ssl.create_default_context()
    # The benchmark's self-signed certificate: what is checked here is that it relays.
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def get(port: int, path: str, *, tls: bool = False, close: bool = False) -> str:
    """One GET through a load balancer: the body. Raises ProbeFailed on anything else than a 200."""
    scheme = "https" if tls else "http"
    request = urllib.request.Request(f"{scheme}://127.0.0.1:{port}{path}")
    if close:
        request.add_header("Connection", "close")
    try:
        with urllib.request.urlopen(
            request, timeout=5, context=_insecure_context() if tls else None
        ) as response:
            return str(response.read().decode())
    except (OSError, http.client.HTTPException) as exc:
        raise ProbeFailed(f"GET {scheme}://127.0.0.1:{port}{path} failed: {exc}") from None


def check_serves(label: str, port: int, *, tls: bool = False) -> None:
    """One request through the load balancer must reach nginx before anything is timed."""
    try:
        body = get(port, "/", tls=tls)
    except ProbeFailed as exc:
        raise SystemExit(f"error: {label}: {exc}") from None
    if body != configs.SMALL_BODY:
        raise SystemExit(f"error: {label} on port {port} answered {body!r}")


def check_http(port: int, *, tls: bool = False) -> str:
    """A `mode http` frontend answers nginx's body and sends X-Forwarded-For: 127.0.0.1."""
    try:
        body = get(port, "/", tls=tls)
    except ProbeFailed as exc:
        raise ProbeFailed(f"mode http not serving: {exc}") from None
    if body != configs.SMALL_BODY:
        raise ProbeFailed(f"port {port} answered {body[:80]!r}, not nginx's 64 bytes")
    forwarded = get(port, "/xff", tls=tls).strip()
    if forwarded != "127.0.0.1":
        raise ProbeFailed(f"nginx saw X-Forwarded-For {forwarded!r}, expected '127.0.0.1'")
    return "X-Forwarded-For: 127.0.0.1"


def check_reuse(port: int) -> str:
    """`Connection: close` requests one after the other: on how many server connections."""
    seen = {get(port, "/conn", close=True).strip() for _ in range(REUSE_REQUESTS)}
    reused = len(seen) < REUSE_REQUESTS
    verdict = "reused" if reused else "NOT reused"
    return f"{REUSE_REQUESTS} close requests on {len(seen)} server connections ({verdict})"


def check_h2(port: int) -> str:
    """A few h2 requests with h2load; ProbeFailed when the frontend does not negotiate h2."""
    argv = ["h2load", "-n20", "-c1", "-m10", f"https://127.0.0.1:{port}/"]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    try:
        result = h2load.parse(proc.stdout + proc.stderr)
    except LoadParseError as exc:
        raise ProbeFailed(f"h2 not working: {str(exc).splitlines()[0].rstrip(':')}") from None
    try:
        h2load.require_h2(result, f"https://127.0.0.1:{port}/")
    except h2load.NotHttp2Error:
        negotiated = ", ".join(sorted(result.protocols)) or "nothing"
        raise ProbeFailed(
            f"h2 not built: ALPN offered h2, http/1.1; the frontend chose {negotiated}"
        ) from None
    if result.errors:
        raise ProbeFailed(f"h2 requests failed ({result.errors} of {result.requests})")
    return "ALPN h2"


def server_connections(ports: list[int]) -> int:
    """nginx's connection serial numbers summed over the backends, asked directly (not through
    a load balancer): the difference across a run is how many server connections the load
    balancer opened (each ask opens one connection itself, which the caller subtracts)."""
    return sum(int(get(port, "/conn").strip()) for port in ports)
