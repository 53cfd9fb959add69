"""A small Ethernet segment of Linux network namespaces for the failover tests.

    with Lab() as lab:
        lab.host("lb1", "10.77.0.11")       # a namespace with eth0 on the segment
        lab.host("client", "10.77.0.100")
        proc = lab.spawn("lb1", ["fastlb", "serve", "-c", path], log)
        lab.run_in("client", lambda: socket.create_connection(...))

One namespace holds the bridge (the "switch"); every host namespace has one veth `eth0`
whose peer is a bridge port (`p-<host>`). Namespace names carry this process's pid, so
parallel runs never collide, and everything (processes by pid, then namespaces) goes away
in `close()`, also when a test fails.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import subprocess
import threading
from collections.abc import Callable
from ipaddress import IPv4Address, IPv4Interface
from pathlib import Path
from typing import IO, Any, TypeVar

T = TypeVar("T")

PREFIX_LENGTH = 24
_CLONE_NEWNET = 0x40000000
_libc = ctypes.CDLL(None, use_errno=True)
_counter = 0


def ip(*args: str) -> str:
    """Run `ip ARGS`; its output, or CalledProcessError with ip's message."""
    result = subprocess.run(["ip", *args], capture_output=True, text=True, timeout=10)
    if result.returncode != 0:
        raise subprocess.CalledProcessError(
            result.returncode, ["ip", *args], result.stdout, result.stderr
        )
    return result.stdout


class Lab:
    """Namespaces on one bridge; see the module docstring."""

    def __init__(self, tag: str = "") -> None:
        global _counter
        _counter += 1
        self.prefix = f"fastlb-{os.getpid()}-{_counter}{tag}-"
        self.switch = self.prefix + "sw"
        self.hosts: dict[str, IPv4Address] = {}
        self._namespaces: list[str] = []
        self._processes: list[subprocess.Popen[bytes]] = []
        self._logs: list[IO[bytes]] = []
        self._add_namespace(self.switch)
        ip("-n", self.switch, "link", "add", "br0", "type", "bridge")
        # No STP delay: ports forward as soon as they are up.
        ip("-n", self.switch, "link", "set", "br0", "type", "bridge", "forward_delay", "0")
        ip("-n", self.switch, "link", "set", "br0", "up")

    def __enter__(self) -> Lab:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def namespace(self, host: str) -> str:
        return self.prefix + host

    def _add_namespace(self, name: str) -> None:
        ip("netns", "add", name)
        self._namespaces.append(name)
        ip("-n", name, "link", "set", "lo", "up")

    def host(self, name: str, address: str) -> str:
        """A namespace with `eth0` = address/24 on the segment; returns its name."""
        ns = self.namespace(name)
        self._add_namespace(ns)
        port = f"p-{name}"[:15]
        ip(
            "link",
            "add",
            "eth0",
            "netns",
            ns,
            "type",
            "veth",
            "peer",
            "name",
            port,
            "netns",
            self.switch,
        )
        ip("-n", self.switch, "link", "set", port, "master", "br0")
        ip("-n", self.switch, "link", "set", port, "up")
        ip("-n", ns, "addr", "add", f"{address}/{PREFIX_LENGTH}", "dev", "eth0")
        ip("-n", ns, "link", "set", "eth0", "up")
        self.hosts[name] = IPv4Address(address)
        return ns

    # --- the segment --------------------------------------------------------------------

    def set_link(self, host: str, up: bool) -> None:
        """The host's own eth0 up or down (its carrier goes with it)."""
        ip("-n", self.namespace(host), "link", "set", "eth0", "up" if up else "down")

    def set_port(self, host: str, up: bool) -> None:
        """The host's bridge port up or down: a partition of that host from the others."""
        ip("-n", self.switch, "link", "set", f"p-{host}"[:15], "up" if up else "down")

    def addresses(self, host: str) -> set[IPv4Interface]:
        """The IPv4 addresses on the host's eth0 right now."""
        out = ip("-n", self.namespace(host), "-4", "-o", "addr", "show", "dev", "eth0")
        return {IPv4Interface(line.split()[3]) for line in out.splitlines() if " inet " in line}

    def holds(self, host: str, address: str) -> bool:
        return any(str(a.ip) == address for a in self.addresses(host))

    # --- processes and code inside a namespace -------------------------------------------

    def spawn(self, host: str, argv: list[str], log: Path) -> subprocess.Popen[bytes]:
        """`ip netns exec NS argv...`, output to `log`; killed at close() if still running."""
        out = log.open("ab")
        self._logs.append(out)
        proc = subprocess.Popen(
            ["ip", "netns", "exec", self.namespace(host), *argv],
            stdin=subprocess.DEVNULL,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
        self._processes.append(proc)
        return proc

    def run_in(self, host: str, function: Callable[[], T]) -> T:
        """Call `function` in a thread that entered the host's network namespace: sockets it
        creates live there (and keep working from any thread afterwards)."""
        result: dict[str, Any] = {}

        def enter_and_call() -> None:
            try:
                self.enter(host)
                result["value"] = function()
            except BaseException as exc:
                result["error"] = exc

        thread = threading.Thread(target=enter_and_call, name=f"netns-{host}")
        thread.start()
        thread.join()
        if "error" in result:
            raise result["error"]
        return result["value"]  # type: ignore[no-any-return]

    def enter(self, host: str) -> None:
        """Move the calling thread (only) into the host's network namespace."""
        fd = os.open(f"/run/netns/{self.namespace(host)}", os.O_RDONLY)
        try:
            if _libc.setns(fd, _CLONE_NEWNET) != 0:
                error = ctypes.get_errno()
                raise OSError(error, f"setns: {os.strerror(error)}")
        finally:
            os.close(fd)

    def close(self) -> None:
        # SIGTERM first so that keepalived stops its own child; SIGKILL what is left.
        for proc in self._processes:
            if proc.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGTERM)
        for proc in self._processes:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGKILL)
                with contextlib.suppress(subprocess.TimeoutExpired):
                    proc.wait(timeout=10)
        for out in self._logs:
            out.close()
        for name in reversed(self._namespaces):
            with contextlib.suppress(subprocess.CalledProcessError):
                ip("netns", "del", name)
