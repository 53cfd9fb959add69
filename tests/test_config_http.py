"""`mode: http` and the PROXY protocol fields of the configuration (docs/http.md): the YAML a
user writes becomes the core JSON with every field filled in; every mistake is refused by
`Config` with a message naming the field (`fastlb check`: test_config_http_check.py;
`LoadBalancer(dict)` and reload: test_config_http_embedding.py)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from fastlb.config import Config, load_config
from fastlb.errors import ConfigError
from support import set_at

FORWARD_EDITS = {"set": [], "add": [], "remove": []}
DEFAULT_HTTP = {
    "request_timeout_ms": 10000,
    "keepalive_timeout_ms": 10000,
    "max_header_size": 16384,
    "max_headers": 100,
    "tunnel_timeout_ms": 3600000,
    "h2c": False,
    "forwarded": {
        "x_forwarded_for": True,
        "x_forwarded_for_except": [],
        "x_forwarded_proto": True,
        "x_forwarded_host": False,
        "forwarded": False,
    },
    "routes": [],
    "request_headers": FORWARD_EDITS,
    "response_headers": FORWARD_EDITS,
    "access_log": None,
}
DEFAULT_POOL = {
    "server_reuse": True,
    "max_idle": 64,
    "idle_timeout_ms": 30000,
    "response_timeout_ms": 30000,
}
WEB = "frontends[0] (web)"


def docs_example(log_dir: Path) -> str:
    """docs/http.md's "What the user writes", with real server addresses and log directory."""
    return f"""\
frontends:
  - name: web
    listen: 127.0.0.1:8080
    mode: http
    backend: web
    accept_proxy: false
    proxy_timeout: 5s
    trusted_proxies: [10.0.0.0/8]
    http:
      request_timeout: 10s
      keepalive_timeout: 10s
      tunnel_timeout: 1h
      max_header_size: 16384
      max_headers: 100
      h2c: false
      forwarded:
        x_forwarded_for: true
        x_forwarded_for_except: []
        x_forwarded_proto: true
        x_forwarded_host: false
        forwarded: false
      request_headers:  {{set: {{X-Env: prod}}, add: {{}}, remove: [X-Debug]}}
      response_headers: {{set: {{}}, add: {{}}, remove: [Server]}}
      routes:
        - match: {{host: api.example.com, path_prefix: /v1/}}
          backend: api
        - match: {{path_prefix: /old/}}
          redirect: {{path_prefix: /new, code: 301}}
      access_log: {{path: {log_dir}/access.log, format: haproxy}}
  - name: web-redirect
    listen: 127.0.0.1:8081
    mode: http
    backend: web
    http: {{routes: [{{redirect: {{scheme: https}}}}]}}
backends:
  - name: web
    send_proxy: v2
    check_send_proxy: false
    http: {{server_reuse: true, max_idle: 64, idle_timeout: 30s, response_timeout: 30s}}
    servers: [{{name: web-01, address: "127.0.0.1:9001"}}]
  - name: api
    servers: [{{name: api-01, address: "127.0.0.1:9002"}}]
"""


def base(**frontend: Any) -> dict[str, Any]:
    """One mode-http frontend `web` on backends `web` and `api`."""
    return {
        "workers": 1,
        "drain_timeout": "1s",
        "frontends": [
            {"name": "web", "listen": "127.0.0.1:0", "mode": "http", "backend": "web", **frontend}
        ],
        "backends": [
            {"name": "web", "servers": [{"name": "web-01", "address": "127.0.0.1:9001"}]},
            {"name": "api", "servers": [{"name": "api-01", "address": "127.0.0.1:9002"}]},
        ],
    }


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(data)
    return caught.value.problems


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, str]:
    """Stand-ins for a certificate and its key (the config only checks they can be read)."""
    cert, key = tmp_path / "site.pem", tmp_path / "site.key"
    cert.write_text("certificate\n")
    key.write_text("key\n")
    return {"cert": str(cert), "key": str(key)}


# ---- what the core receives -------------------------------------------------------------


