"""Zero-downtime upgrade: a new `fastlb serve --upgrade` takes over the running one's sockets.

As HAProxy's `expose-fd listeners` and Envoy's hot restart do, the running process hands its
listening sockets to the new one over a unix socket (SCM_RIGHTS). Both then hold the *same*
sockets, with the same accept queues: a connection waiting there is accepted by one of the
two, never reset. (Binding a second SO_REUSEPORT set instead would not do: closing the old
set later resets whatever waits in its queues.) Once the new process serves, the old one
stops accepting, drains its established connections and exits.

The conversation, over a SOCK_SEQPACKET unix socket (message boundaries kept, each message
carries its own descriptors), the old process listening at the upgrade socket:

    new -> old   {"op": "hello", "pid": N}
    old -> new   {"op": "inventory", "api": LISTEN|null, "failover": STATE|null,
                  "bgp": {"announced": B, "med": MED|null, "speaker_pid": P}|null, "frontends": K}
    old -> new   K x {"op": "listeners", "frontend": NAME, "listen": IP:PORT} + descriptors
    old -> new   {"op": "api", "listen": LISTEN} + one descriptor        (when it has an API)
    new          adopts them, starts (accepting on them from now on)
    new -> old   {"op": "takeover"}
    old -> new   {"op": "draining", "pid": M}; the old process stops accepting and drains

Until `takeover` nothing has changed in the old process: if the new one fails to start and
closes the connection, the old one carries on as if nothing happened.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import logging
import os
import socket
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

log = logging.getLogger("fastlb")

# SCM_MAX_FD: the kernel refuses more descriptors in one message.
MAX_FDS_PER_MESSAGE = 253
MAX_MESSAGE = 64 * 1024
# How long the old process waits for the new one to start and take over; the new one's
# start includes a first round of MySQL topology checks.
TAKEOVER_TIMEOUT = 120.0
# How long either side waits for one message of the inventory.
STEP_TIMEOUT = 10.0


class UpgradeError(OSError):
    """The hand-over failed (no process to take over from, a refused or broken exchange)."""


def default_socket_path(config_file: str | os.PathLike[str]) -> Path:
    """Where `fastlb serve` listens for an upgrade and `--upgrade` looks: one path per
    configuration file, in systemd's `RuntimeDirectory=` when there is one."""
    digest = hashlib.sha256(os.fsencode(os.path.realpath(config_file))).hexdigest()[:16]
    directory = (
        os.environ.get("RUNTIME_DIRECTORY", "").split(":")[0]
        or os.environ.get("XDG_RUNTIME_DIR")
        or tempfile.gettempdir()
    )
    return Path(directory) / f"fastlb-{digest}.sock"


@dataclass
class Inheritance:
    """What the new process received: listening sockets by frontend, the API's socket, the
    failover state to resume in and the BGP announcement to keep (bgp/handover.py). It owns
    the descriptors until they are adopted."""

    listeners: list[tuple[str, str, list[int]]] = field(default_factory=list)
    api: tuple[str, socket.socket] | None = None
    failover: str | None = None
    bgp: dict[str, Any] | None = None
    connection: socket.socket | None = None
    old_pid: int | None = None

    def close(self) -> None:
        """Close whatever was not adopted (and the connection: the old process carries on)."""
        for _, _, fds in self.listeners:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        self.listeners = []
        if self.api is not None:
            self.api[1].close()
            self.api = None
        if self.connection is not None:
            self.connection.close()
            self.connection = None

    def take_api_socket(self, listen: str) -> socket.socket | None:
        """The old API's listening socket when the new configuration listens at the same place."""
        if self.api is None or self.api[0] != listen:
            return None
        sock, self.api = self.api[1], None
        return sock

    def complete(self) -> int:
        """Tell the old process to stop accepting; returns its pid once it said it drains."""
        assert self.connection is not None
        _send(self.connection, {"op": "takeover"})
        reply, _ = _receive(self.connection, STEP_TIMEOUT)
        if reply.get("op") != "draining":
            raise UpgradeError(f"unexpected answer to takeover: {reply!r}")
        self.connection.close()
        self.connection = None
        return int(reply["pid"])


def take_over(path: Path) -> Inheritance:
    """Connect to the running fastlb at `path` and receive its sockets (new process)."""
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
    try:
        sock.settimeout(STEP_TIMEOUT)
        sock.connect(os.fspath(path))
    except OSError as exc:
        sock.close()
        raise UpgradeError(
            exc.errno, f"no running fastlb to take over at {path}: {exc.strerror or exc}"
        ) from None
    inheritance = Inheritance(connection=sock)
    try:
        _send(sock, {"op": "hello", "pid": os.getpid()})
        inventory, _ = _receive(sock, STEP_TIMEOUT)
        if inventory.get("op") != "inventory":
            raise UpgradeError(f"unexpected message: {inventory!r}")
        inheritance.failover = inventory.get("failover")
        inheritance.bgp = inventory.get("bgp")
        for _ in range(int(inventory["frontends"])):
            message, fds = _receive(sock, STEP_TIMEOUT)
            inheritance.listeners.append((message["frontend"], message["listen"], fds))
        if inventory.get("api") is not None:
            message, fds = _receive(sock, STEP_TIMEOUT)
            api = socket.socket(fileno=fds[0])
            inheritance.api = (message["listen"], api)
    except BaseException:
        inheritance.close()
        raise
    return inheritance


