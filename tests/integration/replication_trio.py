"""A MariaDB primary and two GTID replicas for the failover tests: the pytest fixtures over
fastlb.harness.replication_trio (whose names the tests import from here too)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from fastlb.harness.mariadb import Template
from fastlb.harness.replication_trio import NAMES, SEMI_SYNC, ReplicationTrio, fastlb_config

__all__ = [
    "NAMES",
    "SEMI_SYNC",
    "ReplicationTrio",
    "fastlb_config",
    "make_trio_fixture",
    "trio_fixture",
]


@pytest.fixture(name="make_trio")
def make_trio_fixture(mariadb_template: Template) -> Iterator[Callable[..., ReplicationTrio]]:
    """Factory: `make_trio(extra_options=())` starts a fresh trio (failover tests change the
    topology for good); all are stopped at teardown and their logs printed."""
    made: list[ReplicationTrio] = []

    def make(extra: tuple[str, ...] = ()) -> ReplicationTrio:
        workdir = Path(tempfile.mkdtemp(prefix="fastlb-trio-"))
        trio = ReplicationTrio(mariadb_template, workdir, extra)
        made.append(trio)
        return trio.start()

    yield make
    for trio in made:
        try:
            trio.close()
            print(trio.log())
        finally:
            shutil.rmtree(trio.workdir, ignore_errors=True)


@pytest.fixture(name="trio")
def trio_fixture(make_trio: Callable[..., ReplicationTrio]) -> ReplicationTrio:
    return make_trio()
