"""The PROXY protocol end to end: fastlb's `send_proxy` in front of a real nginx that requires
it (`listen ... proxy_protocol`, `real_ip_header proxy_protocol`), `accept_proxy` driven by
curl's `--haproxy-protocol` and by raw sockets, refusals, timeouts and `check_send_proxy`.

The engine is started from the core JSON directly (`fastlb._core.Engine`): the Python config
models of these fields are another part's. Clients bind 127.0.0.2 (or ::1) so that the address
nginx reports can only have come from the header: fastlb itself connects from 127.0.0.1.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from fastlb import _core

from . import pki
from .clients import recv_until_eof, wait_for_close, wait_until
from .proc import free_port

pytestmark = pytest.mark.timeout(90)

NGINX = shutil.which("nginx") or shutil.which("nginx", path="/usr/sbin:/usr/local/sbin")
V2_SIGNATURE = b"\r\n\r\n\x00\r\nQUIT\n"
CLIENT_IP = "127.0.0.2"


# --- nginx that wants a PROXY header on every connection ----------------------------------


def nginx_conf(prefix: Path, port: int, tls: pki.Server | None) -> str:
    ssl = f"ssl_certificate {tls.cert_path}; ssl_certificate_key {tls.key_path};" if tls else ""
    return f"""\
daemon off;
master_process on;
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} {"ssl " if tls else ""}proxy_protocol;
        {ssl}
        set_real_ip_from 127.0.0.1;
        real_ip_header proxy_protocol;
        set $client $proxy_protocol_addr:$proxy_protocol_port;
        set $server $proxy_protocol_server_addr:$proxy_protocol_server_port;
        location / {{ return 200 "remote=$remote_addr client=$client server=$server\\n"; }}
    }}
}}
"""


@contextmanager
def running_nginx(prefix: Path, tls: pki.Server | None = None) -> Iterator[str]:
    """A real nginx on a free port whose every connection must open with a PROXY header
    (then, with `tls`, a TLS handshake); `/` answers what the header said. Yields its
    `127.0.0.1:port`."""
    if NGINX is None:
        pytest.fail("nginx is not installed (Debian: apt-get install nginx-light)")
    prefix.mkdir()
    port = free_port()
    conf = prefix / "nginx.conf"
    conf.write_text(nginx_conf(prefix, port, tls))
    log = (prefix / "stdout.log").open("wb")
    proc = subprocess.Popen(
        [NGINX, "-p", str(prefix), "-c", str(conf)],
        stdout=log,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
    )
    try:
        listening = wait_until(lambda: proc.poll() is not None or _listens(port), timeout=15)
        if proc.poll() is not None or not listening:
            pytest.fail(f"nginx did not start: {(prefix / 'error.log').read_text()}")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


@pytest.fixture
def nginx(tmp_path: Path) -> Iterator[str]:
    """`running_nginx`, plain HTTP."""
    with running_nginx(tmp_path / "nginx") as address:
        yield address


def _listens(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except OSError:
        return False
    return True


# --- the engine, from core JSON -------------------------------------------------------------


def core_config(
    server: str,
    *,
    listen: str = "127.0.0.1:0",
    send_proxy: str | None = None,
    check_send_proxy: bool = False,
    health_check: dict[str, Any] | None = None,
    **frontend: Any,
) -> dict[str, Any]:
    """One tcp frontend `web` to one backend `web` with one server, PROXY fields included."""
    return {
        "workers": 2,
        "splice": "auto",
        "frontends": [
            {
                "name": "web",
                "listen": listen,
                "backend": "web",
                "mode": "tcp",
                "max_connections": 1000,
                "idle_timeout_ms": 30000,
                "accept_proxy": False,
                "proxy_timeout_ms": 5000,
                "trusted_proxies": [],
                **frontend,
            }
        ],
        "backends": [
            {
                "name": "web",
                "retries": 1,
                "connect_timeout_ms": 2000,
                "all_backups": False,
                "health_check": health_check,
                "send_proxy": send_proxy,
                "check_send_proxy": check_send_proxy,
                "servers": [{"name": "n1", "address": server, "weight": 1, "backup": False}],
            }
        ],
    }


@contextmanager
def engine(config: dict[str, Any]) -> Iterator[tuple[_core.Engine, tuple[str, int]]]:
    """A started engine and its frontend's bound (host, port)."""
    core = _core.Engine(json.dumps(config))
    core.start()
    try:
        host, port = core.listen_addresses()["web"].rsplit(":", 1)
        yield core, (host.strip("[]"), int(port))
    finally:
        core.stop(5.0)


def frontend_stats(core: _core.Engine) -> dict[str, Any]:
    return dict(core.stats()["frontends"]["web"])


# --- clients ----------------------------------------------------------------------------------


