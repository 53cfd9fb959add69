"""Locust user classes for fastlb's load tests: the traffic a web tier behind a load balancer sees.

Run by `make loadtest` (loadtests/runner.py picks one class per scenario), or on its own
against any HTTP load balancer:

    locust -f loadtests/locustfile.py --headless -u 64 -r 64 -t 30s --processes -1 \\
        --host http://127.0.0.1:8080 KeepAliveBrowser

Every user loops without think time (`constant(0)`): the test asks how much traffic each
load balancer carries and how fast, not how it behaves at a fixed arrival rate. Responses
are checked (status, and body size when `--small-bytes` / `--big-bytes` say what to expect),
so a truncated or wrong answer counts as a failure in Locust's stats.

A MySQL user (aiomysql, reads and writes through a `mode: mysql` frontend against HAProxy's
writer port + reader port twin) belongs here once fastlb has `mode: mysql` (issue 4).
"""

# Locust's event hooks and ResponseContextManager.success/failure carry no type annotations.
# mypy: disable-error-code="untyped-decorator,no-untyped-call"

from __future__ import annotations

from typing import Any

from locust import FastHttpUser, constant, events, task
from locust.contrib.fasthttp import ResponseContextManager
from locust.env import Environment
from locust.runners import Runner, WorkerRunner


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
