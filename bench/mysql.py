"""`python -m bench.mysql`: what read/write splitting costs — sysbench through fastlb's
`mode: mysql` frontend vs sysbench straight to the same MariaDB server.

One private mariadbd (own datadir and port, started and stopped by pid) serves both sides.
fastlb lists it twice, as the primary and as the replica, so that its reads take exactly the
path they take in production (classified, sent to the replica connection) while the server's
work stays identical; the ratio is then the proxy's cost alone. For reference the same runs go
through stock HAProxy in `mode tcp` (a plain relay: no protocol, no splitting). Direct,
fastlb and HAProxy runs alternate, medians compared, with each proxy's CPU time per query.

The `_tls` workloads encrypt every hop: sysbench asks for TLS (`--mysql-ssl=on`); fastlb
terminates it and opens TLS connections of its own to the server (`tls` on both the frontend
and the backend), while HAProxy relays the client's TLS session to the server untouched. So
fastlb does twice the TLS work of a relay, the server the same in all three cases.
Writes BENCHMARKS-mysql.md.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.drivers import sysbench as sysbench_driver
from bench.drivers.sysbench import queries_per_second
from fastlb.harness import haproxy
from fastlb.harness.mariadb import (
    PASSWORD,
    USER,
    MariaDB,
    find_binaries,
    install_template,
)
from fastlb.harness.pki import TestCA
from fastlb.harness.ports import free_port
from fastlb.harness.process import FastlbProcess, cpu_seconds, find_tool, spawn
from fastlb.harness.waiting import wait_listening

REPO = Path(__file__).resolve().parent.parent

THREADS = 8
# fastlb I/O threads.
WORKERS = 2
TABLES, TABLE_SIZE = 4, 10_000
# sysbench scripts and their extra options: point selects, and the read-only OLTP mix
# without BEGIN/COMMIT (so that its reads can go to a replica).
# The `_tls` ones with TLS on every connection.
WORKLOADS = {
    "point_select": ("oltp_point_select", []),
    "read_only": ("oltp_read_only", ["--skip_trx=on"]),
    "point_select_tls": ("oltp_point_select", []),
}
TARGET = 0.80  # fastlb must keep at least 80% of direct throughput


SIDES = ("direct", "fastlb", "haproxy")


@dataclass
class Runs:
    """Queries per second of each side, and each proxy's CPU seconds per query."""

    qps: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})
    cpu_per_query: dict[str, list[float]] = field(default_factory=lambda: {s: [] for s in SIDES})

    def median(self, side: str) -> float:
        return statistics.median(self.qps[side])

    def ratio(self, side: str) -> float:
        return self.median(side) / self.median("direct")

    def cpu_us(self, side: str) -> float:
        return statistics.median(self.cpu_per_query[side]) * 1e6


def sysbench(
    script: str,
    port: int,
    extra: list[str],
    command: str,
    seconds: float,
    tls_files: Path | None = None,
) -> str:
    """Runs sysbench; with `tls_files`, over TLS (sysbench reads its CA and client
    certificate from fixed names in its working directory)."""
    options = [
        f"--tables={TABLES}",
        f"--table-size={TABLE_SIZE}",
        f"--threads={THREADS}",
        "--db-ps-mode=auto",
        *(["--mysql-ssl=on"] if tls_files else []),
        *extra,
    ]
    return sysbench_driver.run(script, port, command, seconds, options, cwd=tls_files)


def start_haproxy(server: MariaDB, workdir: Path) -> tuple[subprocess.Popen[bytes], int]:
    """Stock HAProxy relaying TCP to the server, as many threads as fastlb has workers."""
    port = free_port()
    path = workdir / "haproxy.cfg"
    path.write_text(haproxy.tcp_config({"db": (port, [("db", server.address)])}, WORKERS))
    log = workdir / "haproxy.log"
    proc = spawn([find_tool("haproxy"), "-f", str(path)], log)
    wait_listening(proc, port, log)
    return proc, port


def tls_files(workdir: Path) -> tuple[TestCA, Path]:
    """A test CA with a certificate for the server and fastlb, and the files sysbench's
    `--mysql-ssl=on` opens in its working directory: the CA and a client certificate, which
    MariaDB asks for (and checks against its `--ssl-ca`); fastlb doesn't ask."""
    directory = workdir / "tls"
    directory.mkdir()
    ca = TestCA(directory)
    client = ca.issue("client", ["sysbench"], client=True)
    shutil.copy(ca.cert_path, directory / "cacert.pem")
    shutil.copy(client.cert_path, directory / "client-cert.pem")
    shutil.copy(client.key_path, directory / "client-key.pem")
    return ca, directory


