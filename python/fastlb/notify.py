"""The systemd notify protocol (sd_notify(3)) for `fastlb serve` under `Type=notify`.

systemd passes the path of a unix datagram socket in `$NOTIFY_SOCKET`: a filesystem path, or
`@name` for the abstract namespace (Linux: the leading `@` stands for a NUL byte). Each state
change is one datagram of newline-separated `KEY=VALUE` lines. No systemd library is needed,
and without `$NOTIFY_SOCKET` (not under systemd) every call does nothing.
"""

from __future__ import annotations

import logging
import os
import socket
import time

log = logging.getLogger("fastlb")


class Notifier:
    """Sends sd_notify messages to `$NOTIFY_SOCKET` (or `address`); a no-op without one.

    A notification that cannot be sent is logged and dropped: systemd then times the start or
    reload out, which names the problem better than a crashed load balancer would.
    """

    def __init__(self, address: str | None = None) -> None:
        if address is None:
            address = os.environ.get("NOTIFY_SOCKET") or None
        self._address = _socket_address(address) if address else None
        self._socket: socket.socket | None = None
        if self._address is not None:
            self._socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC)

    @property
    def enabled(self) -> bool:
        """Whether a notify socket was given (i.e. running under `Type=notify`)."""
        return self._socket is not None

    def send(self, **fields: str | int) -> bool:
        """Send one message, e.g. `send(READY=1, STATUS="serving")`; True when it was sent."""
        if self._socket is None or self._address is None:
            return False
        message = "".join(f"{key}={value}\n" for key, value in fields.items())
        try:
            self._socket.sendto(message.encode(), self._address)
        except OSError as exc:
            log.warning("sd_notify %s: %s", message.strip().replace("\n", " "), exc)
            return False
        return True

    def ready(self, status: str | None = None) -> bool:
        """Startup (or a reload) is complete: listeners are bound and serving."""
        return self.send(READY=1, **_status(status))

    def reloading(self, status: str | None = None) -> bool:
        """A reload begins. systemd >= 253 wants the CLOCK_MONOTONIC time in microseconds to
        match the reload with the READY=1 that ends it (sd_notify(3), `Type=notify-reload`)."""
        usec = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
        return self.send(RELOADING=1, MONOTONIC_USEC=usec, **_status(status))

    def stopping(self, status: str | None = None, needs: float | None = None) -> bool:
        """Shutdown begins (draining): systemd shows `deactivating` rather than a failure.
        `needs`: seconds the shutdown may take; systemd (>= 236) then waits at least that
        long before SIGKILL even if the unit's TimeoutStopSec= is shorter (a long
        drain_timeout must not be cut short by a unit file that did not expect it)."""
        extend = {"EXTEND_TIMEOUT_USEC": round(needs * 1_000_000)} if needs is not None else {}
        return self.send(STOPPING=1, **extend, **_status(status))

    def watchdog(self) -> bool:
        """A keep-alive for `WatchdogSec=`: the event loop is alive."""
        return self.send(WATCHDOG=1)

    def close(self) -> None:
        """Close the datagram socket; further calls do nothing."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None


def watchdog_interval() -> float | None:
    """Seconds between keep-alives when systemd asked for them (`WatchdogSec=` sets
    `$WATCHDOG_USEC`, and `$WATCHDOG_PID` when set must be this process), else None. Half the
    timeout, as sd_watchdog_enabled(3) recommends."""
    usec = os.environ.get("WATCHDOG_USEC", "")
    pid = os.environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if pid and pid != str(os.getpid()):
        return None
    return int(usec) / 1_000_000 / 2


def _socket_address(address: str) -> str | bytes:
    if address.startswith("@"):
        return b"\0" + address[1:].encode()
    return address


def _status(status: str | None) -> dict[str, str]:
    # STATUS is one line of free text shown by `systemctl status`.
    return {"STATUS": status.replace("\n", " ")} if status else {}
