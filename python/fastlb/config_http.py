"""The `http:` sections of `mode: http` frontends and of backends, and the PROXY protocol
fields (docs/http.md, "What the user writes"): validated here, sent to the core with every
field filled in (the core keeps no defaults of its own for them).

```yaml
frontends:
  - name: web
    mode: http
    backend: web
    http:
      request_headers: {set: {X-Env: prod}, remove: [X-Debug]}
      routes:
        - match: {host: api.example.com, path_prefix: /v1/}
          backend: api
        - match: {path_prefix: /old/}
          redirect: {path_prefix: /new, code: 301}
      access_log: {path: /var/log/fastlb/access.log, format: haproxy}
```

Defaults are HAProxy's where it has one: `timeout http-request 10s`, `timeout
http-keep-alive`, `tune.bufsize` 16384 for the request head, 100 header fields, redirects 302.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BeforeValidator,
    Field,
    model_validator,
)

from .config_security import Cidr
from .config_types import (
    ConfigModel,
    Name,
    PositiveDuration,
    between,
    field_error,
    milliseconds,
    refuse_bool,
)

__all__ = [
    "DEFAULT_HTTP_ALPN",
    "HTTP_ALPN_PROTOCOLS",
    "AccessLogConfig",
    "ForwardedConfig",
    "HeaderEdits",
    "HttpBackendConfig",
    "HttpFrontendConfig",
    "MatchConfig",
    "RedirectConfig",
    "RouteConfig",
]

# A TLS frontend of mode http offers these by ALPN when `tls.alpn` is not set: HAProxy's
# default for `bind ... ssl` in HTTP mode since 2.8.
DEFAULT_HTTP_ALPN = ("h2", "http/1.1")
# What an http frontend can speak after the handshake (RFC 7301 identifiers).
HTTP_ALPN_PROTOCOLS = frozenset({"h2", "http/1.1", "http/1.0"})

# RFC 9110 5.1 / 5.6.2: a field name is a token (tchar = "!#$%&'*+-.^_`|~", digits, letters).
_TOKEN_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
# RFC 9110 5.5: CR, LF and NUL in a value would split or end the header (request smuggling);
# the other controls are invalid too. HTAB is allowed inside a value.
_BAD_VALUE_RE = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# Framing and hop-by-hop fields (RFC 9112 6, RFC 9110 7.6.1): the core writes and removes
# these itself; an edit of them would desynchronise the message boundaries. The core's own
# list is `_core.HTTP_PROXY_OWNED_HEADERS` (tests/test_config_http.py keeps them equal: the
# config checks run without the compiled core).
CORE_OWNED_HEADERS = frozenset(
    {
        "connection",
        "content-length",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "transfer-encoding",
        "upgrade",
    }
)
# One DNS label (RFC 1123, plus '_' as container names use it).
_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
_HOST_RE = re.compile(rf"(?=.{{1,253}}$){_LABEL}(?:\.{_LABEL})*\.?")
_IPV6_RE = re.compile(r"\[[0-9A-Fa-f:.]+\]")


# --------------------------------------------------------------------------- field checks


def _check_header_name(value: object) -> str:
    if not isinstance(value, str) or not _TOKEN_RE.fullmatch(value):
        raise field_error(
            f"invalid header name {value!r}: must be an RFC 9110 token (letters, digits and "
            "!#$%&'*+-.^_`|~)"
        )
    return value


def _check_editable_name(value: object) -> str:
    value = _check_header_name(value)
    if value.lower() in CORE_OWNED_HEADERS:
        raise field_error(
            f"{value!r} cannot be edited: fastlb manages the framing and hop-by-hop headers"
        )
    return value


def _check_header_value(value: object) -> str:
    if isinstance(value, int) and not isinstance(value, bool):
        value = str(value)  # YAML reads `X-Version: 2` as a number
    if not isinstance(value, str):
        raise field_error(f"a header value must be a string (got {value!r}); quote it")
    if _BAD_VALUE_RE.search(value):
        raise field_error(
            f"invalid header value {value!r}: no CR, LF, NUL or other control characters"
        )
    return value


HeaderName = Annotated[str, BeforeValidator(_check_header_name)]
"""An RFC 9110 token."""
EditableHeaderName = Annotated[str, BeforeValidator(_check_editable_name)]
"""A header name that edits may touch: not one of the framing/hop-by-hop headers."""
HeaderValue = Annotated[str, BeforeValidator(_check_header_value)]


def _header_pairs(value: object) -> object:
    """`{X-Env: prod}`, or a list of `[name, value]` / `{name: ..., value: ...}` items (for a
    name given twice) -> a list of `(name, value)` pairs, in order."""
    if isinstance(value, Mapping):
        return list(value.items())
    if not isinstance(value, list):
        raise field_error(
            "must be a mapping {Name: value} or a list of [name, value] pairs "
            f"(got {type(value).__name__})"
        )
    pairs: list[object] = []
    for entry in value:
        if isinstance(entry, Mapping) and set(entry) == {"name", "value"}:
            pairs.append((entry["name"], entry["value"]))
        elif isinstance(entry, Mapping) and len(entry) == 1:
            pairs.append(next(iter(entry.items())))
        else:
            pairs.append(entry)  # a [name, value] pair, or the tuple check's error
    return pairs


HeaderPairs = Annotated[
    list[tuple[EditableHeaderName, HeaderValue]], BeforeValidator(_header_pairs)
]


def _check_match_path(value: object) -> str:
    # Compared with the path before '?': a '?', '#' or a space could never match.
    if (
        not isinstance(value, str)
        or not value.startswith("/")
        or any(c in "?#" or c.isspace() or not c.isprintable() for c in value)
    ):
        raise field_error(
            f"invalid path {value!r}: must start with '/' and contain no '?', '#', spaces or "
            "control characters (percent-encode them)"
        )
    return value


MatchPath = Annotated[str, BeforeValidator(_check_match_path)]


def _check_host_pattern(value: object) -> str:
    """`api.example.com`, `*.example.com` (any subdomain) or an IP; no port (the core
    compares the request's host with its port removed)."""
    if not isinstance(value, str):
        raise field_error(f"must be a host name (got {value!r})")
    name = value.removeprefix("*.")
    if not (_HOST_RE.fullmatch(name) or (name == value and _IPV6_RE.fullmatch(value))):
        raise field_error(
            f"invalid host {value!r}: expected a name like api.example.com or "
            "*.example.com (no port, no scheme)"
        )
    return value.lower()


def _check_redirect_host(value: object) -> str:
    """`www.example.com`, `www.example.com:8443` or `[2001:db8::1]:8443`: the Location's
    authority."""
    if not isinstance(value, str):
        raise field_error(f"must be a host name (got {value!r})")
    host, port = value, None
    if value.startswith("["):
        end = value.find("]") + 1
        host, rest = value[:end], value[end:]
        if end == 0 or (rest and not rest.startswith(":")):
            host = ""
        port = rest[1:] if rest else None
    elif ":" in value:
        host, _, port = value.rpartition(":")
    if port is not None and not (port.isascii() and port.isdigit() and 1 <= int(port) <= 65535):
        raise field_error(f"invalid host {value!r}: the port must be between 1 and 65535")
    if not (_HOST_RE.fullmatch(host) or _IPV6_RE.fullmatch(host)):
        raise field_error(
            f"invalid host {value!r}: expected a name like www.example.com, optionally with :port"
        )
    return value


def _methods(value: object) -> object:
    """`GET` or `[get, POST]` -> `["GET", "POST"]` (RFC 9110 9.1: methods are case-sensitive
    and the standard ones upper case; a lower-case `get` in a config means GET)."""
    items = [value] if isinstance(value, str) else value
    if not isinstance(items, list):
        raise field_error(f"must be a method or a list of methods (got {value!r})")
    methods: list[str] = []
    for method in items:
        if not isinstance(method, str) or not _TOKEN_RE.fullmatch(method):
            raise field_error(f"invalid method {method!r}: must be a token like GET")
        if method.upper() not in methods:
            methods.append(method.upper())
    return methods


def _match_headers(value: object) -> object:
    if not isinstance(value, Mapping):
        return value
    seen: dict[str, object] = {}
    for name in value:
        if isinstance(name, str) and name.lower() in seen:
            raise field_error(
                f"header {name!r} is given twice ({seen[name.lower()]!r}); names are "
                "case-insensitive"
            )
        seen[name.lower() if isinstance(name, str) else str(name)] = name
    return value


def _log_path(value: object) -> str:
    """`-` (stdout) or a file the core can append to: its directory must exist now."""
    if not isinstance(value, str) or not value:
        raise field_error(f"must be '-' (stdout) or the path of a file (got {value!r})")
    if value == "-":
        return value
    path = Path(value).expanduser().absolute()
    if path.is_dir():
        raise field_error(f"{value} is a directory; give the log file's path")
    if not path.parent.is_dir():
        raise field_error(f"cannot write {value}: no such directory {path.parent}")
    target = path if path.exists() else path.parent
    if not os.access(target, os.W_OK):
        raise field_error(f"cannot write {value}: permission denied")
    # Absolute: the core opens (and reopens, on SIGUSR1) it later.
    return str(path)


def _check_redirect_code(value: object) -> object:
    refuse_bool(value)
    if value not in (301, 302, 303, 307, 308):
        raise field_error(f"must be 301, 302, 303, 307 or 308 (got {value!r})")
    return value


_HeaderSize = Annotated[
    int, BeforeValidator(refuse_bool), AfterValidator(between(1024, 1024 * 1024))
]
_HeaderCount = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(1, 1000))]
_IdleCount = Annotated[int, BeforeValidator(refuse_bool), AfterValidator(between(0, 100_000))]


