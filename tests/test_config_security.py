"""The security sections of the configuration (TLS, ACL, per-source and global limits):
what the core receives, and clear errors naming the field for every mistake."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastlb.cli import main
from fastlb.config import Config, load_config
from fastlb.errors import ConfigError


@pytest.fixture
def pem(tmp_path: Path) -> dict[str, str]:
    """Two files standing for a certificate and its key (the config only checks they can be
    read; the core parses them)."""
    cert, key = tmp_path / "site.pem", tmp_path / "site.key"
    cert.write_text("certificate\n")
    key.write_text("key\n")
    return {"cert": str(cert), "key": str(key)}


def config(frontend: dict[str, Any] | None = None, **top: Any) -> dict[str, Any]:
    return {
        "frontends": [
            {"name": "web", "listen": "127.0.0.1:0", "backend": "web", **(frontend or {})}
        ],
        "backends": [{"name": "web", "servers": [{"name": "s1", "address": "localhost:9001"}]}],
        **top,
    }


def problems(data: dict[str, Any]) -> list[tuple[str, str]]:
    with pytest.raises(ConfigError) as caught:
        Config.from_mapping(data)
    return caught.value.problems


def test_security_settings_reach_the_core(pem: dict[str, str]) -> None:
    frontend = {
        "tls": {**pem, "alpn": ["h2", "http/1.1"], "min_version": 1.3, "handshake_timeout": "3s"},
        "acl": {"allow": ["10.1.2.3/8", "::ffff:192.0.2.0/120"], "deny": ["10.6.6.6"]},
        "max_connections_per_source": 50,
        "connection_rate_per_source": {"connections": 20, "window": "10s"},
    }
    core = Config.from_mapping(config(frontend, max_connections=1000)).to_core_dict()
    assert core["max_connections"] == 1000
    web = core["frontends"][0]
    assert web["tls"] == {
        "certificates": [pem],
        "alpn": ["h2", "http/1.1"],
        "min_version": "1.3",
        "handshake_timeout_ms": 3000,
        "session_resumption": True,
        "required": True,
    }
    # Networks are normalised; an IPv4-mapped block becomes the IPv4 block it means.
    assert web["acl"] == {"allow": ["10.0.0.0/8", "192.0.2.0/24"], "deny": ["10.6.6.6/32"]}
    assert web["max_connections_per_source"] == 50
    assert web["connection_rate_per_source"] == {"connections": 20, "window_ms": 10000}


def test_relative_paths_become_absolute_and_sni_lists_keep_their_order(
    pem: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    certificates = [{"cert": "site.pem", "key": "site.key"}, pem]
    core = Config.from_mapping(config({"tls": {"certificates": certificates}})).to_core_dict()
    assert core["frontends"][0]["tls"]["certificates"] == [pem, pem]


def test_backend_tls_passes_the_configured_host_names(tmp_path: Path, pem: dict[str, str]) -> None:
    data = config()
    data["backends"][0]["tls"] = {"verify": True, "ca": pem["cert"]}
    data["backends"][0]["servers"].append({"name": "s2", "address": "127.0.0.1:9002"})
    backend = Config.from_mapping(data).to_core_dict()["backends"][0]
    assert backend["tls"] == {"verify": True, "ca": pem["cert"], "server_name": None}
    # The name the server was given (its certificate carries it), not the resolved address.
    assert [s.get("tls_name") for s in backend["servers"]] == ["localhost", None]
    plain = Config.from_mapping(config()).to_core_dict()
    assert "tls_name" not in plain["backends"][0]["servers"][0]
    assert "tls" not in plain["frontends"][0] and "max_connections" not in plain


@pytest.mark.parametrize(
    ("frontend", "field", "message"),
    [
        ({"tls": {"cert": "x"}}, "tls.cert", "no such file: x"),
        ({"tls": {}}, "tls", "needs cert and key"),
        ("key only", "tls", "cert is required with key"),
        ("both forms", "tls", "either cert and key, or certificates"),
        ({"tls": {"certificates": []}}, "tls.certificates", "at least 1 item"),
        ("min 1.1", "tls.min_version", "input should be '1.2' or '1.3'"),
        ("empty alpn", "tls.alpn[0]", "at least 1 character"),
        ("plaintext too", "tls.required", "only mysql frontends can take plaintext clients"),
        ({"acl": {"allow": ["10.0.0.0/33"]}}, "acl.allow[0]", "invalid CIDR block '10.0.0.0/33'"),
        ({"acl": {"deny": ["example.com"]}}, "acl.deny[0]", "invalid CIDR block 'example.com'"),
        ({"acl": {"permit": []}}, "acl.permit", "unknown key"),
        ({"max_connections_per_source": 0}, "max_connections_per_source", "at least 1"),
        (
            {"connection_rate_per_source": {"connections": 0, "window": "1s"}},
            "connection_rate_per_source.connections",
            "must be between 1 and",
        ),
        (
            {"connection_rate_per_source": {"connections": 5, "window": "0s"}},
            "connection_rate_per_source.window",
            "longer than 0s",
        ),
    ],
)
def test_bad_frontend_security_names_the_field(
    pem: dict[str, str], frontend: Any, field: str, message: str
) -> None:
    named = {
        "key only": {"tls": {"key": pem["key"]}},
        "both forms": {"tls": {**pem, "certificates": [pem]}},
        "min 1.1": {"tls": {**pem, "min_version": 1.1}},
        "empty alpn": {"tls": {**pem, "alpn": [""]}},
        "plaintext too": {"tls": {**pem, "required": False}},
    }
    found = problems(
        config(named.get(frontend, frontend) if isinstance(frontend, str) else frontend)
    )
    assert any(path == f"frontends[0] (web).{field}" and message in text for path, text in found), (
        found
    )


def test_global_limit_and_backend_tls_mistakes(pem: dict[str, str]) -> None:
    assert problems(config(max_connections=0)) == [
        ("max_connections", "must be at least 1 (got 0)")
    ]
    data = config()
    data["backends"][0]["tls"] = {"verify": "maybe"}
    assert problems(data)[0][0] == "backends[0] (web).tls.verify"
    data["backends"][0]["tls"] = {"ca": pem["cert"]}
    data["backends"][0]["health_check"] = {"type": "http"}
    assert problems(data) == [
        (
            "backends[0] (web).health_check.type",
            "'http' checks speak plaintext; with tls use 'tcp' checks",
        )
    ]


def test_check_exits_2_naming_a_missing_certificate(
    write_config: Callable[..., Path], capsys: pytest.CaptureFixture[str]
) -> None:
    path = write_config(yaml.safe_dump(config({"tls": {"cert": "/nope.pem", "key": "/nope.key"}})))
    assert main(["check", "-c", str(path)]) == 2
    output = capsys.readouterr().err
    assert "frontends[0] (web).tls.cert: no such file: /nope.pem" in output
    assert "frontends[0] (web).tls.key: no such file: /nope.key" in output


def test_a_mistyped_token_is_never_quoted_back(write_config: Callable[..., Path]) -> None:
    path = write_config(yaml.safe_dump(config(api={"token": ["s3cr3t-value"]})))
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    text = "\n".join(caught.value.lines())
    assert "api.token" in text
    assert "s3cr3t-value" not in text
    good = Config.from_mapping(config(api={"token": "s3cr3t-value"}))
    assert "s3cr3t-value" not in repr(good) and "s3cr3t-value" not in str(good)


def test_check_loads_the_certificates_like_serve_would(
    write_config: Callable[..., Path], pem: dict[str, str], capsys: pytest.CaptureFixture[str]
) -> None:
    # The files exist, so the config is valid as far as Python can tell; the core reads them.
    path = write_config(yaml.safe_dump(config({"tls": pem})))
    assert main(["check", "-c", str(path)]) == 2
    output = capsys.readouterr().err
    assert f'frontend "web": tls: certificate {pem["cert"]} / key {pem["key"]}' in output, output
    assert "no certificate found" in output