def run_curl(
    address: tuple[str, int], *extra: str, interface: str = CLIENT_IP
) -> subprocess.CompletedProcess[bytes]:
    host, port = address
    url = f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"
    return subprocess.run(
        ["curl", "-sS", "--max-time", "10", "--interface", interface, *extra, url],
        capture_output=True,
        timeout=20,
        check=False,
    )


def curl(address: tuple[str, int], *extra: str, interface: str = CLIENT_IP) -> str:
    """The body of a GET / that must succeed."""
    done = run_curl(address, *extra, interface=interface)
    assert done.returncode == 0, done.stderr.decode()
    return done.stdout.decode()


def client_socket(address: tuple[str, int], source: str = CLIENT_IP) -> socket.socket:
    sock = socket.socket(socket.AF_INET6 if ":" in source else socket.AF_INET)
    sock.settimeout(10)
    try:
        sock.bind((source, 0))
        sock.connect(address)
    except OSError:
        sock.close()
        raise
    return sock


def http_get(sock: socket.socket, header: bytes = b"") -> str:
    """Sends `header` and a GET in one write, returns the response body."""
    sock.sendall(header + b"GET / HTTP/1.0\r\nHost: test\r\n\r\n")
    response = recv_until_eof(sock).decode()
    head, _, body = response.partition("\r\n\r\n")
    assert head.startswith("HTTP/1.1 200"), response
    return body


def v2_header(client: tuple[str, int], local: tuple[str, int]) -> bytes:
    """A v2 PROXY command for TCP over IPv4, built by hand from the spec (§2.2)."""
    addresses = socket.inet_aton(client[0]) + socket.inet_aton(local[0])
    block = addresses + struct.pack("!HH", client[1], local[1])
    return V2_SIGNATURE + bytes([0x21, 0x11]) + struct.pack("!H", len(block)) + block


# --- send_proxy -------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_shows_nginx_the_client(nginx: str, version: str) -> None:
    with engine(core_config(nginx, send_proxy=version)) as (core, address):
        body = curl(address)
        # The header named curl's address and the frontend curl reached.
        assert body.startswith(f"remote={CLIENT_IP} client={CLIENT_IP}:"), body
        assert f"server=127.0.0.1:{address[1]}" in body, body
        assert frontend_stats(core)["proxy_refused"] == 0


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_send_proxy_from_an_ipv6_client(nginx: str, version: str) -> None:
    config = core_config(nginx, listen="[::1]:0", send_proxy=version)
    with engine(config) as (_, address):
        body = curl(address, interface="::1")
        # TCP6 / AF_INET6 though nginx itself is reached over IPv4.
        assert body.startswith("remote=::1 client=::1:"), body
        assert f"server=::1:{address[1]}" in body, body


def test_send_proxy_precedes_tls_to_the_server(tmp_path: Path) -> None:
    # nginx's `listen ... ssl proxy_protocol` reads the header, then the handshake: the order
    # HAProxy's `send-proxy` + `ssl` uses.
    ca = pki.TestCA(tmp_path)
    certificate = ca.issue("nginx", ["localhost"], ips=("127.0.0.1",))
    with running_nginx(tmp_path / "nginx", tls=certificate) as server:
        config = core_config(server, send_proxy="v2")
        config["backends"][0]["tls"] = {"verify": True, "ca": str(ca.cert_path)}
        with engine(config) as (_, address):
            body = curl(address)
    assert body.startswith(f"remote={CLIENT_IP} client={CLIENT_IP}:"), body


def test_without_send_proxy_nginx_refuses(nginx: str) -> None:
    with engine(core_config(nginx)) as (_, address), client_socket(address) as sock:
        sock.sendall(b"GET / HTTP/1.0\r\n\r\n")
        # nginx wanted a PROXY header and got "GET": it closes without an answer.
        assert recv_until_eof(sock) == b""


# --- accept_proxy -----------------------------------------------------------------------------


def chain(nginx: str, **frontend: Any) -> dict[str, Any]:
    """accept_proxy frontend -> send_proxy v2 backend -> nginx."""
    settings: dict[str, Any] = {
        "accept_proxy": True,
        "trusted_proxies": ["127.0.0.0/8"],
        "proxy_timeout_ms": 5000,
    }
    settings.update(frontend)
    return core_config(nginx, send_proxy="v2", **settings)


def test_accept_proxy_from_curl(nginx: str) -> None:
    with engine(chain(nginx)) as (core, address):
        # curl's v1 line names its own connection: 127.0.0.2 and its port.
        body = curl(address, "--haproxy-protocol")
        assert body.startswith(f"remote={CLIENT_IP} client={CLIENT_IP}:"), body
        # Without the header the connection is closed: the frontend demands one.
        bare = run_curl(address)
        assert bare.returncode != 0 and bare.stdout == b"", bare
        assert frontend_stats(core)["proxy_refused"] == 1