def start_fastlb(
    server: MariaDB,
    workdir: Path,
    ca: TestCA | None = None,
    pool: dict[str, Any] | None = None,
    name: str = "fastlb",
) -> tuple[subprocess.Popen[bytes], int]:
    """fastlb in front of `server`; with `ca`, TLS to its clients and to the server; with
    `pool`, that `mysql.pool` section."""
    port = free_port()
    frontend: dict[str, Any] = {
        "name": "sql",
        "listen": f"127.0.0.1:{port}",
        "mode": "mysql",
        "backend": "db",
    }
    backend_tls: dict[str, Any] = {}
    if ca is not None:
        frontend["tls"] = ca.issue("fastlb", ["fastlb.test"], ips=("127.0.0.1",)).files
        backend_tls = {"tls": {"verify": True, "ca": str(ca.cert_path)}}
    config = {
        "workers": WORKERS,
        "frontends": [frontend],
        "backends": [
            {
                "name": "db",
                "servers": [
                    {"name": "primary", "address": server.address, "role": "primary"},
                    {"name": "replica", "address": server.address, "role": "replica"},
                ],
                "mysql": {
                    "users": [{"user": USER, "password": PASSWORD}],
                    **({"pool": pool} if pool else {}),
                },
                **backend_tls,
            }
        ],
    }
    name = name if ca is None else f"{name}-tls"
    return FastlbProcess(config, workdir, name=name).start().popen, port


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.mysql", description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=float, default=10.0, help="seconds per sysbench run")
    parser.add_argument("--output", type=Path, default=REPO / "BENCHMARKS-mysql.md")
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    workdir = Path(tempfile.mkdtemp(prefix="fastlb-bench-mysql-"))
    binaries = find_binaries()
    install_template(binaries, workdir / "template")
    (workdir / "server").mkdir()
    ca, client_files = tls_files(workdir)
    certificate = ca.issue("mariadb", ["mariadb.test"], ips=("127.0.0.1",))
    server = MariaDB(
        binaries,
        workdir / "template",
        workdir / "server",
        options=(
            f"--ssl-cert={certificate.cert_path}",
            f"--ssl-key={certificate.key_path}",
            f"--ssl-ca={ca.cert_path}",
        ),
    )
    proxies: dict[str, subprocess.Popen[bytes]] = {}
    results: dict[str, Runs] = {}
    try:
        server.start()
        server.sql("CREATE DATABASE sbtest")
        print(f"bench.mysql: MariaDB on {server.address}; preparing sysbench tables", flush=True)
        sysbench("oltp_read_only", server.port, [], "prepare", 60)
        ports = {"direct": server.port}
        for side, start in (("fastlb", start_fastlb), ("haproxy", start_haproxy)):
            proxies[side], ports[side] = start(server, workdir)
        proxies["fastlb-tls"], ports["fastlb-tls"] = start_fastlb(server, workdir, ca)
        for name, (script, extra) in WORKLOADS.items():
            runs = results[name] = Runs()
            tls = name.endswith("_tls")
            for round_no in range(1, args.rounds + 1):
                for side in ("fastlb", "direct", "haproxy"):
                    process = "fastlb-tls" if tls and side == "fastlb" else side
                    pid = proxies[process].pid if process in proxies else None
                    cpu_before = cpu_seconds(pid) if pid else 0.0
                    output = sysbench(
                        script,
                        ports[process],
                        extra,
                        "run",
                        args.duration,
                        client_files if tls else None,
                    )
                    qps = queries_per_second(output)
                    queries = qps * args.duration
                    cpu = (cpu_seconds(pid) - cpu_before) / queries if pid else 0.0
                    runs.qps[side].append(qps)
                    runs.cpu_per_query[side].append(cpu)
                    shown = f"  proxy CPU {cpu * 1e6:.1f} us/query" if pid else ""
                    print(f"  {name:<13} round {round_no} {side:<7} {qps:>10,.0f} q/s{shown}")
    finally:
        for proc in proxies.values():
            proc.terminate()
            proc.wait(30)
        server.close()
        shutil.rmtree(workdir, ignore_errors=True)
    lines = summary(results, args)
    print("\n".join(lines))
    if not args.no_write:
        args.output.write_text("\n".join(lines) + "\n")
        print(f"\nwrote {args.output}")
    return 0


def summary(results: dict[str, Runs], args: argparse.Namespace) -> list[str]:
    lines = [
        "# MySQL read/write splitting: sysbench through fastlb vs direct",
        "",
        f"- date: {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M UTC}; machine: {os.cpu_count()} cores;"
        f" {args.rounds} rounds x {args.duration:g} s, A/B alternated, medians",
        f"- sysbench 1.0 `--threads={THREADS} --db-ps-mode=auto`, {TABLES} tables x"
        f" {TABLE_SIZE:,} rows; one MariaDB server, listed as primary and replica in fastlb",
        f"- target: fastlb keeps at least {TARGET:.0%} of direct throughput",
        "- reference: stock HAProxy `mode tcp` (a relay only: no MySQL protocol, no"
        " splitting), same thread count",
        "- `_tls`: TLS on every connection (sysbench `--mysql-ssl=on`); fastlb"
        " terminates the client's TLS and opens its own to the server, HAProxy relays the"
        " client's TLS session to the server",
        "",
        "| workload | direct q/s | fastlb q/s | fastlb / direct | target | HAProxy tcp q/s |"
        " HAProxy / direct | CPU per query fastlb / HAProxy |",
        "|---|---:|---:|---:|---|---:|---:|---:|",
    ]
    for name, runs in results.items():
        ratio = runs.ratio("fastlb")
        verdict = "met" if ratio >= TARGET else "missed"
        lines.append(
            f"| {name} | {runs.median('direct'):,.0f} | {runs.median('fastlb'):,.0f} |"
            f" {ratio:.2f} | {verdict} | {runs.median('haproxy'):,.0f} |"
            f" {runs.ratio('haproxy'):.2f} |"
            f" {runs.cpu_us('fastlb'):.1f} us / {runs.cpu_us('haproxy'):.1f} us |"
        )
    return lines


if __name__ == "__main__":
    sys.exit(main())
