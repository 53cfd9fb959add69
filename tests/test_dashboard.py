"""The live dashboard (`GET /`) rendered by a real headless Chromium (Debian's `chromium`)
against a real LoadBalancer carrying real traffic: the DOM after the page's own polling, a
screenshot decoded and checked pixel by pixel, and the page's behaviour when the API fails.

Chromium is installed here when missing and we are root (`apt-get install -y chromium`);
otherwise the tests fail and say how to install it. They are never skipped.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import struct
import subprocess
import threading
import time
import urllib.error
import urllib.request
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from html.parser import HTMLParser
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest
from http_stats import responses, with_http

from fastlb import LoadBalancer
from fastlb.api.dashboard import page
from fastlb.harness.background import BackgroundLoop
from support import LOOPBACK, NamedHTTPBackend, http_get

CHROMIUM = Path("/usr/bin/chromium")
TOKEN = "dashboard-test-token"
SERVERS = ("web-01", "web-02")
WIDTH, HEIGHT = 1280, 900
# Colours the page draws with (fixed in both colour schemes): the UP badge and the first two
# series colours (chart lines, legend and table swatches).
UP_GREEN = (0x1A, 0x7F, 0x37)
SERIES = ((0x4E, 0x79, 0xA7), (0xF2, 0x8E, 0x2B))


# ---- Chromium ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's chromium, installed with apt when missing and we are root."""
    if not os.access(CHROMIUM, os.X_OK):
        if os.geteuid() != 0:
            pytest.fail(
                f"{CHROMIUM} is missing: the dashboard tests need Debian's chromium "
                "(sudo apt-get install -y chromium)",
                pytrace=False,
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        install = ["apt-get", "install", "-y", "-q", "chromium"]
        if subprocess.run(install, env=env, capture_output=True, timeout=900).returncode != 0:
            subprocess.run(["apt-get", "update", "-q"], env=env, capture_output=True, timeout=600)
            done = subprocess.run(install, env=env, capture_output=True, text=True, timeout=900)
            if done.returncode != 0:
                pytest.fail(f"apt-get install chromium failed:\n{done.stderr[-2000:]}")
        if not os.access(CHROMIUM, os.X_OK):
            pytest.fail(f"apt-get installed chromium but {CHROMIUM} is still missing")
    return CHROMIUM


def run_chromium(
    chromium: Path, profile: Path, url: str, *args: str, budget_ms: int = 5000
) -> subprocess.CompletedProcess[str]:
    """Headless Chromium on `url` with a fresh profile; the page's timers run on virtual time
    (`budget_ms` of it), so one second of polling costs a network round trip, not a second."""
    shutil.rmtree(profile, ignore_errors=True)
    command = [
        str(chromium),
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        "--hide-scrollbars",
        f"--user-data-dir={profile}",
        f"--virtual-time-budget={budget_ms}",
        *args,
        url,
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, f"chromium exited {done.returncode}:\n{done.stderr[-3000:]}"
    return done


def dump_dom(chromium: Path, tmp_path: Path, url: str) -> DashboardDom:
    done = run_chromium(chromium, tmp_path / "profile-dom", url, "--dump-dom")
    assert "</html>" in done.stdout, f"no DOM from chromium:\n{done.stderr[-3000:]}"
    return DashboardDom.parse(done.stdout)


# ---- the rendered DOM --------------------------------------------------------------------


@dataclass
class DashboardDom:
    """What the page shows, read from the DOM by its `id` / `data-*` hooks."""

    ids: dict[str, str]  # element id -> its text
    frontends: dict[str, dict[str, str]]  # frontend -> data-field -> text
    servers: dict[str, dict[str, str]]  # server -> data-field -> text
    canvases: int
    backends: dict[str, dict[str, str]]  # backend -> data-field -> text (outside server rows)

    @classmethod
    def parse(cls, html: str) -> DashboardDom:
        """Fields inside a `hidden` element are left out (the page hides what does not apply,
        e.g. the HTTP numbers of a tcp frontend)."""
        reader = _DomReader()
        reader.feed(html)
        reader.close()
        return cls(reader.ids, reader.frontends, reader.servers, reader.canvases, reader.backends)


class _DomReader(HTMLParser):
    VOID = frozenset({"br", "hr", "img", "input", "link", "meta", "col", "source", "wbr"})

    def __init__(self) -> None:
        super().__init__()
        self.ids: dict[str, str] = {}
        self.frontends: dict[str, dict[str, str]] = {}
        self.servers: dict[str, dict[str, str]] = {}
        self.backends: dict[str, dict[str, str]] = {}
        self.canvases = 0
        # Open elements: (tag, id, field, frontend, server, collected text parts, backend,
        # hidden)
        self._stack: list[
            tuple[str, str | None, str | None, str | None, str | None, list[str], str | None, bool]
        ]
        self._stack = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "canvas":
            self.canvases += 1
        if tag in self.VOID:
            return
        a = dict(attrs)
        frontend = a.get("data-frontend") or (self._stack[-1][3] if self._stack else None)
        server = a.get("data-server") or (self._stack[-1][4] if self._stack else None)
        backend = a.get("data-backend") or (self._stack[-1][6] if self._stack else None)
        hidden = "hidden" in a or (self._stack[-1][7] if self._stack else False)
        self._stack.append(
            (tag, a.get("id"), a.get("data-field"), frontend, server, [], backend, hidden)
        )

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID or not self._stack:
            return
        while self._stack:
            open_tag, ident, field, frontend, server, parts, backend, hidden = self._stack.pop()
            text = " ".join("".join(parts).split())
            if self._stack:
                self._stack[-1][5].append("".join(parts))
            if ident:
                self.ids[ident] = text
            if hidden:
                pass
            elif field and server:
                self.servers.setdefault(server, {})[field] = text
            elif field and frontend:
                self.frontends.setdefault(frontend, {})[field] = text
            elif field and backend:
                self.backends.setdefault(backend, {})[field] = text
            if open_tag == tag:
                break

    def handle_data(self, data: str) -> None:
        if self._stack:
            self._stack[-1][5].append(data)


def count(text: str) -> int:
    """`1,234` -> 1234 (the page groups thousands)."""
    return int(text.replace(",", ""))


# ---- PNG -----------------------------------------------------------------------------------


@dataclass
class Png:
    width: int
    height: int
    pixels: list[bytes]  # one bytes object of RGB triplets per row

    def colours(self) -> dict[tuple[int, int, int], int]:
        histogram: dict[tuple[int, int, int], int] = {}
        for row in self.pixels:
            for i in range(0, len(row), 3):
                key = (row[i], row[i + 1], row[i + 2])
                histogram[key] = histogram.get(key, 0) + 1
        return histogram


def decode_png(data: bytes) -> Png:
    """A minimal PNG decoder (8-bit RGB/RGBA, no interlace: what Chromium writes)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG file"
    pos, idat, header = 8, bytearray(), None
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        assert zlib.crc32(kind + body) == struct.unpack(">I", data[pos + 8 + length :][:4])[0]
        if kind == b"IHDR":
            header = struct.unpack(">IIBBBBB", body)
        elif kind == b"IDAT":
            idat += body
        elif kind == b"IEND":
            break
        pos += 12 + length
    assert header is not None, "PNG without IHDR"
    width, height, depth, colour_type, _, _, interlace = header
    assert (depth, interlace) == (8, 0) and colour_type in (2, 6), f"unsupported PNG {header}"
    bpp = 3 if colour_type == 2 else 4
    raw = zlib.decompress(bytes(idat))
    stride = width * bpp
    assert len(raw) == height * (stride + 1), "truncated PNG data"
    previous = bytearray(stride)
    rows: list[bytes] = []
    for y in range(height):
        start = y * (stride + 1)
        kind, line = raw[start], bytearray(raw[start + 1 : start + 1 + stride])
        if kind == 1:
            for i in range(bpp, stride):
                line[i] = (line[i] + line[i - bpp]) & 0xFF
        elif kind == 2:
            line = bytearray((a + b) & 0xFF for a, b in zip(line, previous, strict=True))
        elif kind == 3:
            for i in range(stride):
                left = line[i - bpp] if i >= bpp else 0
                line[i] = (line[i] + ((left + previous[i]) >> 1)) & 0xFF
        elif kind == 4:
            for i in range(stride):
                a = line[i - bpp] if i >= bpp else 0
                b, c = previous[i], previous[i - bpp] if i >= bpp else 0
                p = a + b - c
                pa, pb, pc = abs(p - a), abs(p - b), abs(p - c)
                pred = a if pa <= pb and pa <= pc else b if pb <= pc else c
                line[i] = (line[i] + pred) & 0xFF
        else:
            assert kind == 0, f"bad PNG filter {kind}"
        previous = line
        if bpp == 4:
            rgb = bytearray(width * 3)
            rgb[0::3], rgb[1::3], rgb[2::3] = line[0::4], line[1::4], line[2::4]
            rows.append(bytes(rgb))
        else:
            rows.append(bytes(line))
    return Png(width, height, rows)


# ---- the load balancer -------------------------------------------------------------------


@pytest.fixture(scope="module")
def backends() -> Iterator[list[NamedHTTPBackend]]:
    servers = [NamedHTTPBackend(name) for name in SERVERS]
    yield servers
    for server in servers:
        server.close()


@pytest.fixture
def balancer(backends: list[NamedHTTPBackend]) -> Iterator[LoadBalancer]:
    config: dict[str, Any] = {
        "workers": 1,
        "drain_timeout": "1s",
        # Read endpoints (the page and /api/stats) need no token.
        "api": {"listen": f"{LOOPBACK}:0", "token": TOKEN},
        "frontends": [{"name": "web", "listen": f"{LOOPBACK}:0", "backend": "web"}],
        "backends": [
            {
                "name": "web",
                "health_check": {"type": "tcp", "interval": "200ms", "rise": 1, "fall": 2},
                "servers": [
                    {"name": "web-01", "address": backends[0].address, "weight": 2},
                    {"name": "web-02", "address": backends[1].address, "weight": 1},
                ],
            }
        ],
    }
    with LoadBalancer(config) as lb:
        yield lb


def send_traffic(balancer: LoadBalancer, requests: int) -> None:
    for _ in range(requests):
        assert http_get(f"http://{balancer.addresses['web']}/").startswith("hello from web-0")


class Traffic(BackgroundLoop):
    """Requests through the balancer from a thread until stopped (so that rates move)."""

    def __init__(self, balancer: LoadBalancer) -> None:
        super().__init__("dashboard-traffic", join_timeout=10)
        self._url = f"http://{balancer.addresses['web']}/"
        self.sent = 0
        self.errors: list[BaseException] = []

    def run(self, worker: int) -> None:
        while not self.pause(0.01):
            try:
                http_get(self._url)
                self.sent += 1
            except OSError as exc:  # recorded; the test asserts there were none
                self.errors.append(exc)


@contextlib.contextmanager
def serving(handler: type[BaseHTTPRequestHandler]) -> Iterator[str]:
    """`handler` (a stand-in for the API) served from a thread on a free loopback port: its
    URL. (`serve_forever` has its own stop, `shutdown()`: no BackgroundLoop.)"""
    server = ThreadingHTTPServer((LOOPBACK, 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{LOOPBACK}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def wait_servers_up(balancer: LoadBalancer) -> None:
    """Until the health checks have passed for every server (bounded)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        servers = balancer.stats()["backends"]["web"]["servers"]
        if all(servers[name]["status"] == "UP" for name in SERVERS):
            return
        time.sleep(0.05)
    raise AssertionError(f"servers not UP after 10s: {balancer.stats()['backends']}")


# ---- tests ---------------------------------------------------------------------------------


def test_page_is_self_contained_and_locked_down(balancer: LoadBalancer) -> None:
    assert balancer.api_url is not None
    with urllib.request.urlopen(balancer.api_url + "/", timeout=10) as response:
        assert response.status == 200
        assert response.headers["Content-Type"].startswith("text/html")
        policy = response.headers["Content-Security-Policy"]
        page = response.read().decode()
    # The policy forbids loading anything from elsewhere; the page needs nothing else.
    assert "default-src 'none'" in policy and "connect-src 'self'" in policy
    assert "script-src 'sha256-" in policy and "unsafe-inline" not in policy
    for reference in ("http://", "https://", "src=", "@import", "url("):
        assert reference not in page, f"the page references {reference!r}"
    assert 'role="status" aria-live="polite"' in page


def test_dashboard_renders_live_data(
    balancer: LoadBalancer, chromium: Path, tmp_path: Path
) -> None:
    wait_servers_up(balancer)
    send_traffic(balancer, 12)
    assert balancer.api_url is not None
    dom = dump_dom(chromium, tmp_path, balancer.api_url + "/")

    assert dom.ids["status"] == "Live", dom.ids
    assert set(dom.servers) == set(SERVERS), dom.servers
    for name in SERVERS:
        row = dom.servers[name]
        assert row["server-name"] == name
        assert row["status"] == "UP", row
        assert row["address"] == balancer.stats()["backends"]["web"]["servers"][name]["address"]
        assert count(row["total"]) > 0, row
        assert row["check"].startswith("ok"), row
        assert row["last_change"].endswith(" ago"), row
        assert float(row["connect_p99"]) > 0, row
    assert sum(count(dom.servers[name]["total"]) for name in SERVERS) == 12
    web = dom.frontends["web"]
    assert web["listen"] == balancer.addresses["web"]
    assert count(web["total"]) == 12 and count(web["rejected"]) == 0, web
    assert dom.canvases == 2


def test_screenshot_shows_the_data(balancer: LoadBalancer, chromium: Path, tmp_path: Path) -> None:
    wait_servers_up(balancer)
    send_traffic(balancer, 6)
    shot = tmp_path / "dash.png"
    assert balancer.api_url is not None
    with Traffic(balancer) as traffic:
        run_chromium(
            chromium,
            tmp_path / "profile-shot",
            balancer.api_url + "/",
            f"--screenshot={shot}",
            f"--window-size={WIDTH},{HEIGHT}",
            budget_ms=15000,
        )
    assert not traffic.errors, traffic.errors[:3]
    keep = os.environ.get("FASTLB_DASHBOARD_SCREENSHOT")
    if keep:  # e.g. for the README
        shutil.copyfile(shot, keep)

    png = decode_png(shot.read_bytes())
    assert (png.width, png.height) == (WIDTH, HEIGHT)
    colours = png.colours()
    background, covered = max(colours.items(), key=lambda item: item[1])
    assert covered < 0.9 * WIDTH * HEIGHT, f"the screenshot is mostly {background}"
    assert len(colours) > 100, f"only {len(colours)} colours: not a rendered dashboard"
    # Two UP badges (solid fills of ~50x20 px, less their text) ...
    assert colours.get(UP_GREEN, 0) > 800, colours.get(UP_GREEN, 0)
    # ... and both servers' series colours (legend and table swatches, chart lines).
    for colour in SERIES:
        assert colours.get(colour, 0) > 150, (colour, colours.get(colour, 0))


class _FlakyApi(BaseHTTPRequestHandler):
    """Serves the page from the real API, relays `good_polls` stats requests, then fails."""

    upstream = ""
    good_polls = 2
    polls = 0

    def do_GET(self) -> None:
        cls = type(self)
        if self.path.startswith("/api/stats"):
            cls.polls += 1
            if cls.polls > cls.good_polls:
                self.send_error(503, "stats unavailable")
                return
        try:
            with urllib.request.urlopen(cls.upstream + self.path, timeout=5) as response:
                body, headers = response.read(), response.headers
        except urllib.error.HTTPError as exc:
            self.send_error(exc.code)
            return
        self.send_response(200)
        for name in ("Content-Type", "Content-Security-Policy"):
            if headers[name]:
                self.send_header(name, headers[name])
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_api_failure_keeps_the_last_data(
    balancer: LoadBalancer, chromium: Path, tmp_path: Path
) -> None:
    wait_servers_up(balancer)
    send_traffic(balancer, 5)
    assert balancer.api_url is not None
    handler: type[_FlakyApi] = type(
        "FlakyApi", (_FlakyApi,), {"upstream": balancer.api_url, "polls": 0}
    )
    with serving(handler) as url:
        dom = dump_dom(chromium, tmp_path, url)
    assert handler.polls > handler.good_polls  # the page went on polling after the failures
    assert dom.ids["status"] == "API unreachable", dom.ids
    assert "HTTP 503" in dom.ids["banner"] and "last data received" in dom.ids["banner"]
    assert set(dom.servers) == set(SERVERS)
    for name in SERVERS:
        assert dom.servers[name]["status"] == "UP"
        assert count(dom.servers[name]["total"]) > 0


# ---- mode http, from a stats document ----------------------------------------------------


class _StatsApi(BaseHTTPRequestHandler):
    """The dashboard page, and at each poll of /api/stats the next of a series of snapshots
    with `http` sections: 50 more requests every 2 s of uptime (25 requests/s)."""

    snapshot: ClassVar[dict[str, Any]] = {}
    polls = 0

    def do_GET(self) -> None:
        cls = type(self)
        if self.path.startswith("/api/stats"):
            requests = 100 + 50 * cls.polls
            stats = with_http(cls.snapshot, requests, uptime=10.0 + 2 * cls.polls)
            cls.polls += 1
            body, content_type, policy = json.dumps(stats).encode(), "application/json", None
        elif self.path == "/":
            html, policy = page()
            body, content_type = html.encode(), "text/html; charset=utf-8"
        else:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Type", content_type)
        if policy:
            self.send_header("Content-Security-Policy", policy)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_dashboard_shows_http_requests_responses_and_pool(
    backends: list[NamedHTTPBackend], chromium: Path, tmp_path: Path
) -> None:
    config: dict[str, Any] = {
        "workers": 1,
        "frontends": [
            {"name": "web", "listen": f"{LOOPBACK}:0", "backend": "web", "mode": "http"},
            {"name": "raw", "listen": f"{LOOPBACK}:0", "backend": "raw"},
        ],
        "backends": [
            {
                "name": "web",
                "servers": [
                    {"name": n, "address": backends[i].address} for i, n in enumerate(SERVERS)
                ],
            },
            {"name": "raw", "servers": [{"name": "raw-01", "address": backends[0].address}]},
        ],
    }
    with LoadBalancer(config) as lb:
        snapshot = lb.stats()
    handler: type[_StatsApi] = type("StatsApi", (_StatsApi,), {"snapshot": snapshot, "polls": 0})
    with serving(handler) as url:
        dom = dump_dom(chromium, tmp_path, url)
    assert handler.polls >= 3, handler.polls
    assert dom.ids["status"] == "Live", dom.ids

    web = dom.frontends["web"]
    match = re.fullmatch(r"([\d.]+)total ([\d,]+)", web["http_rate"])
    assert match, web
    rate, total = match.groups()
    requests = count(total)
    assert (float(rate), (requests - 100) % 50) == (25.0, 0), web
    shown = {c: count(web[f"http_{c}"]) for c in ("2xx", "3xx", "4xx", "5xx")}
    assert shown == {c: responses(requests)[c] for c in shown}, web
    assert count(web["http_bad"]) == 3 and web["http_p99"] == "90.0", web
    # A tcp frontend shows none of it.
    assert dom.frontends["raw"]["total"] == "0"
    assert not [f for f in dom.frontends["raw"] if f.startswith("http")], dom.frontends["raw"]

    facts = dom.backends["web"]
    assert facts["http_rate"] == "22.5 requests/s" and facts["pool_hits"] == "90% pool hits"
    assert "http_rate" not in dom.backends["raw"] and "pool_hits" not in dom.backends["raw"]
    for name, idle in zip(SERVERS, ("2", "3"), strict=True):
        row = dom.servers[name]
        assert float(row["http_rate"]) > 0 and row["http_idle"] == idle, row
        assert count(row["http_2xx"]) > count(row["http_5xx"]) > 0, row
    assert not [f for f in dom.servers["raw-01"] if f.startswith("http")], dom.servers["raw-01"]