def test_the_documented_example_becomes_the_documented_json(
    write_config: Callable[..., Path], tmp_path: Path
) -> None:
    core = load_config(write_config(docs_example(tmp_path))).to_core_dict()
    web, redirect = core["frontends"]
    assert {key: web[key] for key in ("mode", "accept_proxy", "proxy_timeout_ms")} == {
        "mode": "http",
        "accept_proxy": False,
        "proxy_timeout_ms": 5000,
    }
    assert web["trusted_proxies"] == ["10.0.0.0/8"]
    assert web["http"] == {
        **DEFAULT_HTTP,
        "routes": [
            {
                "match": {
                    "host": "api.example.com",
                    "path_prefix": "/v1/",
                    "path": None,
                    "method": [],
                    "header": {},
                },
                "backend": "api",
                "redirect": None,
                "request_headers": FORWARD_EDITS,
                "response_headers": FORWARD_EDITS,
            },
            {
                "match": {
                    "host": None,
                    "path_prefix": "/old/",
                    "path": None,
                    "method": [],
                    "header": {},
                },
                "backend": None,
                "redirect": {"scheme": None, "host": None, "path_prefix": "/new", "code": 301},
                "request_headers": FORWARD_EDITS,
                "response_headers": FORWARD_EDITS,
            },
        ],
        "request_headers": {"set": [["X-Env", "prod"]], "add": [], "remove": ["X-Debug"]},
        "response_headers": {"set": [], "add": [], "remove": ["Server"]},
        "access_log": {"path": f"{tmp_path}/access.log", "format": "haproxy"},
    }
    assert redirect["http"]["routes"][0]["redirect"] == {
        "scheme": "https",
        "host": None,
        "path_prefix": None,
        "code": 302,  # HAProxy's default
    }
    web_backend, api_backend = core["backends"]
    assert (web_backend["send_proxy"], web_backend["check_send_proxy"]) == ("v2", False)
    assert web_backend["http"] == api_backend["http"] == DEFAULT_POOL
    assert api_backend["send_proxy"] is None


def test_mode_http_without_a_section_gets_every_default() -> None:
    core = Config.from_mapping(base()).to_core_dict()
    web = core["frontends"][0]
    assert web["http"] == DEFAULT_HTTP
    assert (web["accept_proxy"], web["proxy_timeout_ms"], web["trusted_proxies"]) == (
        False,
        5000,
        [],
    )
    # The other modes carry no http section (the core refuses one there).
    data = base()
    data["frontends"][0]["mode"] = "tcp"
    assert "http" not in Config.from_mapping(data).to_core_dict()["frontends"][0]


def test_header_edits_take_mappings_and_lists_of_pairs() -> None:
    edits = {
        "set": {"X-Env": "prod", "X-Version": 2},  # a YAML number is the header's text
        "add": [
            ["Via", "1.1 fastlb"],
            {"name": "Via", "value": "1.1 edge"},
            {"X-Tag": "a\tb"},  # HTAB is allowed inside a value
        ],
        "remove": ["X-Debug", "x-internal"],
    }
    core = Config.from_mapping(base(http={"request_headers": edits})).to_core_dict()
    assert core["frontends"][0]["http"]["request_headers"] == {
        "set": [["X-Env", "prod"], ["X-Version", "2"]],
        "add": [["Via", "1.1 fastlb"], ["Via", "1.1 edge"], ["X-Tag", "a\tb"]],
        "remove": ["X-Debug", "x-internal"],
    }


def test_match_fields_are_normalised() -> None:
    route = {
        "match": {
            "host": "*.Example.COM",
            "path": "/login",
            "method": ["get", "POST", "GET"],
            "header": {"X-Canary": "yes", "Upgrade": "websocket"},
        },
        "backend": "api",
        "request_headers": {"set": {"X-Route": "api"}},
    }
    core = Config.from_mapping(base(http={"routes": [route]})).to_core_dict()
    routed = core["frontends"][0]["http"]["routes"][0]
    assert routed["match"] == {
        "host": "*.example.com",
        "path_prefix": None,
        "path": "/login",
        "method": ["GET", "POST"],
        "header": {"X-Canary": "yes", "Upgrade": "websocket"},
    }
    assert routed["request_headers"] == {"set": [["X-Route", "api"]], "add": [], "remove": []}
    one_method = base(http={"routes": [{"match": {"method": "delete"}, "backend": "web"}]})
    core = Config.from_mapping(one_method).to_core_dict()
    assert core["frontends"][0]["http"]["routes"][0]["match"]["method"] == ["DELETE"]


