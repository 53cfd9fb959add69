"""Locust user classes for fastlb's load tests: the traffic a web tier behind a load balancer sees.

Run by `make loadtest` (bench/locust/runner.py picks one class per scenario), or on its own
against any HTTP load balancer (from the repo root):

    PYTHONPATH=. locust -f bench/locust/locustfile.py --headless -u 64 -r 64 -t 30s \\
        --processes -1 --host http://127.0.0.1:8080 KeepAliveBrowser

Every user loops without think time (`constant(0)`): the test asks how much traffic each
load balancer carries and how fast, not how it behaves at a fixed arrival rate. Responses
are checked (status, and body size when `--small-bytes` / `--big-bytes` say what to expect),
so a truncated or wrong answer counts as a failure in Locust's stats.

`MySQLUser` mixes reads and writes on MariaDB (its `--host` is a `mysql://` URL, see
bench/locust/mysql_workload.py). It uses PyMySQL, not aiomysql: Locust runs each user as a
gevent greenlet and monkey-patches the socket module, so pure-Python blocking PyMySQL yields
to the other users on every network wait, while aiomysql would need an asyncio event loop
inside each greenlet, blocking gevent's hub whenever it runs.
"""

# Locust's event hooks and ResponseContextManager.success/failure carry no type annotations.
# mypy: disable-error-code="untyped-decorator,no-untyped-call"

from __future__ import annotations

import contextlib
import random
import time
from collections.abc import Callable
from typing import Any

import pymysql
from locust import FastHttpUser, User, constant, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.runners import Runner, WorkerRunner

from bench.locust.mysql_workload import EVENTS, ITEMS, ROWS, Endpoint, parse_url


@events.init_command_line_parser.add_listener
def _add_arguments(parser: Any) -> None:
    # configargparse: each option can also come from the environment.
    parser.add_argument(
        "--small-path", default="/", env_var="LOADTEST_SMALL_PATH", help="small page's path"
    )
    parser.add_argument(
        "--small-bytes",
        type=int,
        default=0,
        env_var="LOADTEST_SMALL_BYTES",
        help="expected size of the small page (0: don't check)",
    )
    parser.add_argument(
        "--big-path", default="/big", env_var="LOADTEST_BIG_PATH", help="large download's path"
    )
    parser.add_argument(
        "--big-bytes",
        type=int,
        default=0,
        env_var="LOADTEST_BIG_BYTES",
        help="expected size of the large download (0: don't check)",
    )


@events.init.add_listener
def _only_the_master_writes_json(environment: Environment, runner: Runner, **_: Any) -> None:
    # Locust 2.47's --processes drops --csv in the forked workers but not --json-file: each
    # worker would then overwrite the master's JSON at exit with its own stats, which it
    # empties every time it reports to the master (seen as a `[]` file).
    if isinstance(runner, WorkerRunner) and environment.parsed_options is not None:
        environment.parsed_options.json_file = None


def check(response: ResponseContextManager, expected_bytes: int) -> None:
    """Mark the request failed unless it is a 200 with the whole body we expect."""
    if response.request_meta["exception"] is not None:
        return  # connection refused, reset, timeout: Locust records the error itself
    if response.status_code != 200:
        response.failure(f"HTTP status {response.status_code}")
    elif expected_bytes and len(response.content or b"") != expected_bytes:
        response.failure(f"body of {len(response.content or b'')} bytes, expected {expected_bytes}")
    else:
        response.success()


class KeepAliveBrowser(FastHttpUser):
    """A browser on one kept-alive connection, fetching small pages back to back."""

    wait_time = constant(0)

    @task
    def small_page(self) -> None:
        options = self.environment.parsed_options
        with self.client.get(options.small_path, name="small page", catch_response=True) as r:
            check(r, options.small_bytes)


class NewConnectionClient(FastHttpUser):
    """A client that opens a new TCP connection for every request (`Connection: close`):
    the load balancer's accept + connect path, not just its relay."""

    wait_time = constant(0)

    @task
    def small_page(self) -> None:
        options = self.environment.parsed_options
        with self.client.get(
            options.small_path,
            name="small page, new connection",
            headers={"Connection": "close"},
            catch_response=True,
        ) as r:
            check(r, options.small_bytes)


