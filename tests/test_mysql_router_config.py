"""`Router.from_config` / `router_config.router_arguments` and the Router's argument checks,
without servers (the Router itself runs against real MariaDB in
tests/integration/test_mysql_router.py)."""

from __future__ import annotations

import ssl
from typing import Any

import pytest

from fastlb.config import BackendConfig
from fastlb.errors import NotRunningError
from fastlb.mysql import Router, ServerSpec
from fastlb.mysql.router_config import router_arguments


def backend(**mysql: Any) -> dict[str, Any]:
    section: dict[str, Any] = {"users": [{"user": "app", "password": "pw"}]}
    section.update(mysql)
    return {
        "name": "db",
        "servers": [
            {"name": "db-primary", "address": "127.0.0.1:3307", "role": "primary"},
            {"name": "db-replica", "address": "127.0.0.1:3308", "role": "replica", "weight": 3},
        ],
        "mysql": section,
    }


def test_the_documented_shape() -> None:
    arguments = router_arguments(
        backend(
            monitor={"user": "mon", "password": "m", "interval": "250ms"},
            max_replication_lag="2s",
            causal_reads="off",
            primary_failure="fail_on_write",
            rules=[{"match": "^SELECT .* FROM reports", "route": "primary"}],
        )
    )
    assert arguments["primary"] == ServerSpec("db-primary", "127.0.0.1", 3307, "primary")
    assert arguments["replicas"] == [ServerSpec("db-replica", "127.0.0.1", 3308, "replica", 3)]
    assert (arguments["user"], arguments["password"]) == ("app", "pw")
    assert arguments["monitor_user"] == "mon" and arguments["monitor_interval"] == 0.25
    assert arguments["max_replication_lag"] == 2.0
    assert arguments["causal_reads"] == "off"
    assert arguments["primary_failure"] == "fail_on_write"
    assert arguments["rules"] == [("^SELECT .* FROM reports", "primary")]
    # Unset fields take the proxy's defaults.
    router = Router.from_config(backend(), db="shop")
    assert router.db == "shop" and router.causal_reads == "off"
    assert router.max_replication_lag == 10.0 and router.monitor_interval == 1.0
    assert router.causal_wait_timeout == 0.5


def test_the_validated_model_is_taken_as_it_is() -> None:
    model = BackendConfig.model_validate(backend())
    arguments = router_arguments(model)
    assert arguments["user"] == "app" and arguments["replicas"][0].weight == 3
    # A server without a role is a replica, as in the proxy.
    config = backend()
    del config["servers"][1]["role"]
    assert router_arguments(config)["replicas"][0].role == "replica"


def test_the_backends_tls_becomes_the_routers_ssl_context() -> None:
    assert "ssl" not in router_arguments(backend())
    unverified = router_arguments({**backend(), "tls": {"verify": False}})["ssl"]
    assert isinstance(unverified, ssl.SSLContext)
    assert unverified.verify_mode == ssl.CERT_NONE
    verified = router_arguments({**backend(), "tls": {"server_name": "db.internal"}})["ssl"]
    assert verified.verify_mode == ssl.CERT_REQUIRED and verified.check_hostname
    # Whatever host the client library dialled, the certificate must name `server_name`.
    dialled = verified.wrap_bio(ssl.MemoryBIO(), ssl.MemoryBIO(), server_hostname="10.0.0.5")
    assert dialled.server_hostname == "db.internal"
    with pytest.raises(ValueError, match="ca"):
        router_arguments({**backend(), "tls": {"ca": "/nonexistent/ca.pem"}})


def test_choosing_a_user() -> None:
    config = backend(users=[{"user": "a", "password": "1"}, {"user": "b", "password": "2"}])
    assert router_arguments(config)["user"] == "a"
    assert router_arguments(config, user="b")["password"] == "2"
    with pytest.raises(ValueError, match=r"mysql\.users: no user 'c'"):
        router_arguments(config, user="c")


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["servers"][1].update(role="primary"), "exactly one role: primary"),
        (lambda c: c["servers"][0].pop("role"), "exactly one role: primary"),
        (lambda c: c["servers"][0].update(role="leader"), r"servers\.0\.role"),
        (lambda c: c["servers"][0].update(address="nowhere"), r"servers\.0\.address"),
        (lambda c: c.pop("mysql"), "needs its 'mysql:' section"),
        (lambda c: c["mysql"].update(max_replication_lag="soon"), "max_replication_lag"),
        (lambda c: c["mysql"].update(users=[]), r"mysql\.users"),
        (lambda c: c["mysql"].update(rules=[{"match": "(", "route": "x"}]), r"rules\.0\.route"),
    ],
)
def test_bad_config_names_the_field(change: Any, message: str) -> None:
    config = backend()
    change(config)
    with pytest.raises(ValueError, match=message):
        router_arguments(config)


def test_router_argument_checks() -> None:
    primary = "127.0.0.1:3307"
    with pytest.raises(ValueError, match="causal_reads"):
        Router(primary, user="u", password="p", causal_reads="always")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="primary_failure"):
        Router(primary, user="u", password="p", primary_failure="x")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="unique"):
        Router(primary, [primary], user="u", password="p")
    with pytest.raises(ValueError, match="weight"):
        Router(primary, [("127.0.0.1:3308", 300)], user="u", password="p")
    with pytest.raises(ValueError, match="'primary' or 'replica'"):
        Router(primary, user="u", password="p", rules=[("x", "anywhere")])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="not a valid regular expression"):
        Router(primary, user="u", password="p", rules=[("(", "primary")])
    # Valid for Python's `re`, not for the core that matches the rules: refused too.
    with pytest.raises(ValueError, match="not a valid regex"):
        Router(primary, user="u", password="p", rules=[("(?<=x)y", "primary")])
    router = Router(primary, [("127.0.0.1:3308", 2)], user="u", password="p")
    assert [spec.name for spec in router.specs] == ["127.0.0.1:3307", "127.0.0.1:3308"]
    assert router.specs[1].weight == 2 and router.specs[0].role == "primary"
    assert router.topology is None


def test_a_router_that_is_not_started_says_so() -> None:
    import asyncio

    router = Router("127.0.0.1:3307", user="u", password="p")
    with pytest.raises(NotRunningError, match="not started"):
        asyncio.run(router.execute("INSERT INTO t VALUES (1)"))