# --------------------------------------------------------------------------- models


class HeaderEdits(ConfigModel):
    """Header edits, applied in this order: `remove` the named fields, `set` (replace every
    field of that name), `add` (append one more field).

    `set` and `add` take a mapping (`{X-Env: prod}`) or, to give a name twice, a list whose
    items are `[name, value]` pairs, `{name: ..., value: ...}` or `{Name: value}` mappings;
    the core gets a list of pairs either way, in order. Names are RFC 9110 tokens (compared
    case-insensitively by the core); values may not contain CR, LF, NUL or other control
    characters. Framing and hop-by-hop headers (Content-Length, Transfer-Encoding,
    Connection, ...) are fastlb's own and cannot be edited.
    """

    set: HeaderPairs = Field(default_factory=list)
    add: HeaderPairs = Field(default_factory=list)
    remove: list[EditableHeaderName] = Field(default_factory=list)

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "set": [[name, value] for name, value in self.set],
            "add": [[name, value] for name, value in self.add],
            "remove": list(self.remove),
        }


class MatchConfig(ConfigModel):
    """Every condition given must hold; `match: {}` (or no match) takes every request."""

    host: Annotated[str, BeforeValidator(_check_host_pattern)] | None = Field(
        None, description="api.example.com, or *.example.com for any subdomain"
    )
    path_prefix: MatchPath | None = None
    path: MatchPath | None = Field(None, description="the whole path (before '?')")
    method: Annotated[list[str], BeforeValidator(_methods)] = Field(default_factory=list)
    header: Annotated[dict[HeaderName, HeaderValue], BeforeValidator(_match_headers)] = Field(
        default_factory=dict, description="each named header present with exactly this value"
    )

    @model_validator(mode="after")
    def _path_or_prefix(self) -> MatchConfig:
        if self.path is not None and self.path_prefix is not None:
            raise field_error("give path or path_prefix, not both")
        return self

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "host": self.host,
            "path_prefix": self.path_prefix,
            "path": self.path,
            "method": list(self.method),
            "header": dict(self.header),
        }


