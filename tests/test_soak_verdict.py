"""The soak's verdict (bench/soak/verdict.py) on recorded series: flat ones pass, growing ones,
errors outside the windows that explain them, failed operations and idle traffic fail."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
if str(REPO) not in sys.path:  # `bench` is a top-level folder of the repo, not installed
    sys.path.insert(0, str(REPO))

from bench.soak.model import BACKEND_OF_TRAFFIC, ClientError, Operation, ResourceSample  # noqa: E402
from bench.soak.verdict import Bounds, MiB, judge  # noqa: E402

BOUNDS = Bounds(warmup_s=10.0, settle_s=5.0, window=5, rss_bytes=16 * MiB, fds=32, threads=4)
SERVED = dict.fromkeys(BACKEND_OF_TRAFFIC, 100)


def series(
    seconds: int,
    *,
    pid: int = 100,
    start: int = 0,
    rss_mib: float = 40.0,
    rss_per_s: float = 0.0,
    fds: int = 60,
    fds_per_s: float = 0.0,
    threads: int = 12,
) -> list[ResourceSample]:
    return [
        ResourceSample(
            t=float(t),
            pid=pid,
            rss_bytes=int((rss_mib + rss_per_s * (t - start)) * MiB),
            fds=int(fds + fds_per_s * (t - start)),
            threads=threads,
            connections=10,
        )
        for t in range(start, start + seconds)
    ]


def test_flat_process_without_errors_passes() -> None:
    verdict = judge(series(60), [], [], SERVED, BOUNDS)
    assert verdict.passed, verdict.failures
    assert {g.metric for g in verdict.growth} == {"rss_bytes", "fds", "threads"}
    assert all(g.grew == 0 for g in verdict.growth)


def test_rss_that_keeps_growing_fails() -> None:
    # 0.5 MiB/s: ~22 MiB between the first and the last window of the steady state.
    verdict = judge(series(60, rss_per_s=0.5), [], [], SERVED, BOUNDS)
    assert not verdict.passed
    assert any(f.startswith("rss_bytes of pid 100 grew") for f in verdict.failures)


def test_growth_during_warmup_only_passes() -> None:
    # Caches filling up in the first seconds, then flat.
    warming = series(10, rss_mib=10.0, rss_per_s=3.0)
    verdict = judge([*warming, *series(50, start=10, rss_mib=40.0)], [], [], SERVED, BOUNDS)
    assert verdict.passed, verdict.failures


def test_leaking_descriptors_fail() -> None:
    verdict = judge(series(60, fds_per_s=1.0), [], [], SERVED, BOUNDS)
    # Medians of t=10..14 and t=55..59: 72 -> 117.
    assert verdict.failures == ["fds of pid 100 grew by 45 (72 -> 117), more than 32"]


def test_each_process_is_judged_on_its_own_after_an_upgrade() -> None:
    # The new process is smaller than the old one (fresh heap): not a shrink to judge, and
    # its own growth is measured from its own settled start.
    old = series(30, pid=100, rss_mib=60.0)
    new = series(40, pid=200, start=30, rss_mib=30.0, rss_per_s=1.0)
    verdict = judge([*old, *new], [], [], SERVED, BOUNDS)
    assert {g.pid for g in verdict.growth} == {100, 200}
    assert verdict.failures == [
        next(f for f in verdict.failures if f.startswith("rss_bytes of pid 200 grew"))
    ]


def test_too_short_to_judge_fails() -> None:
    verdict = judge(series(15), [], [], SERVED, BOUNDS)
    assert "no process ran long enough after warm-up to judge its resources" in verdict.failures


def restart(target: str, start: float, end: float) -> Operation:
    return Operation("restart", target, start, end, ok=True)


def test_a_502_while_the_web_backend_restarts_is_expected() -> None:
    errors = [ClientError(21.0, "http-new", "status 502", "")]
    verdict = judge(series(60), errors, [restart("web", 20.0, 22.0)], SERVED, BOUNDS)
    assert verdict.passed, verdict.failures
    assert verdict.expected_errors == errors


def test_a_502_after_the_grace_is_unexpected() -> None:
    late = BOUNDS.grace_s + 22.5
    errors = [ClientError(late, "http-new", "status 502", "")]
    verdict = judge(series(60), errors, [restart("web", 20.0, 22.0)], SERVED, BOUNDS)
    assert verdict.unexpected_errors == errors
    assert not verdict.passed


def test_an_error_is_explained_only_by_its_own_backend_restarting() -> None:
    # A MySQL error while the web backend restarts is not explained by that restart.
    errors = [ClientError(21.0, "mysql", "mysql 1158", "")]
    verdict = judge(series(60), errors, [restart("web", 20.0, 22.0)], SERVED, BOUNDS)
    assert verdict.unexpected_errors == errors


def test_a_refused_connection_is_never_expected() -> None:
    # fastlb's own listener must not refuse, whatever its backends do.
    errors = [ClientError(21.0, "tcp-bulk", "refused", "")]
    verdict = judge(series(60), errors, [restart("tcp", 20.0, 22.0)], SERVED, BOUNDS)
    assert verdict.unexpected_errors == errors


def test_no_error_is_expected_during_a_reload() -> None:
    errors = [ClientError(31.0, "http-keepalive", "keepalive closed", "")]
    reload = Operation("reload", "sighup", 30.0, 31.5, ok=True)
    verdict = judge(series(60), errors, [reload], SERVED, BOUNDS)
    assert verdict.unexpected_errors == errors


def test_no_error_is_expected_during_the_upgrade() -> None:
    # The old process answers a kept-alive client's last request with `Connection: close`
    # (HTTP soft stop): a reused connection found closed is a defect then too.
    errors = [ClientError(31.0, "http-keepalive", "keepalive closed", "")]
    upgrade = Operation("upgrade", "", 30.0, 33.0, ok=True)
    verdict = judge(series(60), errors, [upgrade], SERVED, BOUNDS)
    assert verdict.unexpected_errors == errors


def test_a_failed_operation_fails_the_soak() -> None:
    failed = Operation("weight", "api", 12.0, 12.1, ok=False, detail="409: conflict")
    verdict = judge(series(60), [], [failed], SERVED, BOUNDS)
    assert verdict.failures == ["weight api at 12.0s failed: 409: conflict"]


def test_traffic_that_was_never_served_fails() -> None:
    verdict = judge(series(60), [], [], {**SERVED, "mysql": 0}, BOUNDS)
    assert verdict.failures == ["mysql: nothing was served"]