@pytest.mark.parametrize("version", ["v1", "v2"])
def test_accept_proxy_passes_the_claimed_address_on(nginx: str, version: str) -> None:
    claimed, local = ("203.0.113.7", 4242), ("198.51.100.1", 443)
    header = (
        b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n"
        if version == "v1"
        else v2_header(claimed, local)
    )
    with engine(chain(nginx)) as (core, address):
        with client_socket(address) as sock:
            body = http_get(sock, header)
        expected = "remote=203.0.113.7 client=203.0.113.7:4242 server=198.51.100.1:443\n"
        assert body == expected
        # A v2 LOCAL (another balancer's health check): the connection's own addresses.
        local_header = V2_SIGNATURE + bytes([0x20, 0x00, 0, 0])
        with client_socket(address) as sock:
            body = http_get(sock, local_header)
        assert body.startswith(f"remote={CLIENT_IP} client={CLIENT_IP}:"), body
        assert frontend_stats(core)["proxy_refused"] == 0


def test_untrusted_peer_is_refused_others_keep_working(nginx: str) -> None:
    with engine(chain(nginx, trusted_proxies=["127.0.0.3/32"])) as (core, address):
        assert refused_connection(address) == "reset"
        header = b"PROXY TCP4 203.0.113.9 198.51.100.1 4242 443\r\n"
        with client_socket(address, source="127.0.0.3") as trusted:
            body = http_get(trusted, header)
        assert body.startswith("remote=203.0.113.9 "), body
        assert frontend_stats(core)["proxy_refused"] == 1


def refused_connection(address: tuple[str, int]) -> str:
    """How a connection from an untrusted peer ends: fastlb resets it at accept, which on a
    busy machine can reach the client before its connect() has returned."""
    try:
        refused = client_socket(address, source=CLIENT_IP)
    except ConnectionResetError:
        return "reset"
    with refused:
        with contextlib.suppress(ConnectionResetError):  # the reset may be there already
            refused.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n")
        return wait_for_close(refused, timeout=5)


def test_slow_header_times_out_and_garbage_closes_only_its_connection(nginx: str) -> None:
    # A good client that has sent its header but not yet its request, held open.
    with (
        engine(chain(nginx, proxy_timeout_ms=300)) as (core, address),
        client_socket(address) as good,
    ):
        good.sendall(b"PROXY TCP4 203.0.113.7 198.51.100.1 4242 443\r\n")
        with client_socket(address) as slow:
            slow.sendall(b"PROXY TCP4 203.0.")
            started = time.monotonic()
            assert wait_for_close(slow, timeout=5) in ("eof", "reset")
            assert time.monotonic() - started < 4, "closed by the 300 ms header timeout"
        for garbage in (b"GET / HTTP/1.0\r\n\r\n", b"PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"):
            with client_socket(address) as sock:
                sock.sendall(garbage)
                assert wait_for_close(sock, timeout=5) in ("eof", "reset"), garbage
        assert frontend_stats(core)["proxy_refused"] == 3
        # The good connection was never disturbed: its request goes through now.
        assert http_get(good).startswith("remote=203.0.113.7 ")


# --- check_send_proxy -------------------------------------------------------------------------

CHECK = {
    "type": "http",
    "interval_ms": 200,
    "fast_interval_ms": 100,
    "timeout_ms": 1000,
    "rise": 1,
    "fall": 1,
    "path": "/",
    "expect_status": 200,
    "host": None,
    "user": None,
    "observe": False,
}


def server_check(core: _core.Engine) -> dict[str, Any]:
    return dict(core.stats()["backends"]["web"]["servers"]["n1"])


def settled_health(core: _core.Engine) -> Callable[[], str | None]:
    def health() -> str | None:
        check = server_check(core)["check"]
        return server_check(core)["health"] if check and check["checked_at"] else None

    return health


@pytest.mark.parametrize("send_proxy", ["v1", "v2", None])
def test_check_send_proxy_passes_checks_through_nginx(nginx: str, send_proxy: str | None) -> None:
    config = core_config(nginx, send_proxy=send_proxy, check_send_proxy=True, health_check=CHECK)
    with engine(config) as (core, _):
        assert wait_until(settled_health(core), timeout=10) == "up", server_check(core)
        time.sleep(0.5)
        assert server_check(core)["health"] == "up", server_check(core)


def test_checks_without_the_header_mark_the_server_down(nginx: str) -> None:
    # send_proxy for traffic only: nginx refuses the checks' bare GET.
    config = core_config(nginx, send_proxy="v2", health_check=CHECK)
    with engine(config) as (core, _):
        health = settled_health(core)
        assert wait_until(lambda: health() == "down", timeout=10), server_check(core)
        assert server_check(core)["check"]["last_error"], server_check(core)