class RedirectConfig(ConfigModel):
    """Answer with a redirect (HAProxy `redirect scheme|prefix`): the request's URL with
    `scheme`, `host` and `path_prefix` (prepended to the path) changed."""

    scheme: Literal["http", "https"] | None = None
    host: Annotated[str, BeforeValidator(_check_redirect_host)] | None = None
    path_prefix: MatchPath | None = None
    code: Annotated[int, BeforeValidator(_check_redirect_code)] = 302

    @model_validator(mode="after")
    def _changes_something(self) -> RedirectConfig:
        if self.scheme is None and self.host is None and self.path_prefix is None:
            raise field_error(
                "a redirect needs scheme, host or path_prefix (else it sends the client to "
                "the same URL, a loop)"
            )
        return self

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "scheme": self.scheme,
            "host": self.host,
            "path_prefix": self.path_prefix,
            "code": self.code,
        }


class RouteConfig(ConfigModel):
    """First matching route wins; it forwards to `backend` or answers with `redirect`
    (exactly one of them). A route's header edits apply after the frontend's."""

    match: MatchConfig = Field(default_factory=MatchConfig)
    backend: Name | None = None
    redirect: RedirectConfig | None = None
    request_headers: HeaderEdits = Field(default_factory=HeaderEdits)
    response_headers: HeaderEdits = Field(default_factory=HeaderEdits)

    @model_validator(mode="after")
    def _one_action(self) -> RouteConfig:
        if (self.backend is None) == (self.redirect is None):
            raise field_error("a route needs exactly one of backend and redirect")
        edits = {"request_headers", "response_headers"} & self.model_fields_set
        if self.redirect is not None and edits:
            raise field_error(
                f"{' and '.join(sorted(edits))}: a redirect route forwards nothing to edit"
            )
        return self

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "match": self.match.to_core_dict(),
            "backend": self.backend,
            "redirect": self.redirect.to_core_dict() if self.redirect else None,
            "request_headers": self.request_headers.to_core_dict(),
            "response_headers": self.response_headers.to_core_dict(),
        }


