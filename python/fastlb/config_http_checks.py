"""Rules of the PROXY protocol fields and the `http:` sections that span several fields or
sections: who is trusted, sections only some modes use, routes to backends that exist, what a
TLS http frontend offers by ALPN (docs/http.md)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .config_errors import Problem
from .config_http import DEFAULT_HTTP_ALPN, HTTP_ALPN_PROTOCOLS

if TYPE_CHECKING:
    from .config import BackendConfig, FrontendConfig

__all__ = ["backend_proxy_problems", "core_alpn", "frontend_http_problems"]


def frontend_http_problems(
    prefix: str, frontend: FrontendConfig, backend_names: list[str]
) -> list[Problem]:
    """A frontend's PROXY and `http:` rules that span fields: who is trusted, sections that
    only some modes use, routes to backends that exist, what a TLS http frontend offers."""
    problems: list[Problem] = []
    if frontend.accept_proxy and not frontend.trusted_proxies:
        # Refused rather than defaulting to loopback: a default that works on a laptop would
        # close every connection in production; and trusting everyone would let any client
        # claim any source address (ACLs, per-source limits and logs all believe it).
        problems.append(
            (
                f"{prefix}.trusted_proxies",
                "accept_proxy needs the addresses of the load balancers in front (e.g. "
                "[10.0.0.0/8], or [127.0.0.1] on this host): a PROXY header is believed "
                "only from them",
            )
        )
    if not frontend.accept_proxy and frontend.trusted_proxies and frontend.mode != "http":
        problems.append(
            (
                f"{prefix}.trusted_proxies",
                "only used with accept_proxy: true (or by mode 'http' for X-Forwarded-For)",
            )
        )
    if frontend.http is not None and frontend.mode != "http":
        problems.append(
            (
                f"{prefix}.http",
                f"only used by mode 'http' frontends (this one is mode {frontend.mode!r})",
            )
        )
    settings = frontend.http_settings
    if settings is None:
        return problems
    for index, route in enumerate(settings.routes):
        if route.backend is not None and route.backend not in backend_names:
            problems.append(
                (
                    f"{prefix}.http.routes[{index}].backend",
                    f"no backend named {route.backend!r} (defined: {', '.join(backend_names)})",
                )
            )
    if frontend.tls is not None:
        if settings.h2c:
            problems.append(
                (
                    f"{prefix}.http.h2c",
                    "h2c is HTTP/2 over plaintext; with tls, HTTP/2 is offered by ALPN "
                    "(tls.alpn: [h2, http/1.1])",
                )
            )
        unknown = [p for p in frontend.tls.alpn if p not in HTTP_ALPN_PROTOCOLS]
        if unknown:
            problems.append(
                (
                    f"{prefix}.tls.alpn",
                    f"an http frontend speaks {', '.join(sorted(HTTP_ALPN_PROTOCOLS))}; "
                    f"cannot offer {', '.join(map(repr, unknown))}",
                )
            )
    return problems


def backend_proxy_problems(prefix: str, backend: BackendConfig) -> list[Problem]:
    """`check_send_proxy` sends the header `send_proxy` chooses, on the backend's checks."""
    if not backend.check_send_proxy:
        return []
    if backend.send_proxy is None:
        return [
            (
                f"{prefix}.check_send_proxy",
                "needs send_proxy (v1 or v2): checks send the same header as the traffic",
            )
        ]
    if backend.health_check is None:
        return [(f"{prefix}.check_send_proxy", "this backend has no health_check")]
    return []


def core_alpn(frontend: FrontendConfig) -> list[str]:
    """The ALPN list a TLS frontend offers: mode http's default is h2 then http/1.1."""
    assert frontend.tls is not None
    if frontend.mode == "http" and "alpn" not in frontend.tls.model_fields_set:
        return list(DEFAULT_HTTP_ALPN)
    return list(frontend.tls.alpn)
