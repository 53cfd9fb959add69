"""Round trip: real HAProxy from an HTTP configuration, and fastlb from what `fastlb
import-haproxy` makes of it, in front of the same two small HTTP servers; the same requests
must get the same answers (status, Location, which server answered, the X-Forwarded-For it
saw). The one difference the import reports for this file, a client's own X-Forwarded-For
(HAProxy keeps it and adds a field; fastlb replaces it for clients outside
trusted_proxies), is checked as reported.

This needs fastlb's `mode: http` data path (issue 18).
"""

from __future__ import annotations

import http.client
import json
import shutil
import subprocess
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from threading import Thread
from typing import Any

import pytest

from support import LOOPBACK, fastlb_command, free_port, wait_for_port

HAPROXY_CFG = """\
defaults
    mode http
    timeout connect 5s
    timeout client 10s
    timeout server 10s

frontend web
    bind 127.0.0.1:{port}
    option forwardfor
    acl old path_beg /old/
    acl secure hdr(host) -i secure.example
    acl api path_beg /api/
    redirect prefix /new code 301 if old
    redirect scheme https if secure
    use_backend api if api
    default_backend app

backend app
    server app1 127.0.0.1:{app_port}

backend api
    server api1 127.0.0.1:{api_port}
"""


class EchoServer:
    """Answers every GET with JSON: its name, the path and the X-Forwarded-For fields seen."""

    def __init__(self, name: str) -> None:
        class Echo(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_GET(self) -> None:
                body = json.dumps(
                    {
                        "server": name,
                        "path": self.path,
                        "xff": self.headers.get_all("X-Forwarded-For") or [],
                    }
                ).encode()
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.httpd = ThreadingHTTPServer((LOOPBACK, 0), Echo)
        self.httpd.daemon_threads = True
        self.port = int(self.httpd.server_address[1])
        Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


def ask(port: int, path: str, headers: dict[str, str]) -> dict[str, Any]:
    """One request on a new connection: status, Location and what the server echoed."""
    connection = http.client.HTTPConnection(LOOPBACK, port, timeout=5)
    try:
        connection.request("GET", path, headers=headers)
        response = connection.getresponse()
        body = response.read()
        answer: dict[str, Any] = {"status": response.status}
        if response.status in (301, 302):
            answer["location"] = response.getheader("Location")
        else:
            echoed = json.loads(body)
            answer["server"], answer["path"] = echoed["server"], echoed["path"]
            answer["xff"] = echoed["xff"]
        return answer
    finally:
        connection.close()


REQUESTS = [
    ("/api/users?id=1", {}),
    ("/index.html", {}),
    ("/old/page?x=1", {}),
    ("/pay", {"Host": "secure.example"}),
    ("/API/upper", {}),  # path_beg is case-sensitive in both
]


@pytest.fixture
def servers() -> Iterator[tuple[EchoServer, EchoServer]]:
    app, api = EchoServer("app1"), EchoServer("api1")
    yield app, api
    app.close()
    api.close()


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def start(argv: list[str], port: int, log: Path, started: list[subprocess.Popen[bytes]]) -> None:
    with log.open("wb") as out:
        proc = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT)
    started.append(proc)
    try:
        wait_for_port(port, timeout=20)
    except TimeoutError:
        raise AssertionError(f"{argv[0]} did not start: {log.read_text()}") from None


def test_imported_config_behaves_like_haproxy(
    tmp_path: Path,
    servers: tuple[EchoServer, EchoServer],
    processes: list[subprocess.Popen[bytes]],
) -> None:
    haproxy = shutil.which("haproxy") or "/usr/sbin/haproxy"
    app, api = servers
    haproxy_port, fastlb_port = free_port(), free_port()
    cfg = tmp_path / "haproxy.cfg"
    cfg.write_text(HAPROXY_CFG.format(port=haproxy_port, app_port=app.port, api_port=api.port))
    start([haproxy, "-f", str(cfg), "-db"], haproxy_port, tmp_path / "haproxy.log", processes)

    # The same file, imported, with only the listening port changed.
    imported_cfg = tmp_path / "for-fastlb.cfg"
    imported_cfg.write_text(cfg.read_text().replace(str(haproxy_port), str(fastlb_port)))
    output = tmp_path / "fastlb.yaml"
    run = subprocess.run(
        [*fastlb_command(), "import-haproxy", str(imported_cfg), "-o", str(output)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 0, run.stderr
    assert "fastlb replaces an X-Forwarded-For sent by a client" in run.stderr
    start(
        [*fastlb_command(), "serve", "-c", str(output)],
        fastlb_port,
        tmp_path / "fastlb.log",
        processes,
    )

    for path, headers in REQUESTS:
        expected = ask(haproxy_port, path, headers)
        try:
            got = ask(fastlb_port, path, headers)
        except OSError as exc:
            log = (tmp_path / "fastlb.log").read_text()
            pytest.fail(f"fastlb (mode http) did not answer {path}: {exc!r}\n{log}")
        assert got == expected, f"{path}: HAProxy {expected}, fastlb {got}"
    assert ask(haproxy_port, "/api/x", {})["server"] == "api1"  # the test can tell them apart

    # The reported difference: a client's own X-Forwarded-For.
    forged = {"X-Forwarded-For": "203.0.113.9"}
    assert ask(haproxy_port, "/", forged)["xff"] == ["203.0.113.9", "127.0.0.1"]
    assert ask(fastlb_port, "/", forged)["xff"] == ["127.0.0.1"]
