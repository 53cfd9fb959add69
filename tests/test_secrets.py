"""No secret leaves fastlb: the API token and TLS private keys never appear in logs, stats,
metrics, the dashboard, the OpenAPI description or error messages; and the API warns when
it is reachable beyond this host without a token."""

from __future__ import annotations

import base64
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml
from integration.pki import TestCA

from fastlb import LoadBalancer
from fastlb.errors import ConfigError
from support import NamedHTTPBackend

TOKEN = "tok-3f9a1c7e-never-log-me"


def secret_config(backend: NamedHTTPBackend, tls: dict[str, str], **api: Any) -> dict[str, Any]:
    return {
        "workers": 1,
        "drain_timeout": "1s",
        "api": {"listen": "127.0.0.1:0", "token": TOKEN, **api},
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web", "tls": tls}],
        "backends": [{"name": "web", "servers": [{"name": "s1", "address": backend.address}]}],
    }


def key_fragments(key_path: Path) -> list[str]:
    """Pieces of the private key as they could leak: base64 lines of the PEM and the raw
    bytes they encode (hex)."""
    lines = [line for line in key_path.read_text().splitlines() if not line.startswith("-----")]
    raw = base64.b64decode("".join(lines))
    return [line[:24] for line in lines if len(line) >= 24] + [raw[-16:].hex()]


def test_token_and_key_appear_in_no_output(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
) -> None:
    (backend,) = named_backends("web-01")
    site = TestCA(tmp_path).issue("site", ["web.test"])
    config_file = tmp_path / "fastlb.yaml"
    config = secret_config(backend, site.files)
    config_file.write_text(yaml.safe_dump(config))
    outputs: list[str] = []
    caplog.set_level(logging.DEBUG)
    with LoadBalancer.from_file(config_file) as lb, httpx.Client(base_url=lb.api_url) as api:
        for path in ("/api/stats", "/metrics", "/", "/openapi.json", "/api/health"):
            response = api.get(path)
            assert response.status_code == 200, path
            outputs.append(response.text)
        # Errors: a wrong token, a wrong body, an invalid file on reload.
        wrong = {"Authorization": f"Bearer {TOKEN[:-1]}"}
        response = api.put("/api/backends/web/servers/s1", json={"weight": 2}, headers=wrong)
        assert response.status_code == 401
        outputs.append(response.text)
        good = {"Authorization": f"Bearer {TOKEN}"}
        response = api.put("/api/backends/web/servers/s1", json={"weight": "x"}, headers=good)
        assert response.status_code == 422
        outputs.append(response.text)
        config_file.write_text(
            yaml.safe_dump({**config, "api": {"listen": "127.0.0.1:0", "token": [TOKEN]}})
        )
        response = api.post("/api/reload", headers=good)
        assert response.status_code == 422, response.text
        outputs.append(response.text)
        outputs.append(repr(lb.config))
        outputs.append(repr(lb.stats()))
    outputs += [record.getMessage() for record in caplog.records]
    everything = "\n".join(outputs)
    assert "api.token" in everything, "the reload error should name the field"
    assert TOKEN not in everything
    for fragment in key_fragments(site.key_path):
        assert fragment not in everything


def test_an_unreadable_key_is_reported_without_its_content(
    named_backends: Callable[..., list[NamedHTTPBackend]], tmp_path: Path
) -> None:
    (backend,) = named_backends("web-01")
    site = TestCA(tmp_path).issue("site", ["web.test"])
    # A key file damaged in its middle: the core must say so without quoting it.
    lines = site.key_path.read_text().splitlines()
    lines[1] = "!!" + lines[1][2:]
    site.key_path.write_text("\n".join(lines) + "\n")
    with pytest.raises(ConfigError) as caught:
        LoadBalancer(secret_config(backend, site.files)).start()
    message = "\n".join(caught.value.lines())
    assert 'frontend "web": tls:' in message and str(site.key_path) in message, message
    for line in lines[1:-1]:
        assert line[2:20] not in message


@pytest.mark.parametrize(
    ("listen", "token", "warned"),
    [("0.0.0.0:0", None, True), ("0.0.0.0:0", TOKEN, False), ("127.0.0.1:0", None, False)],
)
def test_warns_when_the_api_is_exposed_without_a_token(
    named_backends: Callable[..., list[NamedHTTPBackend]],
    caplog: pytest.LogCaptureFixture,
    listen: str,
    token: str | None,
    warned: bool,
) -> None:
    (backend,) = named_backends("web-01")
    api: dict[str, Any] = {"listen": listen, **({"token": token} if token else {})}
    config = {
        "workers": 1,
        "api": api,
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [{"name": "web", "servers": [{"name": "s1", "address": backend.address}]}],
    }
    with caplog.at_level(logging.WARNING, logger="fastlb"), LoadBalancer(config):
        pass
    warnings = [r.getMessage() for r in caplog.records if "api.token" in r.getMessage()]
    assert bool(warnings) == warned, warnings