def test_durations_limits_and_forwarding_reach_the_core(tmp_path: Path) -> None:
    http = {
        "request_timeout": "250ms",
        "keepalive_timeout": 2,
        "tunnel_timeout": "10m",
        "max_header_size": 1024,
        "max_headers": 1000,
        "h2c": True,
        "forwarded": {
            "x_forwarded_for_except": ["10.1.2.3/8", "::1"],
            "x_forwarded_host": True,
            "forwarded": True,
        },
        "access_log": {"path": "-", "format": "json"},
    }
    data = base(accept_proxy=True, trusted_proxies=["127.0.0.1", "fd00::/8"], http=http)
    data["frontends"][0]["proxy_timeout"] = "1500ms"
    data["backends"][0].update(
        send_proxy="v1",
        check_send_proxy=True,
        health_check={"type": "tcp"},
        http={"server_reuse": False, "max_idle": 0, "idle_timeout": "5s", "response_timeout": 1},
    )
    core = Config.from_mapping(data).to_core_dict()
    web = core["frontends"][0]
    assert (web["accept_proxy"], web["proxy_timeout_ms"]) == (True, 1500)
    assert web["trusted_proxies"] == ["127.0.0.1/32", "fd00::/8"]
    assert web["http"] == {
        **DEFAULT_HTTP,
        "request_timeout_ms": 250,
        "keepalive_timeout_ms": 2000,
        "tunnel_timeout_ms": 600000,
        "max_header_size": 1024,
        "max_headers": 1000,
        "h2c": True,
        "forwarded": {
            "x_forwarded_for": True,
            "x_forwarded_for_except": ["10.0.0.0/8", "::1/128"],
            "x_forwarded_proto": True,
            "x_forwarded_host": True,
            "forwarded": True,
        },
        "access_log": {"path": "-", "format": "json"},
    }
    backend = core["backends"][0]
    assert (backend["send_proxy"], backend["check_send_proxy"]) == ("v1", True)
    assert backend["http"] == {
        "server_reuse": False,
        "max_idle": 0,
        "idle_timeout_ms": 5000,
        "response_timeout_ms": 1000,
    }


def test_proxy_protocol_works_on_tcp_frontends_too() -> None:
    data = base(accept_proxy=True, trusted_proxies=["10.0.0.0/8"])
    data["frontends"][0]["mode"] = "tcp"
    data["backends"][0]["send_proxy"] = "v2"
    core = Config.from_mapping(data).to_core_dict()
    assert (core["frontends"][0]["accept_proxy"], core["frontends"][0]["mode"]) == (True, "tcp")
    assert core["backends"][0]["send_proxy"] == "v2"


def test_tls_http_frontends_offer_h2_by_default(pem: dict[str, str]) -> None:
    core = Config.from_mapping(base(tls=pem)).to_core_dict()
    assert core["frontends"][0]["tls"]["alpn"] == ["h2", "http/1.1"]
    # Set by the user: kept as given (here HTTP/1.1 only).
    only_h1 = base(tls={**pem, "alpn": ["http/1.1"]})
    assert Config.from_mapping(only_h1).to_core_dict()["frontends"][0]["tls"]["alpn"] == [
        "http/1.1"
    ]
    # A tcp frontend relays whatever it is: no ALPN unless asked for.
    tcp = base(tls=pem)
    tcp["frontends"][0]["mode"] = "tcp"
    assert Config.from_mapping(tcp).to_core_dict()["frontends"][0]["tls"]["alpn"] == []


# ---- mistakes, each named by its field --------------------------------------------------

