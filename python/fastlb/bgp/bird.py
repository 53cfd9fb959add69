"""BIRD 2 as the speaker (the default): fastlb writes its whole configuration (one static
protocol holding the virtual IPs while announced, one BGP protocol per peer, the MED set in
the export filter) and applies each change with `configure` on BIRD's control socket.

BIRD keeps the sessions up across such a reconfiguration when only the routes or the export
filter change: it just re-exports ("Reloading channel"). Session states are read with
`show protocols` on the same socket.

With `graceful_restart_time` the sessions advertise graceful restart (RFC 4724); after an
upgrade the new BIRD starts with `-R` (restart state and forwarding-state bits set: the
routers keep the old routes until its End-of-RIB) and with the routes already configured.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from pathlib import Path

from .config import BgpConfig
from .process import BgpError, SpeakerProcess, find_program

__all__ = ["BirdDriver", "bird_config", "parse_bfd_sessions", "parse_protocols"]

log = logging.getLogger("fastlb.bgp")

SOCKET_TIMEOUT = 5.0
SESSION_POLL_SECONDS = 0.5
_STATIC = "fastlb_vips"


def _peer_protocol(index: int) -> str:
    return f"fastlb_peer{index}"


def bird_config(config: BgpConfig, med: int | None) -> str:
    """The complete bird.conf: the virtual IPs announced with `med`, or withdrawn (None)."""
    communities = "".join(
        f" bgp_community.add(({asn},{value}));"
        for asn, value in (c.split(":") for c in config.communities)
    )
    routes = (
        "".join(f"\n  route {vip.network} blackhole;" for vip in config.virtual_ips)
        if med is not None
        else ""
    )
    hold = int(config.hold_time)
    timers = f"hold time {hold}; keepalive time {max(1, hold // 3)};" if hold else ""
    next_hop = f" next hop address {config.next_hop};" if config.next_hop else ""
    restart = int(config.graceful_restart_time)
    graceful = f"graceful restart on; graceful restart time {restart};" if restart else ""
    lines = [
        "# Written by fastlb: changes are overwritten.",
        "log stderr all;",
        f"router id {config.effective_router_id};",
        # After `bird -R`: how long the recovery may last (BIRD's default, 240 s, is for
        # kernel routes; a router that never sends End-of-RIB must not hold ours that long).
        *([f"graceful restart wait {restart};"] if restart else []),
        "protocol device { scan time 10; }",
        *(
            [
                'protocol bfd { interface "*" { min rx interval 100 ms; '
                "min tx interval 100 ms; multiplier 3; }; }"
            ]
            if config.bfd
            else []
        ),
        # Blackhole: BIRD installs nothing in the kernel (no kernel protocol); the route only
        # exists to be exported.
        f"protocol static {_STATIC} {{\n  ipv4;{routes}\n}}",
        # MED is only sent to eBGP peers when set by the export filter (BIRD drops a MED
        # that came with the route, as RFC 4271 5.1.4 asks for a received one).
        f'filter fastlb_export {{\n  if proto != "{_STATIC}" then reject;\n'
        f"  bgp_med = {med if med is not None else 0};{communities}\n  accept;\n}}",
    ]
    for index, peer in enumerate(config.peers):
        lines.append(
            f"protocol bgp {_peer_protocol(index)} {{\n"
            f"  local {config.local_address} as {config.local_as};\n"
            f"  neighbor {peer.address} as {peer.as_};\n"
            # BIRD waits 5 s before its first connection by default: a node that comes
            # back should take traffic as soon as it can serve.
            f"  {timers} connect delay time 1; connect retry time 2; error wait time 1, 10;\n"
            f"  {'bfd on;' if config.bfd else ''} {graceful}\n"
            f"  ipv4 {{ import none; export filter fastlb_export;{next_hop} }};\n"
            "}"
        )
    return "\n".join(lines) + "\n"


def parse_protocols(reply: list[tuple[int, str]], peers: list[str]) -> dict[str, str]:
    """`show protocols` -> peer address -> BGP state, lower case (`established`,
    `active`, `connect`, `idle`, `opensent`, `openconfirm`, `down`)."""
    states: dict[str, str] = {}
    for code, text in reply:
        fields = text.split()
        if code != 1002 or len(fields) < 4 or not fields[0].startswith("fastlb_peer"):
            continue
        try:
            address = peers[int(fields[0].removeprefix("fastlb_peer"))]
        except (ValueError, IndexError):
            continue
        # name proto table state since [info...]; `since` is one field (a time) or two
        # (a date and a time) depending on BIRD's timeformat.
        info = [f for f in fields[5:] if not f[:1].isdigit()]
        states[address] = (info[0] if info and fields[3] == "up" else fields[3]).lower()
    return states


def parse_bfd_sessions(reply: list[tuple[int, str]], peers: list[str]) -> dict[str, str]:
    """`show bfd sessions` -> peer address -> BFD state, lower case (`up`, `down`, `init`,
    `admindown`); peers without a session are left out."""
    states: dict[str, str] = {}
    for code, text in reply:
        fields = text.split()
        # "IP address  Interface  State  Since  Interval  Timeout" rows.
        if code == 1020 and len(fields) >= 3 and fields[0] in peers:
            states[fields[0]] = fields[2].lower()
    return states


async def bird_command(socket_path: Path, command: str) -> list[tuple[int, str]]:
    """One command on BIRD's control socket: its reply as (code, text) lines; BgpError when
    BIRD answers with an error (codes 8000-9999)."""
    reader, writer = await asyncio.wait_for(
        asyncio.open_unix_connection(str(socket_path)), SOCKET_TIMEOUT
    )
    try:
        reply: list[tuple[int, str]] = []
        code = 0
        greeted = False
        writer.write(command.encode() + b"\n")
        await writer.drain()
        while True:
            raw = await asyncio.wait_for(reader.readline(), SOCKET_TIMEOUT)
            if not raw:
                raise BgpError(f"bgp: BIRD closed the control socket during {command!r}")
            line = raw.decode(errors="replace").rstrip("\n")
            # "CODE-text" continues, "CODE text" ends the reply, " text" continues CODE.
            if line[:4].isdigit():
                code, text, last = int(line[:4]), line[5:], line[4:5] == " "
            else:
                text, last = line[1:], False
            if not greeted:  # "0001 BIRD 2.0.12 ready."
                greeted = True
                continue
            reply.append((code, text))
            if last:
                break
        if code >= 8000:
            raise BgpError(f"bgp: BIRD refused {command!r}: {text}")
        return reply
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


class BirdDriver:
    """`bird -f` in `workdir`, reconfigured at each announcement change."""

    name = "bird"

    def __init__(self, config: BgpConfig, workdir: Path) -> None:
        self.config = config
        self.conf = workdir / "bird.conf"
        self.socket = workdir / "bird.ctl"
        self._program = find_program("bird", "bird2")
        self._peers = [str(peer.address) for peer in config.peers]
        self.sessions: dict[str, str] = dict.fromkeys(self._peers, "idle")
        # BFD state per peer, polled with the sessions when `bfd: true`.
        self.bfd_sessions: dict[str, str] = {}
        self._process: SpeakerProcess | None = None
        self._poller: asyncio.Task[None] | None = None
        # Ends the poller even when its cancellation is lost: Python 3.11's wait_for()
        # returns the result instead of raising when the cancel arrives as the command
        # completes (fixed in 3.12), and the poller would run on while stop() awaits it.
        self._stopping = False

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    async def start(self, med: int | None = None, restarting: bool = False) -> None:
        """Start BIRD announcing with `med` (None: nothing), in graceful-restart recovery
        when `restarting`; returns once its control socket answers."""
        self.conf.write_text(bird_config(self.config, med))
        self.socket.unlink(missing_ok=True)
        argv = [self._program, "-f", "-c", str(self.conf), "-s", str(self.socket)]
        if restarting:
            argv.append("-R")
        self._process = SpeakerProcess("bird", argv)
        await self._process.start()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SOCKET_TIMEOUT
        while True:
            try:
                await bird_command(self.socket, "show status")
                break
            except (OSError, BgpError):
                if self._process.process and self._process.process.returncode is not None:
                    raise BgpError("bgp: BIRD exited at start (see its lines above)") from None
                if loop.time() > deadline:
                    raise BgpError(f"bgp: BIRD's socket {self.socket} does not answer") from None
                await asyncio.sleep(0.05)
        self._poller = loop.create_task(self._poll_sessions())

    async def apply(self, med: int | None) -> None:
        """Announce every virtual IP with `med`, or withdraw them (None)."""
        self.conf.write_text(bird_config(self.config, med))
        await bird_command(self.socket, "configure")

    async def _poll_sessions(self) -> None:
        while not self._stopping:
            try:
                reply = await bird_command(self.socket, "show protocols")
            except (OSError, BgpError) as exc:
                log.debug("bgp: show protocols failed: %s", exc)
            else:
                self.sessions = {**self.sessions, **parse_protocols(reply, self._peers)}
            if self.config.bfd:
                try:
                    reply = await bird_command(self.socket, "show bfd sessions")
                except (OSError, BgpError) as exc:
                    log.debug("bgp: show bfd sessions failed: %s", exc)
                else:
                    self.bfd_sessions = parse_bfd_sessions(reply, self._peers)
            await asyncio.sleep(SESSION_POLL_SECONDS)

    async def wait(self) -> int:
        assert self._process is not None
        return await self._process.wait()

    async def stop(self, graceful_restart: bool = False) -> None:
        """End BIRD: SIGTERM (a Cease to every peer), or with `graceful_restart` SIGKILL
        (no Cease: routers that negotiated graceful restart keep the routes)."""
        self._stopping = True
        if self._poller is not None:
            self._poller.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._poller
        if self._process is not None:
            await (self._process.kill() if graceful_restart else self._process.stop())
        self.sessions = dict.fromkeys(self._peers, "idle")
        self.bfd_sessions = {}
