"""`NotifyCommand` (the `notify:` of VRRP and MySQL failover) with real processes: runs in
the order submitted without the caller waiting, and a command that fails, cannot start or
hangs is logged (the hung one killed), never raised."""

from __future__ import annotations

import asyncio
import logging
import time
from pathlib import Path

import pytest

from fastlb.notify_command import NotifyCommand


def test_runs_in_order_without_the_caller_waiting(tmp_path: Path) -> None:
    out = tmp_path / "calls"
    # The first run is the slowest: a concurrent runner would write it last.
    # ($0 is the word after the -c script; the submitted arguments come after it.)
    script = f"sh -c 'sleep $1; echo \"$0 $1 $FASTLB_X\" >> {out}' notify"

    async def main() -> float:
        command = NotifyCommand(script, "test")
        started = time.monotonic()
        for delay in ("0.3", "0.1", "0"):
            command.submit([delay], {"FASTLB_X": f"x{delay}"})
        submitted = time.monotonic() - started
        await command.wait_idle()
        command.close()
        return submitted

    submitted = asyncio.run(main())
    assert submitted < 0.1  # submit() returned at once; the runs took 0.4 s after it
    assert out.read_text().splitlines() == ["notify 0.3 x0.3", "notify 0.1 x0.1", "notify 0 x0"]


def test_failures_are_logged_and_a_hung_command_is_killed(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="fastlb.notify")

    async def main() -> None:
        for argv, timeout in (
            (f"{tmp_path}/missing", 5.0),
            ("sh -c 'exit 3'", 5.0),
            ("sh -c 'exec sleep 30' hang", 0.2),
        ):
            command = NotifyCommand(argv, "test", timeout=timeout)
            command.submit(["MASTER"])
            await asyncio.wait_for(command.wait_idle(), 10)
            command.close()

    asyncio.run(main())
    assert f"test: notify command {tmp_path}/missing failed to start" in caplog.text
    assert "test: notify command sh exited with 3" in caplog.text
    assert "test: notify command sh killed after 0.2s" in caplog.text
