"""`fastlb serve` under systemd, without systemd: the sd_notify protocol against a unix
datagram socket the test owns (as systemd's is), the watchdog, journald-style and JSON logs.
The unit file itself is checked in test_packaging.py."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from fastlb.logs import JournalFormatter, JsonFormatter
from fastlb.notify import Notifier
from support import NamedHTTPBackend, fastlb_command, http_get

MESSAGE_TIMEOUT = 20.0


class NotifySocket:
    """The service manager's end: a bound datagram socket collecting sd_notify messages."""

    def __init__(self, address: str, bind_to: str | bytes) -> None:
        self.address = address  # what goes into $NOTIFY_SOCKET
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self._socket.bind(bind_to)

    def next(self, timeout: float = MESSAGE_TIMEOUT) -> dict[str, str]:
        """The next message as a dict; fails the test after `timeout` seconds."""
        self._socket.settimeout(timeout)
        try:
            data = self._socket.recv(4096)
        except TimeoutError:
            pytest.fail(f"no sd_notify message within {timeout}s")
        lines = data.decode().splitlines()
        return dict(line.split("=", 1) for line in lines if line)

    def next_without(self, key: str) -> dict[str, str]:
        """The next message that isn't only `key` (skips watchdog keep-alives)."""
        while True:
            message = self.next()
            if set(message) != {key}:
                return message

    def close(self) -> None:
        self._socket.close()


@pytest.fixture(params=["path", "abstract"])
def notify_socket(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[NotifySocket]:
    if request.param == "path":
        path = str(tmp_path / "notify.sock")
        sock = NotifySocket(path, path)
    else:  # systemd uses a path; sd_notify(3) also accepts '@' for the abstract namespace
        name = f"fastlb-test-{os.getpid()}-{time.monotonic_ns()}"
        sock = NotifySocket(f"@{name}", b"\0" + name.encode())
    yield sock
    sock.close()


def write_config(path: Path, backend: NamedHTTPBackend, **extra: Any) -> None:
    config = {
        "workers": 1,
        "drain_timeout": "1s",
        "frontends": [{"name": "web", "listen": "127.0.0.1:0", "backend": "web"}],
        "backends": [{"name": "web", "servers": [{"name": "web-01", "address": backend.address}]}],
        **extra,
    }
    path.write_text(yaml.safe_dump(config))


def start_serve(config: Path, env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [*fastlb_command(), "serve", "-c", str(config), *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, **env},
    )


def monotonic_usec() -> int:
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def test_ready_reloading_stopping(
    notify_socket: NotifySocket, tmp_path: Path, named_backends: Any
) -> None:
    (backend,) = named_backends("web-01")
    config = tmp_path / "fastlb.yaml"
    write_config(config, backend)
    process = start_serve(config, {"NOTIFY_SOCKET": notify_socket.address})
    try:
        ready = notify_socket.next()
        assert ready["READY"] == "1", ready
        # READY=1 comes after the listeners are bound: the address it names answers at once.
        match = re.search(r"web on (127\.0\.0\.1:\d+)", ready["STATUS"])
        assert match, ready
        assert http_get(f"http://{match.group(1)}/") == "hello from web-01\n"

        before = monotonic_usec()
        process.send_signal(signal.SIGHUP)
        reloading = notify_socket.next()
        assert reloading["RELOADING"] == "1", reloading
        assert before <= int(reloading["MONOTONIC_USEC"]) <= monotonic_usec()
        assert notify_socket.next()["READY"] == "1"

        # A reload that fails keeps serving: still READY=1 afterwards, the failure in STATUS.
        config.write_text("frontends: [}\n")
        process.send_signal(signal.SIGHUP)
        assert notify_socket.next()["RELOADING"] == "1"
        after_failure = notify_socket.next()
        assert after_failure["READY"] == "1"
        assert "reload failed" in after_failure["STATUS"]
        assert http_get(f"http://{match.group(1)}/") == "hello from web-01\n"

        process.send_signal(signal.SIGTERM)
        stopping = notify_socket.next()
        assert stopping["STOPPING"] == "1"
        # drain_timeout 1s + the margin for the rest: systemd waits that long before SIGKILL.
        assert int(stopping["EXTEND_TIMEOUT_USEC"]) == 11_000_000
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)


def test_watchdog_keepalives(tmp_path: Path, named_backends: Any) -> None:
    (backend,) = named_backends("web-01")
    config = tmp_path / "fastlb.yaml"
    write_config(config, backend)
    path = str(tmp_path / "notify.sock")
    sock = NotifySocket(path, path)
    # WatchdogSec=0.4s: a keep-alive at least every 0.2 s; WATCHDOG_PID unset = any pid.
    process = start_serve(config, {"NOTIFY_SOCKET": path, "WATCHDOG_USEC": "400000"})
    try:
        assert sock.next()["READY"] == "1"
        keepalives = [sock.next(timeout=2.0) for _ in range(3)]
        assert keepalives == [{"WATCHDOG": "1"}] * 3
        process.send_signal(signal.SIGTERM)
        assert sock.next_without("WATCHDOG")["STOPPING"] == "1"
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)
        sock.close()


