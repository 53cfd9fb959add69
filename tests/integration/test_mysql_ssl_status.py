"""`SHOW STATUS LIKE 'Ssl_%'` through a `mode: mysql` frontend describes the client's own
connection to fastlb (TLS here), not fastlb's connection to the server (plaintext here)."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from typing import Any

import pytest

from . import mariadb as mariadb_helpers
from .mariadb import Template
from .mysql_proxy import connect, proxy_config, running_proxy, sql_port, standalone_pair
from .pki import TestCA
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(60)


@pytest.fixture(scope="module")
def proxy(
    mariadb_template: Template, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[FastlbProcess, TestCA]]:
    ca = TestCA(tmp_path_factory.mktemp("pki"))
    with standalone_pair(mariadb_template) as pair:
        config = proxy_config(pair)
        site = ca.issue("proxy", ["sql.test"], ips=("127.0.0.1",))
        config["frontends"][0]["tls"] = {**site.files, "required": False}
        with running_proxy(config, tmp_path_factory.mktemp("fastlb")) as process:
            yield process, ca


def status(connection: Any, sql: str) -> dict[str, str]:
    with connection.cursor() as cursor:
        cursor.execute(sql)
        return {name: value for name, value in cursor.fetchall()}


def test_ssl_status_describes_the_clients_connection(proxy: tuple[FastlbProcess, TestCA]) -> None:
    process, ca = proxy
    context = ssl.create_default_context(cafile=str(ca.cert_path))
    with connect(sql_port(process), ssl=context) as session:
        seen = status(session, "SHOW STATUS LIKE 'Ssl_%'")
        assert seen["Ssl_version"] in ("TLSv1.2", "TLSv1.3"), seen
        assert seen["Ssl_cipher"].startswith("TLS"), seen
        assert status(session, "show session status like 'ssl_cipher'") == {
            "Ssl_cipher": seen["Ssl_cipher"]
        }
        assert status(session, "SHOW STATUS LIKE 'Ssl_version';") == {
            "Ssl_version": seen["Ssl_version"]
        }


def test_plaintext_clients_see_empty_values(proxy: tuple[FastlbProcess, TestCA]) -> None:
    process, _ = proxy
    with connect(sql_port(process), ssl_disabled=True) as session:
        seen = status(session, "SHOW STATUS LIKE 'Ssl_%'")
        assert seen["Ssl_version"] == "" and seen["Ssl_cipher"] == "", seen
