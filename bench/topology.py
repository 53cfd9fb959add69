"""Start and stop the benchmark's processes on loopback ports of their own.

Two nginx backends, stock HAProxy and fastlb, each with its config and logs in one temp
directory. Every process is ours (a Popen); stopping signals exactly those pids.
"""

from __future__ import annotations

import os
import subprocess
from contextlib import ExitStack
from dataclasses import dataclass, field
from pathlib import Path

from bench import configs
from bench.certs import BenchCertificate, write_certificate
from bench.configs import Ports, Server
from fastlb.harness.ports import free_ports
from fastlb.harness.process import cpu_seconds, fastlb_command, find_tool, spawn, stop
from fastlb.harness.waiting import ProcessFailed, wait_listening


@dataclass(frozen=True)
class LoadBalancerProcess:
    """A running load balancer: its label in the report, its frontend ports, its pid, its
    I/O threads, and the frontends it could not serve (`unavailable`: "http" or "https" ->
    why, e.g. the build has no `mode http` yet)."""

    label: str
    ports: Ports
    pid: int
    threads: int = configs.THREADS
    unavailable: dict[str, str] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.ports.tcp

    @property
    def tls_port(self) -> int:
        return self.ports.tls

    def cpu_seconds(self) -> float:
        """User + system CPU time of the whole process (every thread) so far."""
        return cpu_seconds(self.pid)


class Topology:
    """Owns every process it starts; use as a context manager so they all stop."""

    def __init__(self, workdir: Path) -> None:
        self.workdir = workdir
        self._stack = ExitStack()
        self.fastlb_api_port: int | None = None  # the last fastlb started (bench/locust/)
        self.fastlb_api_ports: dict[str, int] = {}  # every fastlb: name -> API port
        self.certificate: BenchCertificate = write_certificate(workdir)
        self.backend_pids: list[int] = []  # nginx masters (their workers are their children)

    def __enter__(self) -> Topology:
        return self

    def __exit__(self, *exc: object) -> None:
        self._stack.close()

    def _spawn(self, name: str, argv: list[str], port: int, timeout: float = 15.0) -> int:
        log = self.workdir / f"{name}.log"
        proc = spawn(argv, log)
        self._stack.callback(stop, proc)
        wait_listening(proc, port, log, timeout)
        return proc.pid

    def start_backends(self) -> list[Server]:
        """Two nginx backends (weights 3 and 1) serving `/` (64 bytes) and `/big` (16 MiB)."""
        nginx = find_tool("nginx")
        ports = free_ports(len(configs.WEIGHTS))
        servers = []
        for index, (port, weight) in enumerate(zip(ports, configs.WEIGHTS, strict=True)):
            name = f"web-{index + 1:02d}"
            prefix = self.workdir / name
            (prefix / "www").mkdir(parents=True)
            (prefix / "tmp").mkdir()
            write_big_file(prefix / "www" / "big")
            conf = prefix / "nginx.conf"
            conf.write_text(configs.nginx_conf(str(prefix), port, name))
            pid = self._spawn(name, [nginx, "-p", str(prefix), "-c", str(conf)], port)
            self.backend_pids.append(pid)
            servers.append(Server(name, port, weight))
        return servers

    def start_haproxy(
        self,
        name: str,
        servers: list[Server],
        splice: str = "auto",
        *,
        threads: int = configs.THREADS,
        http: bool = False,
        reuse: str = "safe",
        close_reuse: str = configs.HAPROXY_CLOSE_REUSE,
    ) -> LoadBalancerProcess:
        """HAProxy with its TCP and TLS frontends, and its `mode http` ones when `http`."""
        ports = Ports(*free_ports(5)) if http else Ports(*free_ports(2))
        cfg = self.workdir / f"{name}.cfg"
        crt = str(self.certificate.combined)
        text = configs.haproxy_cfg(ports, servers, splice, crt, threads, reuse, close_reuse)
        cfg.write_text(text)
        # -db: foreground, one process (no master), so the pid is the one doing the work.
        pid = self._spawn(name, [find_tool("haproxy"), "-f", str(cfg), "-db"], ports.tcp)
        return LoadBalancerProcess(name, ports, pid, threads)

    def start_fastlb(
        self,
        name: str,
        servers: list[Server],
        splice: str,
        *,
        threads: int = configs.THREADS,
        http: bool = False,
    ) -> LoadBalancerProcess:
        """fastlb with its TCP and TLS frontends, and its `mode: http` ones when `http`.

        A build that refuses the HTTP frontends (`fastlb check` fails: no `mode: http` yet,
        or no h2) still runs the TCP scenarios: the most complete config it accepts is used
        and what was dropped is recorded in `unavailable`, with the reason `check` gave.
        """
        tcp, api_port, tls, http_port, https_port = free_ports(5)
        cert, key = str(self.certificate.cert), str(self.certificate.key)
        cfg = self.workdir / f"{name}.yaml"
        # One HTTP/1.1 frontend serves keep-alive and `Connection: close` clients alike.
        full = Ports(tcp, tls, http_port, https_port, http_close=http_port)
        attempts = [full, Ports(tcp, tls, http_port, http_close=http_port)]
        attempts = [*attempts, Ports(tcp, tls)] if http else [Ports(tcp, tls)]
        unavailable: dict[str, str] = {}
        for ports in attempts:
            cfg.write_text(
                configs.fastlb_yaml(ports, api_port, servers, splice, cert, key, threads)
            )
            refusal = fastlb_check(cfg)
            if refusal is None:
                break
            dropped = "https" if ports.https else "http"
            unavailable[dropped] = f"config refused: {refusal}"
            if dropped == "http":  # then h2 was refused for the same reason (or more)
                unavailable["https"] = unavailable["http"]
        else:
            raise ProcessFailed(f"fastlb refused even its TCP config {cfg}: {refusal}")
        argv = [*fastlb_command(), "serve", "-c", str(cfg)]
        pid = self._spawn(name, argv, tcp, timeout=30.0)
        self.fastlb_api_port = api_port
        self.fastlb_api_ports[name] = api_port
        return LoadBalancerProcess(name, ports, pid, threads, unavailable)


def fastlb_check(cfg: Path) -> str | None:
    """None if `fastlb check` accepts the config, else its first complaint, without the file
    name (the report quotes it as the reason a scenario was not measured)."""
    proc = subprocess.run(
        [*fastlb_command(), "check", "-c", str(cfg)], capture_output=True, text=True, timeout=60
    )
    if proc.returncode == 0:
        return None
    lines = [line.strip() for line in (proc.stderr + proc.stdout).splitlines() if line.strip()]
    complaints = [line.removeprefix(f"{cfg}: ") for line in lines if line.startswith(f"{cfg}:")]
    first = complaints[0] if complaints else (lines[-1] if lines else f"exit {proc.returncode}")
    more = f" (+{len(complaints) - 1} more)" if len(complaints) > 1 else ""
    return first + more


def write_big_file(path: Path) -> None:
    """16 MiB of incompressible-looking bytes (content is irrelevant to a TCP relay)."""
    chunk = os.urandom(1024 * 1024)
    with path.open("wb") as out:
        for _ in range(configs.BIG_SIZE // len(chunk)):
            out.write(chunk)
