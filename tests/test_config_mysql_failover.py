"""`mysql.failover`: what a valid section gives, and errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml
from test_config_mysql import DB, mysql_base

from fastlb.cli import main
from fastlb.config import Config
from support import set_at

FAILOVER = {"mode": "auto", "replication_user": "repl", "replication_password": "s3cret-repl"}


def with_failover(**fields: Any) -> dict[str, Any]:
    data = mysql_base()
    data["backends"][0]["mysql"]["failover"] = {**FAILOVER, **fields}
    return data


def test_defaults_and_durations(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTLB_TEST_DB_PASSWORD", "x")
    config = Config.model_validate(
        with_failover(switchover_timeout="750ms", promotion_order=["db-replica"])
    )
    failover = config.backends[0].mysql.failover  # type: ignore[union-attr]
    assert failover is not None
    assert (failover.mode, failover.failcount, failover.auto_rejoin) == ("auto", 3, True)
    assert failover.switchover_timeout == 0.75
    assert failover.max_lag_to_promote == 10.0
    assert failover.enforce_read_only_replicas
    assert failover.notify is None
    assert "s3cret-repl" not in repr(failover)
    # The core never hears of it: the failover is Python's orchestration.
    assert "failover" not in str(config.to_core_dict())


BAD = {
    "bad mode": (
        set_at("backends.0.mysql.failover.mode", "yolo"),
        f"{DB}.mysql.failover.mode: input should be 'off', 'manual' or 'auto'",
    ),
    "no replication user": (
        set_at("backends.0.mysql.failover.replication_user", None),
        f"{DB}.mysql.failover: mode 'auto' needs replication_user",
    ),
    "bad failcount": (
        set_at("backends.0.mysql.failover.failcount", 0),
        f"{DB}.mysql.failover.failcount: input should be greater than or equal to 1",
    ),
    "bad timeout": (
        set_at("backends.0.mysql.failover.switchover_timeout", "0s"),
        f"{DB}.mysql.failover.switchover_timeout:",
    ),
    "unknown server in promotion_order": (
        set_at("backends.0.mysql.failover.promotion_order", ["db-nope"]),
        f"{DB}.mysql.failover.promotion_order: names servers not in this backend: db-nope",
    ),
    "no monitor": (
        set_at("backends.0.mysql.monitor", None),
        f"{DB}.mysql: failover mode 'auto' needs a monitor: section",
    ),
    "empty notify": (
        set_at("backends.0.mysql.failover.notify", "  "),
        f"{DB}.mysql.failover.notify: must not be empty",
    ),
    "unbalanced quote in notify": (
        set_at("backends.0.mysql.failover.notify", "/bin/notify 'oops"),
        f"{DB}.mysql.failover.notify: cannot be split into arguments: No closing quotation",
    ),
    "unknown key": (
        set_at("backends.0.mysql.failover.auto_failback", True),
        f"{DB}.mysql.failover.auto_failback: unknown key",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_failover_config_names_the_field(
    case: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FASTLB_TEST_DB_PASSWORD", "x")
    mutate, expected = BAD[case]
    data = with_failover()
    mutate(data)
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    status = main(["check", "-c", str(path)])
    output = capsys.readouterr()
    text = output.out + output.err
    assert status == 2, text
    assert expected in text
    assert "Traceback" not in text
