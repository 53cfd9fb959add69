"""What `fastlb demo` must serve and leave behind, checked from a checkout (test_cli.py), from a
wheel installed in a fresh venv (test_packaging.py) and through a switchover
(test_demo_switchover.py)."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.request
from pathlib import Path

import pymysql

from support import http_get

# How long `fastlb demo` (or `serve`) may take to stop once told to.
STOP_TIMEOUT = 20.0


def check_demo(argv: list[str], env: dict[str, str] | None = None) -> None:
    """Runs `fastlb demo` (argv) to its end and checks what it serves and leaves behind (also
    used by the wheel's test, with the fastlb a fresh venv installed from the wheel)."""
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    mariadbds: dict[int, str] = {}
    workdir: Path | None = None
    try:
        assert process.stdout is not None
        banner = ""
        while "Ctrl-C" not in banner:
            line = process.stdout.readline()
            assert line, f"demo exited early: {process.communicate()}"
            banner += line
        frontend = re.search(r"curl (http://127\.0\.0\.1:\d+/)", banner)
        api = re.search(r"curl (http://127\.0\.0\.1:\d+)/api/stats", banner)
        assert frontend and api, banner
        assert f"{api[1]}/metrics" in banner
        assert f"fastlb ctl set-weight web web-03 5 --api {api[1]}" in banner
        assert f"dashboard: {api[1]}/\n" in banner
        answers = {http_get(frontend[1]) for _ in range(6)}
        # HTTP mode: balanced per request, and each server saw the client's address.
        assert answers == {f"hello from web-0{i} to 127.0.0.1\n" for i in (1, 2, 3)}
        stats = json.loads(http_get(f"{api[1]}/api/stats"))
        assert stats["frontends"]["web"]["total_connections"] >= 6
        assert stats["frontends"]["web"]["http"]["requests"] >= 6
        check_demo_https(banner, frontend[1])

        mariadbds = mariadbd_children(process.pid)
        data = re.search(r"data in (\S+/fastlb-demo-mysql-\w+)\n", banner)
        assert data, banner
        workdir = Path(data[1])
        assert len(mariadbds) == 2, mariadbds
        assert all(datadir.startswith(f"{workdir}/") for datadir in mariadbds.values())
        check_demo_mysql(banner, api[1])

        _, stderr = process.communicate(timeout=STOP_TIMEOUT)
        assert process.returncode == 0, stderr
        assert "stopped" in stderr
        assert not [pid for pid in mariadbds if is_mariadbd(pid)], "mariadbd left running"
        assert not workdir.exists()
    finally:
        stop_demo(process, mariadbds, workdir)


def stop_demo(
    process: subprocess.Popen[str], mariadbds: dict[int, str], workdir: Path | None = None
) -> None:
    """The end of every demo test, passed or failed: kills the demo if it still runs,
    SIGKILLs the mariadbd it started (`mariadbd_children`) if it failed to stop them, and
    removes its MariaDB directory (`workdir`, else the one holding their datadirs), which the
    demo removes itself when it stops cleanly."""
    if process.poll() is None:
        process.kill()
        process.communicate()
    for pid in mariadbds:
        if is_mariadbd(pid):
            os.kill(pid, signal.SIGKILL)
    # Each datadir is <workdir>/<role>/data.
    leftovers = {Path(datadir).parent.parent for datadir in mariadbds.values()}
    if workdir is not None:
        leftovers.add(workdir)
    for directory in leftovers:
        shutil.rmtree(directory, ignore_errors=True)


def check_demo_https(banner: str, frontend: str) -> None:
    """The printed redirect answers 301 to the HTTPS frontend, which serves the same servers
    over TLS; the access log names the requests."""
    https = re.search(r"curl -k --http2 (https://127\.0\.0\.1:\d+/)", banner)
    log = re.search(r"tail -f (\S+access\.log)\n", banner)
    assert https and log, banner
    assert f"curl -ik {frontend}login" in banner
    host, port = frontend.removeprefix("http://").rstrip("/").rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=5) as client:
        client.sendall(
            b"GET /login?next=/ HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n"
        )
        answer = b""
        while chunk := client.recv(4096):
            answer += chunk
    head = answer.split(b"\r\n\r\n", 1)[0].decode()
    assert head.startswith("HTTP/1.1 301"), head
    assert f"\r\nlocation: {https[1]}login?next=/" in head.lower(), head
    insecure = ssl.create_default_context()
    insecure.check_hostname = False
    insecure.verify_mode = ssl.CERT_NONE
    with urllib.request.urlopen(f"{https[1]}login", timeout=5, context=insecure) as response:
        assert response.read().decode().endswith(" to 127.0.0.1\n")
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and "/login" not in Path(log[1]).read_text():
        time.sleep(0.05)
    assert "GET /login?next=/ HTTP/1.1" in Path(log[1]).read_text()


def check_demo_mysql(banner: str, api: str) -> None:
    """Through the printed port: a read answered by the replica (server_id 2), an INSERT run
    by the primary (it records @@server_id 1) and seen by the next read on the replica
    (causal reads); the routing counters in /api/stats and /metrics; the printed commands."""
    client = re.search(r"mariadb -h 127\.0\.0\.1 -P (\d+) -u demo -pdemo demo -e ", banner)
    assert client, banner
    db = pymysql.connect(
        host="127.0.0.1",
        port=int(client[1]),
        user="demo",
        password="demo",
        database="demo",
        autocommit=True,  # PyMySQL's default (autocommit=0) keeps a session on the primary
    )
    with db, db.cursor() as cursor:
        cursor.execute("SELECT @@server_id")
        assert cursor.fetchone() == (2,)
        cursor.execute("SELECT note, written_on FROM notes ORDER BY id")
        assert cursor.fetchall() == (
            ("hello from the demo", 1),
            ("reads go to the replica", 1),
            ("writes go to the primary", 1),
        )
        cursor.execute("INSERT INTO notes (note, written_on) VALUES ('test', @@server_id)")
        cursor.execute("SELECT written_on, @@server_id FROM notes WHERE note = 'test'")
        assert cursor.fetchone() == (1, 2)
    mysql = json.loads(http_get(f"{api}/api/stats"))["frontends"]["sql"]["mysql"]
    assert mysql["queries_primary"] >= 1 and mysql["queries_replica"] >= 3, mysql
    metrics = http_get(f"{api}/metrics")
    assert 'fastlb_mysql_queries_total{proxy="sql",route="replica"}' in metrics
    # The printed commands, as a user would paste them (the write adds row 5 after 'test').
    for command, expected_last_line in (("read", "2"), ("write", "5\tmine\t1\t2")):
        printed = re.search(rf"  {command}: +(mariadb .*)\n", banner)
        assert printed, banner
        result = subprocess.run(
            [*shlex.split(printed[1]), "--batch"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.splitlines()[-1] == expected_last_line, result.stdout


def mariadbd_children(parent: int) -> dict[int, str]:
    """The mariadbd processes `parent` started: pid -> their --datadir."""
    children = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            comm_and_rest = stat.read_text().split(" (", 1)[1]
            cmdline = (stat.parent / "cmdline").read_bytes().decode().split("\0")
        except (OSError, IndexError):
            continue  # gone meanwhile
        comm, rest = comm_and_rest.rsplit(") ", 1)
        if comm == "mariadbd" and int(rest.split()[1]) == parent:
            datadir = next(arg for arg in cmdline if arg.startswith("--datadir="))
            children[int(stat.parent.name)] = datadir.removeprefix("--datadir=")
    return children


def is_mariadbd(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip() == "mariadbd"
    except OSError:
        return False