class ForwardedConfig(ConfigModel):
    """The forwarding headers fastlb adds to requests (HAProxy `option forwardfor`)."""

    x_forwarded_for: bool = True
    x_forwarded_for_except: list[Cidr] = Field(
        default_factory=list, description="clients in these blocks get no X-Forwarded-For"
    )
    x_forwarded_proto: bool = True
    x_forwarded_host: bool = False
    forwarded: bool = Field(False, description="RFC 7239 Forwarded: for=...;proto=...;host=...")

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "x_forwarded_for": self.x_forwarded_for,
            "x_forwarded_for_except": list(self.x_forwarded_for_except),
            "x_forwarded_proto": self.x_forwarded_proto,
            "x_forwarded_host": self.x_forwarded_host,
            "forwarded": self.forwarded,
        }


class AccessLogConfig(ConfigModel):
    """One line per request: to a file (appended to, reopened on SIGUSR1 for logrotate)
    or `-` for standard output."""

    path: Annotated[str, BeforeValidator(_log_path)]
    format: Literal["json", "clf", "haproxy"] = "haproxy"

    def to_core_dict(self) -> dict[str, Any]:
        return {"path": self.path, "format": self.format}


class HttpFrontendConfig(ConfigModel):
    """A `mode: http` frontend's HTTP settings; absent, every default applies."""

    request_timeout: PositiveDuration = Field(
        10.0, description="whole request head (slowloris): 408 after it"
    )
    keepalive_timeout: PositiveDuration = Field(
        10.0, description="an idle keep-alive client is closed after it"
    )
    tunnel_timeout: PositiveDuration = Field(
        3600.0, description="inactivity of a WebSocket (after the 101)"
    )
    max_header_size: _HeaderSize = Field(16384, description="request line + headers: 431 above")
    max_headers: _HeaderCount = Field(100, description="header fields: 431 above")
    h2c: bool = Field(False, description="HTTP/2 with prior knowledge on a plaintext frontend")
    forwarded: ForwardedConfig = Field(default_factory=ForwardedConfig)
    request_headers: HeaderEdits = Field(default_factory=HeaderEdits)
    response_headers: HeaderEdits = Field(default_factory=HeaderEdits)
    routes: list[RouteConfig] = Field(default_factory=list)
    access_log: AccessLogConfig | None = None

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "request_timeout_ms": milliseconds(self.request_timeout),
            "keepalive_timeout_ms": milliseconds(self.keepalive_timeout),
            "max_header_size": self.max_header_size,
            "max_headers": self.max_headers,
            "tunnel_timeout_ms": milliseconds(self.tunnel_timeout),
            "h2c": self.h2c,
            "forwarded": self.forwarded.to_core_dict(),
            "routes": [route.to_core_dict() for route in self.routes],
            "request_headers": self.request_headers.to_core_dict(),
            "response_headers": self.response_headers.to_core_dict(),
            "access_log": self.access_log.to_core_dict() if self.access_log else None,
        }


class HttpBackendConfig(ConfigModel):
    """The server connection pool of a backend used by `mode: http` frontends (HAProxy
    `http-reuse safe`); `server_reuse: false` is `option http-server-close`."""

    server_reuse: bool = True
    max_idle: _IdleCount = Field(64, description="idle connections kept per server and worker")
    idle_timeout: PositiveDuration = Field(30.0, description="an idle pooled connection closes")
    response_timeout: PositiveDuration = Field(
        30.0, description="the server's response head must arrive within this: 504"
    )

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "server_reuse": self.server_reuse,
            "max_idle": self.max_idle,
            "idle_timeout_ms": milliseconds(self.idle_timeout),
            "response_timeout_ms": milliseconds(self.response_timeout),
        }
