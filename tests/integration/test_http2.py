"""HTTP/2 to clients in `mode: http` (src/http/h2/): real clients (curl, h2load, nghttp)
over TLS with ALPN `h2` and over h2c prior knowledge, real servers (nginx, and a Python
HTTP/1.1 echo server for uploads and chunked responses) behind fastlb's HTTP/1.1 pool."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
import subprocess
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx  # httpx[http2] (a dev dependency) brings the h2 package
import pytest

from .clients import wait_until
from .http_backends import Nginx, http_config
from .pki import TestCA
from .proc import FastlbProcess, free_port, frontend_port

Start = Callable[[dict[str, Any]], FastlbProcess]

BIG = 8 * 1024 * 1024


def named(name: str, root: Path) -> str:
    """nginx locations: `/` and `/a/...`, `/b/...` answer the server's name; `/big.bin` is a
    static file; every response says who served it."""
    return (
        f"add_header X-Served-By {name} always;"
        f"location / {{ return 200 '{name}'; }}"
        f"location = /big.bin {{ root {root}; }}"
    )


def read_chunked(stream: Any) -> bytes:
    body = bytearray()
    while True:
        size = int(stream.readline().split(b";")[0], 16)
        if size == 0:
            while stream.readline() not in (b"\r\n", b"\n", b""):
                pass
            return bytes(body)
        body.extend(stream.read(size))
        stream.readline()


class Echo(BaseHTTPRequestHandler):
    """Answers with what it received: body length, digest and framing, and the fields.
    `GET /chunked` answers a chunked body with a trailer."""

    protocol_version = "HTTP/1.1"

    def do_POST(self) -> None:
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            body, framing = read_chunked(self.rfile), "chunked"
        else:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            framing = "length" if "Content-Length" in self.headers else "none"
        self.answer(
            {
                "length": len(body),
                "sha256": hashlib.sha256(body).hexdigest(),
                "framing": framing,
                "headers": {k.lower(): v for k, v in self.headers.items()},
            }
        )

    do_PUT = do_POST

    def do_GET(self) -> None:
        if self.path.startswith("/chunked"):
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.send_header("Trailer", "X-Checksum")
            self.end_headers()
            for i in range(100):
                piece = f"line {i}\n".encode()
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.write(b"0\r\nX-Checksum: 42\r\n\r\n")
            return
        self.answer({"path": self.path, "headers": {k.lower(): v for k, v in self.headers.items()}})

    def answer(self, document: dict[str, Any]) -> None:
        data = json.dumps(document).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@contextlib.contextmanager
def echo_server() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Echo)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class Site:
    """fastlb over TLS (ALPN h2, http/1.1) and a plaintext h2c frontend, in front of nginx
    `a` (weight 3) and `b` (weight 1), the echo server, and a server that is down."""

    def __init__(self, tmp_path: Path, fastlb: Start, stack: contextlib.ExitStack) -> None:
        root = tmp_path / "www"
        root.mkdir()
        self.big = os.urandom(BIG)
        (root / "big.bin").write_bytes(self.big)
        self.a = Nginx(tmp_path / "nginx-a", "a", named("a", root))
        stack.callback(self.a.close)
        self.b = Nginx(tmp_path / "nginx-b", "b", named("b", root))
        stack.callback(self.b.close)
        echo = stack.enter_context(echo_server())
        ca = TestCA(tmp_path)
        site = ca.issue("site", ["localhost"], ips=("127.0.0.1",))
        servers = [
            {"name": "a", "address": self.a.address, "weight": 3},
            {"name": "b", "address": self.b.address, "weight": 1},
        ]
        routes = [
            {"match": {"path_prefix": "/old/"}, "redirect": {"path_prefix": "/new", "code": 301}},
            {"match": {"path_prefix": "/echo"}, "backend": "echo"},
            {"match": {"path_prefix": "/chunked"}, "backend": "echo"},
            {"match": {"path_prefix": "/down/"}, "backend": "down"},
            {"match": {"path_prefix": "/a/"}, "backend": "only-a"},
            {"match": {"path_prefix": "/b/"}, "backend": "only-b"},
        ]
        # max_idle above the streams in flight (4 x 50 in the h2load test): each finished
        # stream's server connection is kept for the next one.
        self.access_log = tmp_path / "access.log"
        log = {"path": str(self.access_log), "format": "json"}
        config = http_config(
            servers, http={"routes": routes, "access_log": log}, backend_http={"max_idle": 256}
        )
        config["frontends"][0]["tls"] = {**site.files, "alpn": ["h2", "http/1.1"]}
        plain = {
            **config["frontends"][0],
            "name": "h2c",
            "http": {"h2c": True, "routes": routes},
        }
        plain.pop("tls")
        plain["listen"] = f"127.0.0.1:{free_port()}"
        config["frontends"].append(plain)
        config["backends"] += [
            {"name": "echo", "servers": [{"name": "echo", "address": echo}]},
            {
                "name": "down",
                "retries": 1,
                "servers": [{"name": "gone", "address": f"127.0.0.1:{free_port()}"}],
            },
            {"name": "only-a", "servers": [{"name": "a", "address": self.a.address}]},
            {"name": "only-b", "servers": [{"name": "b", "address": self.b.address}]},
        ]
        self.proxy = fastlb(config)
        self.port = frontend_port(config)
        self.h2c_port = frontend_port(config, "h2c")
        self.url = f"https://127.0.0.1:{self.port}"

    def frontend(self, name: str = "web") -> dict[str, Any]:
        return dict(self.proxy.stats()["frontends"][name]["http"])


@pytest.fixture
def site(tmp_path: Path, fastlb: Start) -> Iterator[Site]:
    with contextlib.ExitStack() as stack:
        yield Site(tmp_path, fastlb, stack)


def curl(*args: str, data: bytes | None = None) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        ["curl", "-sS", "-k", "--max-time", "30", *args],
        input=data,
        capture_output=True,
        timeout=60,
        check=True,
    )


def test_curl_gets_http2_and_http11_on_the_same_tls_frontend(site: Site) -> None:
    for flag, version in (("--http2", "2"), ("--http1.1", "1.1")):
        answer = curl(flag, "-w", "\n%{http_version}", f"{site.url}/echo/x?q=1")
        body, _, seen = answer.stdout.rpartition(b"\n")
        assert seen.decode() == version
        document = json.loads(body)
        assert document["path"] == "/echo/x?q=1"
        headers = document["headers"]
        assert headers["host"] == f"127.0.0.1:{site.port}"
        assert headers["x-forwarded-proto"] == "https"
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert "te" not in headers and "connection" not in headers
    assert site.frontend()["h2_connections"] == 1


def test_h2load_streams_are_balanced_by_weight(site: Site) -> None:
    run = subprocess.run(
        ["h2load", "-n", "2000", "-c", "4", "-m", "50", f"{site.url}/"],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    assert "2000 succeeded, 0 failed, 0 errored" in run.stdout, run.stdout
    assert re.search(r"status codes: 2000 2xx", run.stdout), run.stdout
    # One worker, one smooth weighted round robin over every stream of every connection.
    assert (len(site.a.lines(1500)), len(site.b.lines(500))) == (1500, 500)
    # 200 streams in flight at most: the pool bounds the server connections, far below 2000.
    assert site.a.connections() <= 200 and site.b.connections() <= 200
    stats = site.frontend()
    assert stats["h2_connections"] == 4
    assert stats["requests"] == 2000 and stats["responses"]["2xx"] == 2000


def test_concurrent_streams_of_one_connection_reach_their_routes(site: Site) -> None:
    urls = [f"{site.url}/{'ab'[i % 2]}/{i}" for i in range(60)]
    answer = curl(
        "--http2",
        "-Z",
        "--parallel-max",
        "60",
        "-w",
        "%{http_version} %{url} %header{x-served-by}\n",
        *[arg for url in urls for arg in ("-o", "/dev/null", url)],
    )
    lines = answer.stdout.decode().splitlines()
    assert len(lines) == 60
    for line in lines:
        version, url, served_by = line.split()
        assert version == "2"
        assert url.split("/")[3] == served_by, line
    # curl multiplexed them: all on one or a few connections, never one per request.
    assert site.frontend()["h2_connections"] <= 3


def test_a_large_response_arrives_whole_through_small_windows(site: Site) -> None:
    answer = curl("--http2", f"{site.url}/big.bin")
    assert hashlib.sha256(answer.stdout).digest() == hashlib.sha256(site.big).digest()
    # nghttp with 64 KiB stream and connection windows: fastlb must wait for WINDOW_UPDATEs.
    run = subprocess.run(
        ["nghttp", "-w", "16", "-W", "16", f"{site.url}/big.bin"],
        capture_output=True,
        timeout=60,
        check=True,
    )
    assert len(run.stdout) == BIG
    assert run.stdout == site.big


def test_uploads_arrive_intact_with_and_without_a_length(site: Site) -> None:
    payload = os.urandom(3 * 1024 * 1024 + 17)
    digest = hashlib.sha256(payload).hexdigest()
    with_length = json.loads(
        curl("--http2", "--data-binary", "@-", f"{site.url}/echo", data=payload).stdout
    )
    assert (with_length["length"], with_length["sha256"]) == (len(payload), digest)
    assert with_length["framing"] == "length"
    # `-T -`: no Content-Length over HTTP/2, so fastlb sends the body chunked.
    streamed = json.loads(curl("--http2", "-T", "-", f"{site.url}/echo/up", data=payload).stdout)
    assert (streamed["length"], streamed["sha256"]) == (len(payload), digest)
    assert streamed["framing"] == "chunked"


def test_a_chunked_response_is_dechunked_into_data_frames(site: Site) -> None:
    answer = curl("--http2", "-i", f"{site.url}/chunked")
    head, _, body = answer.stdout.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/2 200")
    assert b"transfer-encoding" not in head.lower()
    lines = b"".join(f"line {i}\n".encode() for i in range(100))
    # curl -i prints the trailers after the body: the server's trailer made it as HTTP/2
    # trailers (a HEADERS frame after the DATA).
    assert body == lines + b"x-checksum: 42\r\n"


def test_a_redirect_route_answers_on_the_stream(site: Site) -> None:
    answer = curl(
        "--http2", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", f"{site.url}/old/x?y=1"
    )
    # A relative Location (no scheme or host in the redirect: HAProxy's `redirect prefix`),
    # resolved by curl.
    assert answer.stdout.decode() == f"301 {site.url}/new/old/x?y=1"
    assert site.frontend()["redirects"] == 1


def test_each_stream_has_an_access_log_record(site: Site) -> None:
    curl("--http2", "-o", "/dev/null", f"{site.url}/a/logged")
    curl("--http2", "-o", "/dev/null", f"{site.url}/down/logged")

    def records() -> list[dict[str, Any]]:
        """The records once both are written (the writer flushes when idle)."""
        if not site.access_log.exists():
            return []
        lines = site.access_log.read_text().splitlines()
        return [json.loads(line) for line in lines] if len(lines) >= 2 else []

    logged = wait_until(records, timeout=10)
    by_path = {record["path"]: record for record in logged}
    ok, down = by_path["/a/logged"], by_path["/down/logged"]
    assert (ok["protocol"], ok["status"], ok["backend"], ok["server"]) == (
        "HTTP/2.0",
        200,
        "only-a",
        "a",
    )
    assert ok["termination"] == "--"
    assert down["protocol"] == "HTTP/2.0" and down["status"] in (502, 503)
    assert down["termination"][0] == "S"


def test_a_server_down_fails_its_streams_only(site: Site) -> None:
    urls = [f"{site.url}/{'down' if i % 3 == 0 else 'a'}/{i}" for i in range(30)]
    args = [arg for url in urls for arg in ("-o", "/dev/null", url)]
    answer = curl("--http2", "-Z", "-w", "%{http_version} %{http_code} %{url}\n", *args)
    lines = answer.stdout.decode().splitlines()
    assert len(lines) == 30
    codes: Counter[str] = Counter()
    for line in lines:
        version, code, url = line.split()
        assert version == "2"
        expected = {"502", "503"} if "/down/" in url else {"200"}
        assert code in expected, line
        codes[url.split("/")[3]] += 1
    assert codes == {"down": 10, "a": 20}


def test_h2c_prior_knowledge_and_http11_share_a_plaintext_frontend(site: Site) -> None:
    url = f"http://127.0.0.1:{site.h2c_port}/echo/plain"
    for flag, version in (("--http2-prior-knowledge", "2"), ("--http1.1", "1.1")):
        answer = curl(flag, "-w", "\n%{http_version}", url)
        body, _, seen = answer.stdout.rpartition(b"\n")
        assert seen.decode() == version
        assert json.loads(body)["headers"]["x-forwarded-proto"] == "http"
    assert site.frontend("h2c")["h2_connections"] == 1


def test_httpx_http2_client(site: Site) -> None:
    """Python's httpx over HTTP/2 (needs the `h2` package: httpx[http2])."""
    with httpx.Client(http2=True, verify=False) as client:
        answers = [client.get(f"{site.url}/{'ab'[i % 2]}/{i}") for i in range(20)]
    assert all(a.http_version == "HTTP/2" for a in answers)
    assert [a.text for a in answers] == ["a", "b"] * 10
