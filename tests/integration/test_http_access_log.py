"""The access log of a `mode: http` frontend end to end through `fastlb serve`: a line per
request in each format (json, haproxy, clf) for a normal request, a redirect and a refused
(400) request, and logrotate's dance: rename the file, SIGUSR1, new lines go to a new file."""

from __future__ import annotations

import json
import os
import re
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from .clients import wait_until
from .http_backends import NAMED, http_config, nginx_servers, request
from .proc import FastlbProcess, frontend_port

Start = Callable[[dict[str, Any]], FastlbProcess]

pytestmark = pytest.mark.timeout(60)

NORMAL = b"GET /index.html?q=1 HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
REDIRECT = b"GET /old/page HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n"
# Two Host fields: RFC 9112 §3.2 says 400.
BAD = b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n"


def lines_of(path: Path) -> list[str]:
    try:
        return path.read_text().splitlines()
    except FileNotFoundError:
        return []


def wait_lines(path: Path, count: int) -> list[str]:
    """The file's lines once it has at least `count` (the writer thread is asynchronous)."""
    assert wait_until(lambda: len(lines_of(path)) >= count, timeout=10), lines_of(path)
    return lines_of(path)


def check_line(fmt: str, line: str, status: int, target: str, termination: str) -> None:
    """`line` is one record in `fmt` for `target` answered with `status`, from 127.0.0.1,
    ended in HAProxy's `termination` state (json and haproxy formats carry it)."""
    if fmt == "json":
        record = json.loads(line)
        assert record["status"] == status, record
        assert record["client"] == "127.0.0.1", record
        assert record["frontend"] == "web", record
        assert record["termination"] == termination, record
        assert record["protocol"] == "HTTP/1.1", record
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", record["time"]), record
        if target:
            assert record["path"] == target, record
            assert record["method"] == "GET", record
            assert record["host"] == "example.com", record
        if status == 200:
            assert (record["backend"], record["server"]) == ("web", "a"), record
            assert record["bytes_out"] > 0, record
    elif fmt == "clf":
        match = re.fullmatch(
            r'127\.0\.0\.1 - - \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d \+0000\] "(.*)" (\d{3}) (\d+|-)',
            line,
        )
        assert match, line
        assert int(match[2]) == status, line
        if target:
            assert match[1] == f"GET {target} HTTP/1.1", line
    else:
        match = re.fullmatch(
            r"127\.0\.0\.1:\d+ \[\d\d/\w{3}/\d{4}:\d\d:\d\d:\d\d\.\d{3}\] web (\S+)/(\S+) "
            r"(-?\d+)/(-?\d+)/(-?\d+)/(-?\d+)/(\d+) (\d{3}) (\d+) - - (\S{4}) \S+ \S+ \"(.*)\"",
            line,
        )
        assert match, line
        assert int(match[8]) == status, line
        assert match[10][:2] == termination, line
        if target:
            assert match[11] == f"GET {target} HTTP/1.1", line
        if status == 200:
            assert (match[1], match[2]) == ("web", "a"), line


@pytest.mark.parametrize("fmt", ["json", "haproxy", "clf"])
def test_access_log_lines_and_reopen_after_rename(tmp_path: Path, fastlb: Start, fmt: str) -> None:
    log = tmp_path / "access.log"
    with nginx_servers(tmp_path, {"a": NAMED.format(name="a")}) as (a,):
        config = http_config(
            [{"name": "a", "address": a.address}],
            http={
                "access_log": {"path": str(log), "format": fmt},
                "routes": [
                    {"match": {"path_prefix": "/old/"}, "redirect": {"path_prefix": "/new"}}
                ],
            },
        )
        proxy = fastlb(config)
        port = frontend_port(config)

        assert request(port, NORMAL).startswith(b"HTTP/1.1 200 ")
        check_line(fmt, wait_lines(log, 1)[0], 200, "/index.html?q=1", "--")

        answer = request(port, REDIRECT)
        assert answer.startswith(b"HTTP/1.1 302 "), answer
        assert b"\r\nlocation: /new/old/page\r\n" in answer.lower(), answer
        check_line(fmt, wait_lines(log, 2)[1], 302, "/old/page", "LR")

        assert request(port, BAD).startswith(b"HTTP/1.1 400 ")
        check_line(fmt, wait_lines(log, 3)[2], 400, "", "PR")

        # logrotate: rename, then SIGUSR1 (postrotate); the old file keeps its three lines.
        rotated = tmp_path / "access.log.1"
        log.rename(rotated)
        os.kill(proxy.pid, signal.SIGUSR1)
        assert wait_until(lambda: "access logs reopened" in proxy.log(), timeout=10), proxy.log()
        assert request(port, NORMAL).startswith(b"HTTP/1.1 200 ")
        new = wait_lines(log, 1)
        assert len(new) == 1, new
        check_line(fmt, new[0], 200, "/index.html?q=1", "--")
        assert len(lines_of(rotated)) == 3, lines_of(rotated)
        assert proxy.alive()
        assert proxy.stats()["frontends"]["web"]["http"]["access_log_dropped"] == 0
