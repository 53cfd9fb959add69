"""ExaBGP 4.2 as the speaker: fastlb starts it with a configuration whose API process is a
two-line shell relay between two FIFOs, writes text commands (`announce route ...`,
`withdraw route ...`) into one and reads ExaBGP's JSON session events from the other.

ExaBGP only runs API programs as its own children; the relay turns that into pipes fastlb
owns, so that fastlb stays the parent (and the speaker dies with it, see process.py).

With `graceful_restart_time` the sessions advertise graceful restart (RFC 4724). ExaBGP then
closes them without a NOTIFICATION whenever it stops, SIGTERM included: fastlb withdraws
before it stops ExaBGP, but when fastlb is killed the routers keep the routes for the
restart time (the README's trade-off). After an upgrade ExaBGP starts with the routes in
its configuration, so that they precede its End-of-RIB.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import stat
from pathlib import Path

from .config import BgpConfig
from .process import SpeakerProcess, find_program

__all__ = ["ExabgpDriver", "exabgp_commands", "exabgp_config", "parse_event", "sent_withdrawal"]

log = logging.getLogger("fastlb.bgp")

# ExaBGP's events -> the BGP state names BIRD and `show bgp` use.
_EVENT_STATES = {"up": "established", "connected": "opensent", "down": "idle"}
# How long a stop waits for ExaBGP to have sent the withdrawal it was given (its SIGTERM
# would otherwise drop it: with graceful restart it then leaves the routes stale).
WITHDRAW_FLUSH_TIMEOUT = 2.0


def exabgp_config(config: BgpConfig, relay: Path, med: int | None = None) -> str:
    """The configuration; with `med`, the routes announced from the start (in the first
    UPDATE, before End-of-RIB) rather than through the API once the session is up."""
    restart = int(config.graceful_restart_time)
    capability = f"    capability {{ graceful-restart {restart}; }}\n" if restart else ""
    routes = "".join(f"        {command.removeprefix('announce ')};\n" for command in
                     exabgp_commands(config, med)) if med is not None else ""  # fmt: skip
    static = f"    static {{\n{routes}    }}\n" if routes else ""
    neighbors = "".join(
        f"neighbor {peer.address} {{\n"
        f"    router-id {config.effective_router_id};\n"
        f"    local-address {config.local_address};\n"
        f"    local-as {config.local_as};\n"
        f"    peer-as {peer.as_};\n"
        f"    hold-time {int(config.hold_time)};\n"
        f"{capability}{static}"
        # `send { parsed; update; }`: the UPDATEs it sends, decoded (a stop waits for its
        # withdrawal).
        "    api { processes [ fastlb ]; neighbor-changes; send { parsed; update; } }\n"
        "}\n"
        for peer in config.peers
    )
    return (
        "# Written by fastlb: changes are overwritten.\n"
        f"process fastlb {{\n    run {relay};\n    encoder json;\n}}\n{neighbors}"
    )


def exabgp_commands(config: BgpConfig, med: int | None) -> list[str]:
    """The API commands that announce every virtual IP with `med`, or withdraw them."""
    if med is None:
        return [f"withdraw route {vip.network}" for vip in config.virtual_ips]
    next_hop = str(config.next_hop) if config.next_hop else "self"
    community = f" community [{' '.join(config.communities)}]" if config.communities else ""
    return [
        f"announce route {vip.network} next-hop {next_hop} med {med}{community}"
        for vip in config.virtual_ips
    ]


def sent_withdrawal(line: str) -> bool:
    """Whether the JSON event is an UPDATE ExaBGP sent that withdraws something."""
    try:
        event = json.loads(line)
    except ValueError:
        return False
    if not isinstance(event, dict) or event.get("type") != "update":
        return False
    neighbor = event.get("neighbor", {})
    update = neighbor.get("message", {}).get("update", {})
    return neighbor.get("direction") == "send" and isinstance(update, dict) and "withdraw" in update


def parse_event(line: str) -> tuple[str, str] | None:
    """A JSON `state` event -> (peer address, BGP state); None for anything else."""
    try:
        event = json.loads(line)
    except ValueError:
        return None
    if not isinstance(event, dict) or event.get("type") != "state":
        return None
    neighbor = event.get("neighbor", {})
    peer = neighbor.get("address", {}).get("peer")
    state = neighbor.get("state")
    if not isinstance(peer, str) or not isinstance(state, str):
        return None
    return peer, _EVENT_STATES.get(state, state)


class ExabgpDriver:
    """`exabgp` in the foreground, driven through the relay's FIFOs in `workdir`."""

    name = "exabgp"

    def __init__(self, config: BgpConfig, workdir: Path) -> None:
        self.config = config
        self.workdir = workdir
        self._program = find_program("exabgp", "exabgp")
        self._commands_path = workdir / "commands.fifo"
        self._events_path = workdir / "events.fifo"
        self.sessions: dict[str, str] = {str(p.address): "idle" for p in config.peers}
        self.bfd_sessions: dict[str, str] = {}  # ExaBGP has no BFD
        self._process: SpeakerProcess | None = None
        self._commands_fd: int | None = None
        self._events: asyncio.Task[None] | None = None
        # Whether the last apply() withdrew, and whether ExaBGP has sent that UPDATE.
        self._withdrawing = False
        self._withdrawal_sent = asyncio.Event()

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self, med: int | None = None, restarting: bool = False) -> None:
        """Start ExaBGP announcing with `med` (None: nothing). ExaBGP always sets the
        restart-state bit in its first OPEN, so `restarting` changes nothing here."""
        for fifo in (self._commands_path, self._events_path):
            fifo.unlink(missing_ok=True)
            os.mkfifo(fifo, 0o600)
        relay = self.workdir / "relay.sh"
        # Commands: FIFO -> ExaBGP (the relay's stdout); events: ExaBGP -> FIFO. Not
        # ExaBGP's stderr (fastlb's pipe): a relay that outlives a killed ExaBGP (until fastlb
        # closes the commands FIFO) would hold it open, and asyncio's wait() waits for it.
        relay.write_text(
            f"#!/bin/sh\nexec 2>/dev/null\ncat {self._commands_path} &\n"
            f"exec cat > {self._events_path}\n"
        )
        relay.chmod(relay.stat().st_mode | stat.S_IXUSR)
        conf = self.workdir / "exabgp.conf"
        conf.write_text(exabgp_config(self.config, relay, med))
        # O_RDWR: opening a FIFO this way never blocks waiting for the other side.
        self._commands_fd = os.open(self._commands_path, os.O_RDWR | os.O_NONBLOCK)
        events_fd = os.open(self._events_path, os.O_RDWR | os.O_NONBLOCK)
        env = {
            "exabgp.daemon.daemonize": "false",
            "exabgp.daemon.drop": "false",  # no setuid to `nobody`: it could not read the FIFOs
            "exabgp.daemon.user": os.environ.get("USER", "root"),
            "exabgp.log.destination": "stdout",
            "exabgp.log.level": "WARNING",
            "exabgp.api.ack": "false",
            "exabgp.api.cli": "false",
        }
        self._process = SpeakerProcess("exabgp", [self._program, str(conf)], env)
        await self._process.start()
        self._events = asyncio.get_running_loop().create_task(self._read_events(events_fd))

    async def _read_events(self, fd: int) -> None:
        loop = asyncio.get_running_loop()
        reader = asyncio.StreamReader()
        transport, _ = await loop.connect_read_pipe(
            lambda: asyncio.StreamReaderProtocol(reader), os.fdopen(fd, "rb", buffering=0)
        )
        try:
            while line := await reader.readline():
                text = line.decode(errors="replace")
                if sent_withdrawal(text):
                    self._withdrawal_sent.set()
                parsed = parse_event(text)
                if parsed is not None:
                    peer, state = parsed
                    self.sessions = {**self.sessions, peer: state}
        finally:
            transport.close()

    async def apply(self, med: int | None) -> None:
        assert self._commands_fd is not None
        if med is None:
            self._withdrawal_sent.clear()
        self._withdrawing = med is None
        data = "".join(f"{command}\n" for command in exabgp_commands(self.config, med))
        # A few hundred bytes into an empty FIFO (64 KiB): never blocks.
        os.write(self._commands_fd, data.encode())

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def stop(self, graceful_restart: bool = False) -> None:
        """End ExaBGP: SIGTERM once the last withdrawal is out, or SIGKILL with
        `graceful_restart` (an upgrade)."""
        established = "established" in self.sessions.values()
        if not graceful_restart and self._withdrawing and established:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._withdrawal_sent.wait(), WITHDRAW_FLUSH_TIMEOUT)
        if self._process is not None:
            await (self._process.kill() if graceful_restart else self._process.stop())
        if self._events is not None:
            self._events.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._events
        if self._commands_fd is not None:
            # The relay's `cat` sees end-of-file and exits.
            os.close(self._commands_fd)
            self._commands_fd = None
        self.sessions = dict.fromkeys(self.sessions, "idle")
