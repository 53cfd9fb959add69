"""nginx as a real HTTP backend: `Nginx`, one process (no master) on a free loopback port whose
access log counts requests and tells connections apart. (The benchmarks' tuned nginx, a master
and one worker serving a 16 MiB file, is still bench/configs.py's `nginx_conf`.)"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..ports import free_port, listening_ports

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


class Nginx:
    """One nginx process (no master) serving `locations` (nginx `location` blocks) on a free
    port; its access log counts the requests, `$connection` tells the connections apart."""

    def __init__(self, workdir: Path, name: str, locations: str, keepalive_timeout: str = "60s"):
        self.name = name
        self.port = free_port()
        self.address = f"127.0.0.1:{self.port}"
        self.workdir = workdir
        workdir.mkdir(parents=True, exist_ok=True)
        self.access_log = workdir / "access.log"
        conf = f"""
daemon off;
master_process off;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    log_format conn '$connection $request';
    access_log {self.access_log} conn;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    keepalive_timeout {keepalive_timeout};
    keepalive_requests 100000;
    server {{
        listen 127.0.0.1:{self.port};
        {locations}
    }}
}}
"""
        self.conf = workdir / "nginx.conf"
        self.conf.write_text(conf)
        self.output = workdir / "output.log"
        self._spawn()

    def _spawn(self) -> None:
        workdir = self.workdir
        with self.output.open("ab") as output:
            self.proc = subprocess.Popen(
                [NGINX, "-c", str(self.conf), "-p", str(workdir)],
                stdin=subprocess.DEVNULL,
                stdout=output,
                stderr=subprocess.STDOUT,
            )
        deadline = time.monotonic() + 10
        while self.port not in listening_ports():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"nginx did not start: {self.output.read_text()}")
            time.sleep(0.02)

    def lines(self, at_least: int = 0) -> list[str]:
        """The access log's lines, once it holds `at_least` of them (or after 5 s). nginx logs a
        request after sending its response, so a client can hold the last answer before its
        line is written."""
        deadline = time.monotonic() + 5
        while True:
            lines: list[str] = []
            with contextlib.suppress(FileNotFoundError):
                lines = self.access_log.read_text().splitlines()
            if len(lines) >= at_least or time.monotonic() > deadline:
                return lines
            time.sleep(0.02)

    def connections(self, requests: int = 0) -> int:
        """Distinct connections that carried a request, counted once `requests` are logged."""
        return len({line.split()[0] for line in self.lines(requests)})

    def kill(self) -> None:
        """SIGKILL: the server dies as a crashed one would (one process: master_process off)."""
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(10)

    def restart(self) -> None:
        """A graceful restart on the same port (a deploy): SIGQUIT lets nginx finish the
        requests in flight and close its idle keep-alive connections, then a new process."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            self.proc.wait(10)
        self._spawn()

    def close(self) -> None:
        self.kill()


@contextlib.contextmanager
def nginx_servers(tmp_path: Path, specs: dict[str, str], **kwargs: Any) -> Iterator[list[Nginx]]:
    started = [
        Nginx(tmp_path / f"nginx-{name}", name, loc, **kwargs) for name, loc in specs.items()
    ]
    try:
        yield started
    finally:
        for server in started:
            server.close()


NAMED = "location / {{ return 200 '{name}'; }}"