class UpgradeListener:
    """The running process's end: listens at the upgrade socket and hands everything over
    to the first peer (same user, or root) that asks."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_SEQPACKET | socket.SOCK_CLOEXEC)
        # Bound beside the final path and renamed over it: a process that took over from
        # another replaces its socket atomically, and a stale one from a crash goes too.
        staging = path.with_name(f"{path.name}.{os.getpid()}")
        with contextlib.suppress(FileNotFoundError):
            staging.unlink()
        old_umask = os.umask(0o177)  # 0600: the sockets it gives out are the service itself
        try:
            self._socket.bind(os.fspath(staging))
        finally:
            os.umask(old_umask)
        self._socket.listen(1)
        os.replace(staging, path)
        self._inode = path.stat().st_ino
        self._socket.setblocking(False)

    async def accept(self) -> socket.socket | None:
        """The next peer allowed to take over, or None (refused)."""
        conn, _ = await asyncio.get_running_loop().sock_accept(self._socket)
        conn.setblocking(True)
        creds = conn.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12)
        uid = int.from_bytes(creds[4:8], "little")
        if uid not in (0, os.getuid()):
            log.warning("upgrade: refused a peer of uid %d", uid)
            conn.close()
            return None
        return conn

    def close(self) -> None:
        """Stop listening; remove the path unless a newer process has replaced it."""
        self._socket.close()
        with contextlib.suppress(OSError):
            if self.path.stat().st_ino == self._inode:
                self.path.unlink()


def hand_over(
    conn: socket.socket,
    exported: list[tuple[str, str, list[int]]],
    api: tuple[str, socket.socket] | None,
    failover: str | None,
    bgp: dict[str, Any] | None = None,
) -> bool:
    """Send the listeners (closing this process's duplicates) and wait for `takeover`.

    True: the new process serves now and was told that this one drains; False: it gave up
    (this process keeps serving). Blocking: run it off the event loop."""
    try:
        conn.settimeout(STEP_TIMEOUT)
        hello, _ = _receive(conn, STEP_TIMEOUT)
        log.info("upgrade: process %s takes over", hello.get("pid"))
        inventory = {
            "op": "inventory",
            "api": api[0] if api else None,
            "failover": failover,
            "bgp": bgp,
            "frontends": len(exported),
        }
        _send(conn, inventory)
        for name, listen, fds in exported:
            if len(fds) > MAX_FDS_PER_MESSAGE:
                raise UpgradeError(f"frontend {name!r}: more than {MAX_FDS_PER_MESSAGE} sockets")
            _send(conn, {"op": "listeners", "frontend": name, "listen": listen}, fds)
        if api is not None:
            _send(conn, {"op": "api", "listen": api[0]}, [api[1].fileno()])
        message, _ = _receive(conn, TAKEOVER_TIMEOUT)
        if message.get("op") != "takeover":
            raise UpgradeError(f"unexpected message: {message!r}")
        _send(conn, {"op": "draining", "pid": os.getpid()})
        return True
    except (OSError, ValueError, KeyError) as exc:
        log.error("upgrade: the new process did not take over (%s); still serving", exc)
        return False
    finally:
        for _, _, fds in exported:
            for fd in fds:
                with contextlib.suppress(OSError):
                    os.close(fd)
        if api is not None:
            api[1].close()
        conn.close()


def _send(sock: socket.socket, message: dict[str, Any], fds: list[int] | None = None) -> None:
    data = json.dumps(message).encode()
    if fds:
        socket.send_fds(sock, [data], fds)
    else:
        sock.sendall(data)


def _receive(sock: socket.socket, timeout: float) -> tuple[dict[str, Any], list[int]]:
    sock.settimeout(timeout)
    data, fds, flags, _ = socket.recv_fds(sock, MAX_MESSAGE, MAX_FDS_PER_MESSAGE)
    if flags & socket.MSG_CTRUNC:
        for fd in fds:
            os.close(fd)
        raise UpgradeError("descriptors were truncated")
    if not data:
        for fd in fds:
            os.close(fd)
        raise UpgradeError("the other process closed the connection")
    for fd in fds:
        os.set_inheritable(fd, False)
    message = json.loads(data)
    if not isinstance(message, dict):
        raise UpgradeError(f"unexpected message: {message!r}")
    return message, fds