ROUTES = f"{WEB}.http.routes"
BAD_CONFIGS: dict[str, tuple[Callable[[dict[str, Any]], None], str]] = {
    "route to an unknown backend": (
        set_at("frontends.0.http", {"routes": [{"backend": "web"}, {"backend": "apo"}]}),
        f"{ROUTES}[1].backend: no backend named 'apo' (defined: web, api)",
    ),
    "route with backend and redirect": (
        set_at(
            "frontends.0.http",
            {"routes": [{"backend": "web", "redirect": {"scheme": "https"}}]},
        ),
        f"{ROUTES}[0]: a route needs exactly one of backend and redirect",
    ),
    "route with neither": (
        set_at("frontends.0.http", {"routes": [{"backend": "web"}, {"match": {"path": "/"}}]}),
        f"{ROUTES}[1]: a route needs exactly one of backend and redirect",
    ),
    "redirect route editing headers": (
        set_at(
            "frontends.0.http",
            {"routes": [{"redirect": {"scheme": "https"}, "request_headers": {"remove": ["A"]}}]},
        ),
        f"{ROUTES}[0]: request_headers: a redirect route forwards nothing to edit",
    ),
    "redirect to the same URL": (
        set_at("frontends.0.http", {"routes": [{"redirect": {"code": 301}}]}),
        f"{ROUTES}[0].redirect: a redirect needs scheme, host or path_prefix",
    ),
    "redirect code": (
        set_at("frontends.0.http", {"routes": [{"redirect": {"scheme": "https", "code": 300}}]}),
        f"{ROUTES}[0].redirect.code: must be 301, 302, 303, 307 or 308 (got 300)",
    ),
    "redirect scheme": (
        set_at("frontends.0.http", {"routes": [{"redirect": {"scheme": "ftp"}}]}),
        f"{ROUTES}[0].redirect.scheme: input should be 'http' or 'https' (got 'ftp')",
    ),
    "redirect host port": (
        set_at("frontends.0.http", {"routes": [{"redirect": {"host": "example.com:99999"}}]}),
        f"{ROUTES}[0].redirect.host: invalid host 'example.com:99999': the port must be",
    ),
    "match host with a scheme": (
        set_at(
            "frontends.0.http",
            {"routes": [{"match": {"host": "https://a.example"}, "backend": "web"}]},
        ),
        f"{ROUTES}[0].match.host: invalid host 'https://a.example'",
    ),
    "match path with a query": (
        set_at("frontends.0.http", {"routes": [{"match": {"path": "/a?b=1"}, "backend": "web"}]}),
        f"{ROUTES}[0].match.path: invalid path '/a?b=1': must start with '/' and contain no '?'",
    ),
    "match path and path_prefix": (
        set_at(
            "frontends.0.http",
            {"routes": [{"match": {"path": "/a", "path_prefix": "/b"}, "backend": "web"}]},
        ),
        f"{ROUTES}[0].match: give path or path_prefix, not both",
    ),
    "match method": (
        set_at(
            "frontends.0.http", {"routes": [{"match": {"method": ["GET /"]}, "backend": "web"}]}
        ),
        f"{ROUTES}[0].match.method: invalid method 'GET /': must be a token like GET",
    ),
    "match header twice": (
        set_at(
            "frontends.0.http",
            {"routes": [{"match": {"header": {"X-A": "1", "x-a": "2"}}, "backend": "web"}]},
        ),
        f"{ROUTES}[0].match.header: header 'x-a' is given twice",
    ),
    "header name not a token": (
        set_at("frontends.0.http", {"request_headers": {"set": {"X Env": "prod"}}}),
        f"{WEB}.http.request_headers.set[0][0]: invalid header name 'X Env': must be an "
        "RFC 9110 token",
    ),
    "header value with CRLF": (
        set_at("frontends.0.http", {"response_headers": {"add": [["X-A", "a\r\nSet-Cookie: x"]]}}),
        f"{WEB}.http.response_headers.add[0][1]: invalid header value 'a\\r\\nSet-Cookie: x': "
        "no CR, LF, NUL",
    ),
    "header value with NUL": (
        set_at("frontends.0.http", {"request_headers": {"set": {"X-A": "a\x00"}}}),
        f"{WEB}.http.request_headers.set[0][1]: invalid header value",
    ),
    "framing header edited": (
        set_at("frontends.0.http", {"request_headers": {"remove": ["Transfer-Encoding"]}}),
        f"{WEB}.http.request_headers.remove[0]: 'Transfer-Encoding' cannot be edited",
    ),
    "header pair of three": (
        set_at("frontends.0.http", {"request_headers": {"add": [["X-A", "1", "2"]]}}),
        f"{WEB}.http.request_headers.add[0]: tuple should have at most 2 items",
    ),
    "http section on a tcp frontend": (
        set_at("frontends.0.mode", "tcp"),
        f"{WEB}.http: only used by mode 'http' frontends (this one is mode 'tcp')",
    ),
    "max_header_size": (
        set_at("frontends.0.http", {"max_header_size": 512}),
        f"{WEB}.http.max_header_size: must be between 1024 and 1048576 (got 512)",
    ),
    "max_headers": (
        set_at("frontends.0.http", {"max_headers": 0}),
        f"{WEB}.http.max_headers: must be between 1 and 1000 (got 0)",
    ),
    "request_timeout": (
        set_at("frontends.0.http", {"request_timeout": "soon"}),
        f"{WEB}.http.request_timeout: invalid duration 'soon'",
    ),
    "unknown http key": (
        set_at("frontends.0.http", {"keepalive": "5s"}),
        f"{WEB}.http.keepalive: unknown key; did you mean 'keepalive_timeout'?",
    ),
    "x_forwarded_for_except": (
        set_at("frontends.0.http", {"forwarded": {"x_forwarded_for_except": ["10.0.0.0/33"]}}),
        f"{WEB}.http.forwarded.x_forwarded_for_except[0]: invalid CIDR block '10.0.0.0/33'",
    ),
    "access log directory": (
        set_at("frontends.0.http", {"access_log": {"path": "/nonexistent-fastlb/access.log"}}),
        f"{WEB}.http.access_log.path: cannot write /nonexistent-fastlb/access.log: no such "
        "directory /nonexistent-fastlb",
    ),
    "access log format": (
        set_at("frontends.0.http", {"access_log": {"path": "-", "format": "combined"}}),
        f"{WEB}.http.access_log.format: input should be 'json', 'clf' or 'haproxy'",
    ),
    "accept_proxy from anyone": (
        set_at("frontends.0.accept_proxy", True),
        f"{WEB}.trusted_proxies: accept_proxy needs the addresses of the load balancers in front",
    ),
    "trusted_proxies": (
        set_at("frontends.0.trusted_proxies", ["10.0.0.300"]),
        f"{WEB}.trusted_proxies[0]: invalid CIDR block '10.0.0.300'",
    ),
    "proxy_timeout": (
        set_at("frontends.0.proxy_timeout", "0s"),
        f"{WEB}.proxy_timeout: must be longer than 0s",
    ),
    "send_proxy": (
        set_at("backends.0.send_proxy", "v3"),
        "backends[0] (web).send_proxy: input should be 'v1' or 'v2' (got 'v3')",
    ),
    "check_send_proxy without send_proxy": (
        set_at("backends.0.check_send_proxy", True),
        "backends[0] (web).check_send_proxy: needs send_proxy (v1 or v2)",
    ),
    "backend pool": (
        set_at("backends.1.http", {"max_idle": -1}),
        "backends[1] (api).http.max_idle: must be between 0 and 100000 (got -1)",
    ),
    "backend pool timeout": (
        set_at("backends.1.http", {"response_timeout": "0ms"}),
        "backends[1] (api).http.response_timeout: must be longer than 0s",
    ),
}


