"""The stats snapshot has one typed description (`fastlb.api.stats_models`): a real engine with
a tcp, an http and a mysql frontend, after real traffic, emits no field the model does not
describe, and the whole snapshot validates against it.

When the core gains a counter, this test names its path (e.g. `frontends.site.http.foo`)
until `python/fastlb/api/stats_models.py` describes it.
"""

from __future__ import annotations

import json
import socket
import types
from collections.abc import Iterator
from typing import Annotated, Any, Union, get_args, get_origin

from pydantic import BaseModel

from fastlb import LoadBalancer
from fastlb.api.stats_models import StatsSnapshot
from support import NamedHTTPBackend, free_port

from .clients import wait_until


def undescribed(model: type[BaseModel], value: dict[str, Any], path: str) -> Iterator[str]:
    """Every key path in `value` that `model` (recursively) does not describe."""
    by_key = {(field.alias or name): field for name, field in model.model_fields.items()}
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        field = by_key.get(key)
        if field is None:
            yield where
        else:
            yield from _walk(field.annotation, item, where)


def _walk(annotation: Any, value: Any, path: str) -> Iterator[str]:
    if value is None:
        return
    origin = get_origin(annotation)
    if origin is Annotated:
        yield from _walk(get_args(annotation)[0], value, path)
    elif origin in (Union, types.UnionType):
        # The member for this value: the model for an object, the container otherwise.
        members = [a for a in get_args(annotation) if a is not type(None)]
        models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
        if isinstance(value, dict) and models:
            yield from _walk(models[0], value, path)
        elif len(members) == 1:
            yield from _walk(members[0], value, path)
    elif isinstance(annotation, type) and issubclass(annotation, BaseModel):
        if isinstance(value, dict):
            yield from undescribed(annotation, value, path)
        else:
            yield f"{path} (a {type(value).__name__}, described as {annotation.__name__})"
    elif origin is dict:
        _, item_type = get_args(annotation)
        for key, item in value.items():
            yield from _walk(item_type, item, f"{path}.{key}")
    elif origin is list:
        (item_type,) = get_args(annotation)
        for index, item in enumerate(value):
            yield from _walk(item_type, item, f"{path}[{index}]")


def at(stats: dict[str, Any], path: str) -> Any:
    value: Any = stats
    for key in path.split("."):
        value = value[key]
    return value


def test_every_field_the_core_emits_is_described() -> None:
    with NamedHTTPBackend("web-01") as web, NamedHTTPBackend("site-01") as site:
        config = {
            "workers": 1,
            "max_connections": 1000,
            "frontends": [
                {"name": "web", "listen": "127.0.0.1:0", "backend": "web"},
                {"name": "site", "listen": "127.0.0.1:0", "backend": "site", "mode": "http"},
                {"name": "sql", "listen": "127.0.0.1:0", "backend": "db", "mode": "mysql"},
            ],
            "backends": [
                {
                    "name": "web",
                    "health_check": {"type": "http", "interval": "100ms"},
                    "servers": [{"name": "web-01", "address": web.address}],
                },
                {"name": "site", "servers": [{"name": "site-01", "address": site.address}]},
                {
                    # Nothing listens there: the snapshot's mysql parts need no MariaDB.
                    "name": "db",
                    "servers": [
                        {"name": "db-1", "address": f"127.0.0.1:{free_port()}", "role": "primary"},
                        {"name": "db-2", "address": f"127.0.0.1:{free_port()}", "role": "replica"},
                    ],
                    "mysql": {"users": [{"user": "app", "password": "secret"}]},
                },
            ],
        }
        with LoadBalancer(config) as lb:
            host, port = lb.addresses["web"].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as conn:
                conn.sendall(b"GET / HTTP/1.0\r\n\r\n")
                assert b"hello from web-01" in conn.makefile("rb").read()
            host, port = lb.addresses["site"].rsplit(":", 1)
            with socket.create_connection((host, int(port)), timeout=5) as conn:
                conn.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                assert b"hello from site-01" in conn.makefile("rb").read()
            assert wait_until(
                lambda: at(lb.stats(), "backends.web.servers.web-01.check.checked_at"), 10
            )
            stats = json.loads(json.dumps(lb.stats()))

    # The optional parts this test relies on are there, so that it walks all of them.
    for present in (
        "frontends.site.http",
        "frontends.sql.mysql",
        "backends.site.http",
        "backends.site.servers.site-01.http",
        "backends.db.servers.db-1.mysql",
        "backends.web.servers.web-01.check",
        "global.max_connections",
    ):
        assert at(stats, present) is not None, f"{present} is null: the test walks nothing there"
    assert {f["mode"] for f in stats["frontends"].values()} == {"tcp", "http", "mysql"}

    missing = list(undescribed(StatsSnapshot, stats, ""))
    assert not missing, (
        "fields of the core's stats snapshot that python/fastlb/api/stats_models.py does not "
        "describe: " + ", ".join(missing)
    )
    StatsSnapshot.model_validate(stats)


def test_the_walk_names_an_undescribed_field() -> None:
    # The check itself must be able to fail.
    class Inner(BaseModel):
        a: int

    class Outer(BaseModel):
        inner: dict[str, Inner | None]

    value = {"inner": {"x": {"a": 1, "b": 2}, "y": None}, "extra": 1}
    assert list(undescribed(Outer, value, "")) == ["inner.x.b", "extra"]
