"""The shared routing table (tests/mysql_routing_cases.py) through a real `fastlb serve` and a
real `fastlb.mysql.Router`, both in front of the same two MariaDB servers (@@server_id 1 =
primary, 2 = replica): the proxy and the Router must send each case to the same server."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import mysql_routing_cases as table
import pymysql
import pytest

from fastlb.mysql import Router

from . import mariadb as mariadb_helpers
from .mariadb import PASSWORD, USER, Template
from .mysql_proxy import (
    PRIMARY_ID,
    REPLICA_ID,
    Pair,
    connect,
    proxy_config,
    running_proxy,
    server_id,
    sql_port,
    standalone_pair,
)
from .proc import FastlbProcess

mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

pytestmark = pytest.mark.timeout(60)

SERVER_IDS = {PRIMARY_ID: "primary", REPLICA_ID: "replica"}


@pytest.fixture(scope="module")
def pair(mariadb_template: Template) -> Iterator[Pair]:
    with standalone_pair(mariadb_template) as servers:
        for server in (servers.primary, servers.replica):
            server.sql(f"USE app; {table.TABLES}")
        yield servers


@pytest.fixture(scope="module")
def proxy(pair: Pair, tmp_path_factory: pytest.TempPathFactory) -> Iterator[FastlbProcess]:
    config = proxy_config(pair, rules=table.RULES)
    with running_proxy(config, tmp_path_factory.mktemp("fastlb")) as process:
        yield process


@pytest.mark.parametrize("case", table.CASES, ids=lambda case: case.id)
def test_the_proxy_follows_the_table(proxy: FastlbProcess, case: table.Case) -> None:
    flags = pymysql.constants.CLIENT.MULTI_STATEMENTS
    with connect(sql_port(proxy), client_flag=flags) as db:
        for statement in table.SETUP[case.session]:
            db.cursor().execute(statement)
        assert SERVER_IDS[server_id(db, case.sql)] == case.target, case.why


@pytest.mark.parametrize(
    "case", [case for case in table.CASES if case.session == "free"], ids=lambda case: case.id
)
def test_the_router_follows_the_table(pair: Pair, case: table.Case) -> None:
    # The Router runs each statement on a pooled autocommit connection: only free sessions
    # (the session states are covered against the policy itself, test_mysql_routing_policy).
    async def main() -> int:
        router = Router(
            pair.primary.address,
            [pair.replica.address],
            user=USER,
            password=PASSWORD,
            db="app",
            rules=table.RULE_TUPLES,
            monitor_interval=None,
        )
        async with router:
            row = await router.fetchone(case.sql)
        assert row is not None
        return int(row[0])

    assert SERVER_IDS[asyncio.run(main())] == case.target, case.why
