"""schemathesis against the API's own OpenAPI description, served by a real LoadBalancer in
front of real backends: generated requests (valid and invalid) never get a 5xx, and every
response conforms to the description (status codes, content types, bodies).

The schema is loaded at import time from the app's description (the same `create_app`),
and a test checks that the running API serves exactly that: schemathesis' lazy
`from_fixture` loader fails on pytest 9 (it sets `request.node._nodeid`).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from fastlb import LoadBalancer
from fastlb.api import create_app
from support import NamedHTTPBackend

TOKEN = "openapi-test-token"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


def make_config(servers: dict[str, str]) -> dict[str, Any]:
    return {
        "workers": 1,
        "drain_timeout": "1s",
        "api": {"listen": "127.0.0.1:0", "token": TOKEN},
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                "health_check": {"type": "tcp", "interval": "200ms"},
                "servers": [
                    {"name": name, "address": address} for name, address in servers.items()
                ],
            }
        ],
    }


def _description() -> dict[str, Any]:
    unstarted = LoadBalancer(make_config({"web-01": "127.0.0.1:9"}))
    description: dict[str, Any] = create_app(unstarted, token=TOKEN).openapi()
    return description


DESCRIPTION = _description()
schema = schemathesis.openapi.from_dict(DESCRIPTION)


@pytest.fixture(scope="module")
def balancer(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LoadBalancer]:
    """Loaded from a file (so that POST /api/reload works), with a token and a health check."""
    with NamedHTTPBackend("web-01") as web_01, NamedHTTPBackend("web-02") as web_02:
        path: Path = tmp_path_factory.mktemp("openapi") / "fastlb.yaml"
        servers = {"web-01": web_01.address, "web-02": web_02.address}
        path.write_text(yaml.safe_dump(make_config(servers)))
        with LoadBalancer.from_file(path) as lb:
            yield lb


def test_the_api_serves_this_description(balancer: LoadBalancer) -> None:
    served = httpx.get(f"{balancer.api_url}/openapi.json", timeout=10).json()
    assert served == DESCRIPTION


@schema.parametrize()
@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_api_conforms_to_its_openapi_description(
    case: schemathesis.Case, balancer: LoadBalancer
) -> None:
    case.call_and_validate(
        base_url=balancer.api_url, headers={"Authorization": f"Bearer {TOKEN}"}, checks=CHECKS
    )