class LargeDownloader(FastHttpUser):
    """A user downloading a large file on a kept-alive connection: the relay's bulk path."""

    wait_time = constant(0)
    network_timeout = 120.0

    @task
    def download(self) -> None:
        options = self.environment.parsed_options
        with self.client.get(options.big_path, name="large download", catch_response=True) as r:
            check(r, options.big_bytes)


class WrongResult(Exception):
    """A statement ran but did not do what it should have (a missing row, nothing updated)."""


class MySQLUser(User):
    """An application's database session: 80% point selects by primary key, 10% updates, 10%
    inserts, autocommit. Reads go to the URL's `reader` endpoint, writes to its writer (one
    connection for both when they are the same: the load balancer splits). A failed statement
    counts as a Locust failure and its connection is opened again for the next one."""

    wait_time = constant(0)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.target = parse_url(self.host or "")
        self.connections: dict[Endpoint, pymysql.Connection[Any]] = {}

    def connection(self, where: Endpoint) -> pymysql.Connection[Any]:
        if where not in self.connections:
            self.connections[where] = pymysql.connect(
                host=where.host,
                port=where.port,
                user=self.target.user,
                password=self.target.password,
                database=self.target.database,
                autocommit=True,
                # Neither side offers TLS; without this PyMySQL loads the system's CA bundle
                # for every connection (~50 ms of CPU each, which stalls a gevent worker).
                ssl_disabled=True,
                connect_timeout=10,
                read_timeout=30,
                write_timeout=30,
            )
        return self.connections[where]

    def on_start(self) -> None:
        # Log in at once, as an application's pool does, rather than inside the first timed
        # statement (not timed: the measured stretch is the statements); a failed login is a
        # failure of its own, and the next statement tries again.
        for where in {self.target.writer, self.target.reader}:
            try:
                self.connection(where)
            except (pymysql.Error, OSError) as exc:
                self.environment.events.request.fire(
                    request_type="SQL",
                    name="login",
                    response_time=0,
                    response_length=0,
                    exception=exc,
                    context={},
                )

    def on_stop(self) -> None:
        for connection in self.connections.values():
            connection.close()
        self.connections.clear()

    def timed(self, name: str, where: Endpoint, statement: Callable[[Any], None]) -> None:
        """Time `statement(cursor)` (including a reconnect, if one is needed) as a request."""
        started = time.perf_counter()
        error: Exception | None = None
        try:
            with self.connection(where).cursor() as cursor:
                statement(cursor)
        except WrongResult as exc:
            error = exc
        except (pymysql.Error, OSError) as exc:
            error = exc
            broken = self.connections.pop(where, None)
            if broken is not None:
                with contextlib.suppress(pymysql.Error, OSError):
                    broken.close()
        self.environment.events.request.fire(
            request_type="SQL",
            name=name,
            response_time=(time.perf_counter() - started) * 1000,
            response_length=0,
            exception=error,
            context={},
        )

    @task(8)
    def point_select(self) -> None:
        item = random.randint(1, ROWS)

        def select(cursor: Any) -> None:
            cursor.execute(f"SELECT id, counter, note FROM {ITEMS} WHERE id = %s", (item,))
            rows = cursor.fetchall()
            if len(rows) != 1 or rows[0][0] != item:
                raise WrongResult(f"SELECT of id {item} returned {rows!r}")

        self.timed("point select", self.target.reader, select)

    @task(1)
    def update(self) -> None:
        item = random.randint(1, ROWS)

        def update(cursor: Any) -> None:
            cursor.execute(f"UPDATE {ITEMS} SET counter = counter + 1 WHERE id = %s", (item,))
            if cursor.rowcount != 1:
                raise WrongResult(f"UPDATE of id {item} changed {cursor.rowcount} rows")

        self.timed("update", self.target.writer, update)

    @task(1)
    def insert(self) -> None:
        item = random.randint(1, ROWS)

        def insert(cursor: Any) -> None:
            cursor.execute(
                f"INSERT INTO {EVENTS} (item, note) VALUES (%s, %s)", (item, "load test")
            )
            if cursor.rowcount != 1:
                raise WrongResult(f"INSERT inserted {cursor.rowcount} rows")

        self.timed("insert", self.target.writer, insert)
