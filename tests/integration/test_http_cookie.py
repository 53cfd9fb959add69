"""Sticky sessions by cookie with real nginx servers: a client with a cookie jar (httpx over
HTTP/1.1, curl over h2c) gets `Set-Cookie` once and then always reaches the same server;
clients without the cookie are balanced as usual; when its server is drained the client
moves to another one and gets a new cookie. /api/stats counts the cookies set."""

from __future__ import annotations

import shutil
import subprocess
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from .http_backends import NAMED, http_config, nginx_servers
from .proc import FastlbProcess, frontend_port
from .traffic import api_ok

Start = Callable[[dict[str, Any]], FastlbProcess]

pytestmark = pytest.mark.timeout(60)

CURL = shutil.which("curl") or "/usr/bin/curl"
# b has a value of its own; a is named by its name.
COOKIES = {"a": "a", "b": "bee"}


def sticky_config(addresses: dict[str, str], h2c: bool = False) -> dict[str, Any]:
    config = http_config(
        [{"name": name, "address": address} for name, address in addresses.items()],
        http={"h2c": True} if h2c else None,
    )
    backend = config["backends"][0]
    backend["cookie"] = {"name": "SRV", "httponly": True, "max_age": "1h"}
    backend["servers"][1]["cookie"] = COOKIES["b"]
    return config


def set_cookie(server: str) -> str:
    return f"SRV={COOKIES[server]}; Path=/; Max-Age=3600; HttpOnly"


def cookies_set(lb: FastlbProcess) -> dict[str, int]:
    servers = lb.stats()["backends"]["web"]["servers"]
    return {name: (s.get("http") or {}).get("cookies_set", 0) for name, s in servers.items()}


def test_a_cookie_jar_sticks_to_its_server_until_the_server_is_drained(
    tmp_path: Path, fastlb: Start
) -> None:
    specs = {name: NAMED.format(name=name) for name in ("a", "b")}
    with nginx_servers(tmp_path, specs) as started:
        config = sticky_config({s.name: s.address for s in started})
        lb = fastlb(config)
        base = f"http://127.0.0.1:{frontend_port(config)}"

        # Without the cookie: round robin, and every answer offers the cookie.
        fresh = Counter()
        for _ in range(4):
            answer = httpx.get(base + "/")
            assert answer.headers.get("set-cookie") == set_cookie(answer.text)
            fresh[answer.text] += 1
        assert fresh == Counter({"a": 2, "b": 2})

        with httpx.Client(base_url=base) as client:
            first = client.get("/")
            home = first.text
            assert first.headers["set-cookie"] == set_cookie(home)
            for _ in range(10):
                again = client.get("/")
                assert again.text == home
                assert "set-cookie" not in again.headers

            # Drained: the next request goes to the other server, which sets its cookie.
            api_ok(lb, "PUT", f"/api/backends/web/servers/{home}", {"state": "drain"})
            other = "b" if home == "a" else "a"
            moved = client.get("/")
            assert (moved.text, moved.headers.get("set-cookie")) == (other, set_cookie(other))
            for _ in range(5):
                assert client.get("/").text == other
            assert cookies_set(lb) == {home: 2 + 1, other: 2 + 1}

            # Back in service, it gets new clients again; this one stays where it is now.
            api_ok(lb, "PUT", f"/api/backends/web/servers/{home}", {"state": "ready"})
            assert {client.get("/").text for _ in range(4)} == {other}

        # A cookie naming no server is as good as none: balanced, and replaced.
        stray = httpx.get(base + "/", cookies={"SRV": "gone"})
        assert stray.headers.get("set-cookie") == set_cookie(stray.text)


def curl_h2c(url: str, jar: Path) -> tuple[str, list[str]]:
    """One request on a new h2c connection (curl 7.88 fails a second request on a reused
    h2c connection, against HAProxy too), the jar read and updated: (body, set-cookies)."""
    done = subprocess.run(
        [CURL, "-sS", "--http2-prior-knowledge", "-D", "-", "-b", str(jar), "-c", str(jar), url],
        capture_output=True,
        text=True,
        timeout=10,
        check=True,
    )
    # text=True: curl's CRLFs read as newlines.
    head, _, body = done.stdout.partition("\n\n")
    assert head.startswith("HTTP/2 200"), done.stdout
    cookies = [
        line.split(":", 1)[1].strip()
        for line in head.splitlines()
        if line.lower().startswith("set-cookie:")
    ]
    return body, cookies


def test_h2_clients_stick_by_cookie(tmp_path: Path, fastlb: Start) -> None:
    specs = {name: NAMED.format(name=name) for name in ("a", "b")}
    with nginx_servers(tmp_path, specs) as started:
        config = sticky_config({s.name: s.address for s in started}, h2c=True)
        fastlb(config)
        url = f"http://127.0.0.1:{frontend_port(config)}/"
        jar = tmp_path / "jar.txt"
        home, cookies = curl_h2c(url, jar)
        assert cookies == [set_cookie(home)]
        for _ in range(5):
            assert curl_h2c(url, jar) == (home, [])