def test_no_notify_socket_is_a_no_op(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("NOTIFY_SOCKET", raising=False)
    notifier = Notifier()
    assert not notifier.enabled
    assert notifier.ready("x") is False


def test_unreachable_notify_socket_is_logged_not_fatal(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    notifier = Notifier(str(tmp_path / "nobody-listens.sock"))
    assert notifier.enabled
    assert notifier.ready() is False
    assert "sd_notify READY=1" in caplog.text
    notifier.close()


def test_json_log_format(tmp_path: Path, named_backends: Any) -> None:
    (backend,) = named_backends("web-01")
    config = tmp_path / "fastlb.yaml"
    write_config(config, backend)
    path = str(tmp_path / "notify.sock")
    sock = NotifySocket(path, path)
    process = start_serve(config, {"NOTIFY_SOCKET": path}, "--log-format", "json")
    try:
        assert sock.next()["READY"] == "1"
        process.send_signal(signal.SIGTERM)
        _, stderr = process.communicate(timeout=20)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=20)
        sock.close()
    entries = [json.loads(line) for line in stderr.splitlines()]
    assert entries, "fastlb serve logged nothing"
    assert all({"time", "level", "logger", "message"} <= entry.keys() for entry in entries)
    assert any(e["level"] == "info" and e["logger"] == "fastlb" for e in entries), entries


def make_record(level: int, message: str, **extra: Any) -> Any:
    record = logging.LogRecord("fastlb", level, __file__, 1, message, None, None)
    record.__dict__.update(extra)
    return record


def test_json_formatter_fields() -> None:
    try:
        raise ValueError("boom")
    except ValueError:
        record = make_record(logging.ERROR, "reload failed\nsecond line", backend="web")
        record.exc_info = sys.exc_info()
    line = JsonFormatter().format(record)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["message"] == "reload failed\nsecond line"
    assert entry["backend"] == "web"
    assert "ValueError: boom" in entry["exception"]
    assert entry["time"].endswith("+00:00")


def test_journald_priority_prefix(tmp_path: Path, named_backends: Any) -> None:
    """Under systemd ($JOURNAL_STREAM names stderr) lines carry `<N>` priorities and no
    timestamp; with the variable naming some other stream, the plain text format stays."""
    (backend,) = named_backends("web-01")
    config = tmp_path / "fastlb.yaml"
    write_config(config, backend)
    outputs = []
    for matches in (True, False):
        path = str(tmp_path / f"notify-{matches}.sock")
        sock = NotifySocket(path, path)
        with open(tmp_path / f"stderr-{matches}.log", "w+") as stderr:
            info = os.fstat(stderr.fileno())
            stream = f"{info.st_dev}:{info.st_ino}" if matches else f"{info.st_dev}:1"
            process = subprocess.Popen(
                [*fastlb_command(), "serve", "-c", str(config)],
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=stderr,
                env={**os.environ, "NOTIFY_SOCKET": path, "JOURNAL_STREAM": stream},
            )
            try:
                assert sock.next()["READY"] == "1"
                process.send_signal(signal.SIGTERM)
                assert process.wait(timeout=20) == 0
            finally:
                if process.poll() is None:
                    process.kill()
                    process.wait(timeout=20)
                sock.close()
            stderr.seek(0)
            outputs.append(stderr.read().splitlines())
    journal, text = outputs
    assert journal and all(re.match(r"<[2-7]>[\w.]+: ", line) for line in journal), journal
    assert any(line.startswith("<6>fastlb: ") for line in journal)
    assert text and all(re.match(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ ", line) for line in text)


def test_journal_formatter_keeps_priority_on_every_line() -> None:
    record = make_record(logging.WARNING, "first\nsecond")
    assert JournalFormatter().format(record) == "<4>fastlb: first\n<4>second"


def test_sigusr2_upgrade_hands_the_service_to_a_new_main_pid(
    tmp_path: Path, named_backends: Any
) -> None:
    """`systemctl reload` (SIGUSR2): the running process starts `fastlb serve --upgrade`,
    which takes its sockets and tells systemd it is the main process now (MAINPID=, READY=1);
    the old one drains and exits 0 without STOPPING=1, which would stop the unit."""
    (backend,) = named_backends("web-01")
    config = tmp_path / "fastlb.yaml"
    write_config(config, backend)
    path = str(tmp_path / "notify.sock")
    notify_socket = NotifySocket(path, path)
    env = {"NOTIFY_SOCKET": path, "XDG_RUNTIME_DIR": str(tmp_path)}
    process = start_serve(config, env)
    new_pid = None
    try:
        ready = notify_socket.next()
        match = re.search(r"web on (127\.0\.0\.1:\d+)", ready["STATUS"])
        assert match, ready
        process.send_signal(signal.SIGUSR2)
        assert notify_socket.next()["RELOADING"] == "1"
        upgraded = notify_socket.next()
        new_pid = int(upgraded["MAINPID"])
        assert upgraded["READY"] == "1" and new_pid not in (process.pid, os.getpid())
        # The same port (port 0 in the file: the socket itself was handed over).
        assert f"web on {match.group(1)}" in upgraded["STATUS"]
        assert process.wait(timeout=30) == 0
        assert http_get(f"http://{match.group(1)}/") == "hello from web-01\n"
        os.kill(new_pid, signal.SIGTERM)
        assert notify_socket.next()["STOPPING"] == "1"
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=20)
        if new_pid is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(new_pid, signal.SIGKILL)
        notify_socket.close()
