"""The `mysql:` backend section and `mode: mysql` frontends: what the core receives, and the
errors that name the field."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from fastlb.cli import main
from fastlb.config import Config
from support import set_at

MYSQL_YAML = """
frontends:
  - {name: sql, listen: 127.0.0.1:6033, mode: mysql, backend: db}
backends:
  - name: db
    servers:
      - {name: db-primary, address: 127.0.0.1:3307, role: primary}
      - {name: db-replica, address: 127.0.0.1:3308, role: replica, weight: 2}
      - {name: db-other, address: 127.0.0.1:3309}
    mysql:
      users: [{user: app, password: "${FASTLB_TEST_DB_PASSWORD}"}]
      monitor: {user: monitor, password: m, interval: 500ms}
      max_replication_lag: 2s
      causal_reads: session
      primary_failure: fail_on_write
      rules:
        - {match: "^SELECT .* FROM reports", route: primary}
"""


def mysql_base() -> dict[str, Any]:
    return yaml.safe_load(MYSQL_YAML)  # type: ignore[no-any-return]


def test_core_receives_users_roles_and_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FASTLB_TEST_DB_PASSWORD", "pw from env")
    config = Config.from_mapping(mysql_base())
    core = config.to_core_dict()
    assert core["frontends"][0]["mode"] == "mysql"
    backend = core["backends"][0]
    assert [s["role"] for s in backend["servers"]] == ["primary", "replica", "replica"]
    assert backend["mysql"] == {
        "users": [{"user": "app", "password": "pw from env"}],
        "causal_reads": "session",
        "causal_timeout_ms": 500,
        "primary_failure": "fail_on_write",
        "rules": [{"match": "^SELECT .* FROM reports", "route": "primary"}],
        "server_version": None,
        "max_packet_bytes": 64 * 1024 * 1024,
        "kill_admins": [],
        "digests": {"enabled": True, "top_k": 50},
        "pool": {
            "enabled": False,
            "max_per_server": 64,
            "min_idle": 0,
            "idle_timeout_ms": 60_000,
            "max_lifetime_ms": 3_600_000,
            "multiplexing": False,
        },
    }
    mysql = config.backends[0].mysql
    assert mysql is not None and mysql.monitor is not None
    assert (mysql.monitor.interval, mysql.max_replication_lag) == (0.5, 2.0)
    # The core takes the same JSON (it would refuse what it can't run).
    from fastlb import _core

    _core.Engine(config.to_core_json())


def test_passwords_stay_out_of_reprs() -> None:
    data = mysql_base()
    data["backends"][0]["mysql"]["users"][0]["password"] = "hunter2"
    config = Config.from_mapping(data)
    assert "hunter2" not in repr(config)


DB = "backends[0] (db)"
BAD = {
    "two primaries": (
        set_at("backends.0.servers.1.role", "primary"),
        f"{DB}.servers[1] (db-replica).role: only one server can be the primary ('db-primary' is)",
    ),
    "unknown role": (
        set_at("backends.0.servers.1.role", "leader"),
        f"{DB}.servers[1] (db-replica).role: input should be 'primary' or 'replica'",
    ),
    "no users": (
        set_at("backends.0.mysql.users", []),
        f"{DB}.mysql.users: list should have at least 1 item",
    ),
    "bad rule regex": (
        set_at("backends.0.mysql.rules", [{"match": "(", "route": "replica"}]),
        f"{DB}.mysql.rules[0].match: not a valid regular expression",
    ),
    "bad rule route": (
        set_at("backends.0.mysql.rules", [{"match": "x", "route": "nowhere"}]),
        f"{DB}.mysql.rules[0].route: input should be 'primary' or 'replica'",
    ),
    "bad policy": (
        set_at("backends.0.mysql.primary_failure", "panic"),
        f"{DB}.mysql.primary_failure: input should be 'error_on_write', 'fail_on_write' or "
        "'fail_instantly'",
    ),
    "bad causal": (
        set_at("backends.0.mysql.causal_reads", "everywhere"),
        f"{DB}.mysql.causal_reads: input should be 'off', 'session' or 'global'",
    ),
    "bad lag": (
        set_at("backends.0.mysql.max_replication_lag", "soon"),
        f"{DB}.mysql.max_replication_lag: invalid duration 'soon'",
    ),
    "role without mysql": (
        set_at("backends.0.mysql", None),
        f"{DB}.servers[0] (db-primary).role: only used by backends with a 'mysql:' section",
    ),
    "backup in mysql backend": (
        set_at("backends.0.servers.2.backup", True),
        f"{DB}.servers[2] (db-other).backup: MySQL backends route by role",
    ),
    "unknown kill admin": (
        set_at("backends.0.mysql.kill_admins", ["root"]),
        f"{DB}.mysql: kill_admins names users not in mysql.users: root",
    ),
    "digests top_k zero": (
        set_at("backends.0.mysql.digests", {"top_k": 0}),
        f"{DB}.mysql.digests.top_k: input should be greater than or equal to 1",
    ),
    "digests top_k too large": (
        set_at("backends.0.mysql.digests", {"top_k": 5000}),
        f"{DB}.mysql.digests.top_k: input should be less than or equal to 1000",
    ),
    "unknown digests key": (
        set_at("backends.0.mysql.digests", {"enabled": True, "size": 3}),
        f"{DB}.mysql.digests.size: unknown key",
    ),
    "pool of zero": (
        set_at("backends.0.mysql.pool", {"enabled": True, "max_per_server": 0}),
        f"{DB}.mysql.pool.max_per_server: input should be greater than or equal to 1",
    ),
    "min_idle over the limit": (
        set_at("backends.0.mysql.pool", {"max_per_server": 2, "min_idle": 3}),
        f"{DB}.mysql.pool: min_idle must not exceed max_per_server",
    ),
    "bad pool timeout": (
        set_at("backends.0.mysql.pool", {"idle_timeout": "later"}),
        f"{DB}.mysql.pool.idle_timeout: invalid duration 'later'",
    ),
    "unknown mysql key": (
        set_at("backends.0.mysql.pool_size", 5),
        f"{DB}.mysql.pool_size: unknown key",
    ),
}


@pytest.mark.parametrize("case", list(BAD))
def test_bad_mysql_config_names_the_field(
    case: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FASTLB_TEST_DB_PASSWORD", "x")
    mutate, expected = BAD[case]
    data = mysql_base()
    mutate(data)
    path = tmp_path / "fastlb.yaml"
    path.write_text(yaml.safe_dump(data, sort_keys=False))
    status = main(["check", "-c", str(path)])
    output = capsys.readouterr()
    text = output.out + output.err
    assert status == 2, text
    assert expected in text
    assert "Traceback" not in text


def test_tls_on_a_mysql_frontend_may_let_plaintext_clients_in(tmp_path: Path) -> None:
    cert, key = tmp_path / "sql.pem", tmp_path / "sql.key"
    cert.write_text("certificate\n")
    key.write_text("key\n")
    data = mysql_base()
    data["backends"][0]["mysql"]["users"][0]["password"] = "pw"
    data["frontends"][0]["tls"] = {"cert": str(cert), "key": str(key), "required": False}
    data["backends"][0]["tls"] = {"verify": False}
    core = Config.from_mapping(data).to_core_dict()
    assert core["frontends"][0]["tls"]["required"] is False
    assert core["backends"][0]["tls"]["verify"] is False
