"""A real MariaDB primary + read-only replica for the MySQL routing tests: the pytest fixtures
over fastlb.harness.replication (whose names the tests import from here too).

Use from a test module (the pair is shared by the module's tests and reset between them):

    from . import mariadb as mariadb_helpers
    from . import replication as replication_helpers
    mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture
    replication_pair_fixture = replication_helpers.replication_pair_fixture
    replication_fixture = replication_helpers.replication_fixture

    def test_x(replication: ReplicationPair) -> None:
        replication.primary.sql("INSERT INTO fastlb.t VALUES (1)")
        replication.wait_replicated()
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from fastlb.harness.mariadb import Template
from fastlb.harness.replication import (
    APP_PASSWORD,
    APP_USER,
    COMMON_OPTIONS,
    DATABASE,
    MONITOR_PASSWORD,
    MONITOR_USER,
    PRIMARY_SERVER_ID,
    REPLICA_SERVER_ID,
    REPLICATION_TIMEOUT,
    SETUP_SQL,
    ReplicationError,
    ReplicationPair,
    SharedPair,
)

__all__ = [
    "APP_PASSWORD",
    "APP_USER",
    "COMMON_OPTIONS",
    "DATABASE",
    "MONITOR_PASSWORD",
    "MONITOR_USER",
    "PRIMARY_SERVER_ID",
    "REPLICATION_TIMEOUT",
    "REPLICA_SERVER_ID",
    "SETUP_SQL",
    "ReplicationError",
    "ReplicationPair",
    "replication_fixture",
    "replication_pair_fixture",
]


@pytest.fixture(scope="module", name="replication_pair")
def replication_pair_fixture(mariadb_template: Template) -> Iterator[SharedPair]:
    """Once per module: the holder of a primary/replica pair (started by the first test that
    asks for `replication`), stopped by pid and removed at the module's end."""
    shared = SharedPair(mariadb_template)
    try:
        yield shared
    finally:
        shared.close()


@pytest.fixture(name="replication")
def replication_fixture(replication_pair: SharedPair) -> Iterator[ReplicationPair]:
    """A running primary/replica pair in the standard topology (reset before each test: both
    up, no delay, caught up, an empty `fastlb` database). The servers' logs are printed at
    teardown (shown when the test fails)."""
    pair = replication_pair.get()
    yield pair
    print(pair.log())
