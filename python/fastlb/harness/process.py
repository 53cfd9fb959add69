"""Child processes: the real `fastlb serve -c FILE` (start, wait for its ports, signal, stop),
any other program started into a log and stopped by its pid, and the tools they need.

Readiness is checked without touching the data path: a frontend counts as up when the kernel
lists its port in LISTEN state (/proc/net/tcp), so no probe connection ever takes a
round-robin pick or shows up in the stats. The API counts as up when `GET /api/stats` answers.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from .ports import free_port, listening_ports, port_of

START_TIMEOUT = 30.0
STOP_TIMEOUT = 15.0


def fastlb_command() -> list[str]:
    """`$FASTLB_TEST_COMMAND` (e.g. another build's `fastlb`), else the console script next to
    this Python, else `python -m fastlb.cli`."""
    if override := os.environ.get("FASTLB_TEST_COMMAND"):
        return shlex.split(override)
    script = Path(sys.executable).with_name("fastlb")
    if script.exists():
        return [str(script)]
    return [sys.executable, "-m", "fastlb.cli"]


def make_config(
    servers: list[dict[str, Any]],
    *,
    splice: str = "auto",
    workers: int = 2,
    retries: int = 3,
    api: bool = True,
    **frontend: Any,
) -> dict[str, Any]:
    """A one-frontend (`web`), one-backend (`web`) config in DESIGN.md's YAML shape on free
    loopback ports. `frontend` adds keys to the frontend (max_connections, idle_timeout)."""
    config: dict[str, Any] = {
        "workers": workers,
        "splice": splice,
        "frontends": [
            {
                "name": "web",
                "listen": f"127.0.0.1:{free_port()}",
                "mode": "tcp",
                "backend": "web",
                **frontend,
            }
        ],
        "backends": [{"name": "web", "retries": retries, "servers": servers}],
    }
    if api:
        config["api"] = {"listen": f"127.0.0.1:{free_port()}"}
    return config


def frontend_port(config: dict[str, Any], name: str = "web") -> int:
    for frontend in config["frontends"]:
        if frontend["name"] == name:
            return port_of(frontend["listen"])
    raise KeyError(name)


class FastlbProcess:
    """One `fastlb serve -c FILE` subprocess with its config and log in `workdir`."""

    def __init__(
        self,
        config: dict[str, Any],
        workdir: Path,
        *,
        open_files: int | None = None,
        hard_open_files: bool = False,
        name: str = "fastlb",
    ) -> None:
        self.config = config
        # A soft RLIMIT_NOFILE for the process (the hard limit stays), like a service
        # manager's default; with `hard_open_files` the hard limit too (fastlb raises its
        # soft limit to the hard one, so only that makes it run out of descriptors).
        self.open_files = open_files
        self.hard_open_files = hard_open_files
        # `name` tells apart several processes sharing one directory (a benchmark's).
        self.config_path = workdir / f"{name}.yaml"
        self.log_path = workdir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    # --- lifecycle -------------------------------------------------------------------------

    def start(self) -> FastlbProcess:
        self.config_path.write_text(yaml.safe_dump(self.config, sort_keys=False))
        self.proc = spawn(
            [*fastlb_command(), "serve", "-c", str(self.config_path)],
            self.log_path,
            preexec_fn=self._limit_open_files if self.open_files else None,
        )
        self.wait_ready()
        return self

    def _limit_open_files(self) -> None:
        assert self.open_files is not None
        _, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        hard = self.open_files if self.hard_open_files else hard
        resource.setrlimit(resource.RLIMIT_NOFILE, (self.open_files, hard))

    def wait_ready(self, timeout: float = START_TIMEOUT) -> None:
        ports = {port_of(f["listen"]) for f in self.config["frontends"]}
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if (code := self.popen.poll()) is not None:
                raise RuntimeError(
                    f"fastlb serve exited with {code} before listening:\n{self.log()}"
                )
            if ports <= listening_ports() and (not self.api_url or self._api_answers()):
                return
            time.sleep(0.05)
        raise TimeoutError(f"fastlb serve not listening on {ports} after {timeout}s:\n{self.log()}")

    def _api_answers(self) -> bool:
        try:
            self.stats()
        except (OSError, ValueError):
            return False
        return True

    @property
    def popen(self) -> subprocess.Popen[bytes]:
        assert self.proc is not None, "fastlb serve was not started"
        return self.proc

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def terminate(self) -> None:
        """SIGTERM to the process, by pid."""
        self.popen.send_signal(signal.SIGTERM)

    def wait(self, timeout: float = STOP_TIMEOUT) -> int:
        """Waits (bounded) for the exit status; raises subprocess.TimeoutExpired."""
        return self.popen.wait(timeout=timeout)

    def stop(self) -> int:
        """SIGTERM and wait for the exit status."""
        self.terminate()
        return self.wait()

    def close(self) -> None:
        """Teardown: kill the process if still alive, and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.proc.wait(timeout=STOP_TIMEOUT)

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    # --- the HTTP API ----------------------------------------------------------------------

    @property
    def api_url(self) -> str | None:
        api = self.config.get("api")
        return f"http://{api['listen']}" if api else None

    def api(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """One request to the API: (status, decoded JSON body or text)."""
        assert self.api_url, "this config has no api.listen"
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.api_url + path, data=data, method=method)
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=5) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            with error:
                status, raw = error.code, error.read()
        try:
            return status, json.loads(raw)
        except ValueError:
            return status, raw.decode(errors="replace")

    def stats(self) -> dict[str, Any]:
        status, body = self.api("GET", "/api/stats")
        if status != 200 or not isinstance(body, dict):
            raise ValueError(f"GET /api/stats -> {status}: {body!r}")
        return body

    def set_weight(self, backend: str, server: str, weight: int) -> None:
        status, body = self.api(
            "PUT", f"/api/backends/{backend}/servers/{server}", {"weight": weight}
        )
        assert 200 <= status < 300, f"PUT weight -> {status}: {body!r}"


def pause_process(pid: int, timeout: float = 5.0) -> None:
    """SIGSTOP `pid` and return once every thread of it is stopped: the signal is delivered
    asynchronously, and a thread already running may still answer one request otherwise."""
    os.kill(pid, signal.SIGSTOP)
    deadline = time.monotonic() + timeout
    tasks = Path(f"/proc/{pid}/task")
    while time.monotonic() < deadline:
        states = []
        for task in tasks.iterdir():
            with contextlib.suppress(FileNotFoundError):
                # The state follows the parenthesised command name: "pid (comm) S ...".
                states.append((task / "stat").read_text().rsplit(")", 1)[1].split()[0])
        if states and all(state in ("T", "t") for state in states):
            return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} did not stop within {timeout}s")


def find_tool(name: str) -> str:
    """The path of a system tool, looking in /usr/sbin too (haproxy, nginx live there)."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        raise SystemExit(f"error: {name} is not installed (as root: `make install` installs it)")
    return path


def spawn(argv: list[str], log: Path, **popen: Any) -> subprocess.Popen[bytes]:
    """Starts `argv` with its output into `log` (stdin closed)."""
    with log.open("wb") as out:
        return subprocess.Popen(
            argv, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, **popen
        )


def stop(proc: subprocess.Popen[bytes], timeout: float = 10.0) -> None:
    """SIGTERM our process (by pid), SIGKILL it if it is still there after `timeout`."""
    if proc.poll() is not None:
        return
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process (every thread) so far, from /proc/PID/stat."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # After "pid (comm)": state is field 3, utime 14 and stime 15 (proc(5)).
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