@pytest.mark.parametrize("case", list(BAD_CONFIGS))
def test_bad_http_config_is_refused_naming_the_field(case: str) -> None:
    mutate, expected = BAD_CONFIGS[case]
    data = base(http={})
    mutate(data)
    found = problems(data)
    assert len(found) == 1, found
    path, message = found[0]
    assert f"{path}: {message}".startswith(expected), found


def test_trusted_proxies_without_accept_proxy_only_in_mode_http() -> None:
    # mode http believes their X-Forwarded-For; mode tcp has nothing to believe without PROXY.
    Config.from_mapping(base(trusted_proxies=["10.0.0.0/8"]))
    data = base(trusted_proxies=["10.0.0.0/8"])
    data["frontends"][0]["mode"] = "tcp"
    assert problems(data) == [
        (
            f"{WEB}.trusted_proxies",
            "only used with accept_proxy: true (or by mode 'http' for X-Forwarded-For)",
        )
    ]


def test_tls_http_frontend_rules(pem: dict[str, str]) -> None:
    data = base(tls={**pem, "alpn": ["h2", "spdy/3"], "required": False}, http={"h2c": True})
    assert sorted(problems(data)) == [
        (
            f"{WEB}.http.h2c",
            "h2c is HTTP/2 over plaintext; with tls, HTTP/2 is offered by ALPN "
            "(tls.alpn: [h2, http/1.1])",
        ),
        (
            f"{WEB}.tls.alpn",
            "an http frontend speaks h2, http/1.0, http/1.1; cannot offer 'spdy/3'",
        ),
        (
            f"{WEB}.tls.required",
            "only mysql frontends can take plaintext clients beside TLS ones; a http frontend "
            "with tls speaks TLS from the first byte",
        ),
    ]


def test_access_log_must_be_writable(tmp_path: Path) -> None:
    assert problems(base(http={"access_log": {"path": str(tmp_path)}})) == [
        (f"{WEB}.http.access_log.path", f"{tmp_path} is a directory; give the log file's path")
    ]


def test_check_send_proxy_needs_a_health_check() -> None:
    data = base()
    data["backends"][0].update(send_proxy="v2", check_send_proxy=True)
    assert problems(data) == [
        ("backends[0] (web).check_send_proxy", "this backend has no health_check")
    ]
