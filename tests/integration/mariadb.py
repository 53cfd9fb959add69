"""Private MariaDB servers for the integration tests: the pytest fixtures over
fastlb.harness.mariadb (whose names the tests import from here too).

Use the fixtures from a test module by binding them at module level (pytest collects them
under their fixture names, `mariadb` and `mariadb_template`):

    from . import mariadb as mariadb_helpers
    mariadb_fixture = mariadb_helpers.mariadb_fixture
    mariadb_template_fixture = mariadb_helpers.mariadb_template_fixture

    def test_x(mariadb: Callable[..., MariaDB]) -> None:
        db = mariadb()            # started, ready for connections
        db.stop(); db.start()     # same port, same datadir
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest

from fastlb.harness.mariadb import (
    PASSWORD,
    SERVER_OPTIONS,
    USER,
    MariaDB,
    MariaDBMissingError,
    Template,
    find_binaries,
    install_template,
    read_greeting,
    sysbench_command,
)

__all__ = [
    "PASSWORD",
    "SERVER_OPTIONS",
    "USER",
    "MariaDB",
    "Template",
    "find_binaries",
    "install_template",
    "mariadb_fixture",
    "mariadb_template_fixture",
    "read_greeting",
    "sysbench_command",
]


@pytest.fixture(scope="session", name="mariadb_template")
def mariadb_template_fixture() -> Iterator[Template]:
    """Once per session: a freshly initialised datadir every MariaDB instance copies. Fails
    the test (naming the package to install) when MariaDB is missing."""
    try:
        binaries = find_binaries()
    except MariaDBMissingError as error:
        pytest.fail(str(error), pytrace=False)
    # Short paths: the unix socket path of an instance must stay under 108 bytes.
    root = Path(tempfile.mkdtemp(prefix="fastlb-mariadb-template-"))
    try:
        install_template(binaries, root / "data")
        yield Template(binaries, root / "data")
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(name="mariadb")
def mariadb_fixture(mariadb_template: Template) -> Iterator[Callable[..., MariaDB]]:
    """Factory: `mariadb(port=None, options=())` starts a private mariadbd and waits until it
    greets; all are stopped (by pid) and their datadirs removed at teardown, their logs
    printed (shown when the test fails)."""
    started: list[tuple[MariaDB, Path]] = []

    def start(port: int | None = None, options: Sequence[str] = ()) -> MariaDB:
        workdir = Path(tempfile.mkdtemp(prefix="fastlb-mariadb-"))
        server = MariaDB(
            mariadb_template.binaries,
            mariadb_template.datadir,
            workdir,
            port=port,
            options=options,
        )
        started.append((server, workdir))
        return server.start()

    yield start
    for server, workdir in started:
        try:
            server.close()
            print(f"--- mariadbd log ({server.address}, {workdir}) ---\n{server.log()}")
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
