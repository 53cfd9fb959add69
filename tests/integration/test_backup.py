"""Backup servers: idle while a regular server takes connections, used when none can."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

import pytest

from .clients import ask_name
from .proc import frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)


@pytest.mark.parametrize("all_backups", [False, True])
def test_backups_take_over_only_while_no_regular_server_can(
    backend: Callable[..., TcpServer], all_backups: bool
) -> None:
    import fastlb

    servers = []
    for name, is_backup in [("main", False), ("spare1", True), ("spare2", True)]:
        server = backend(named_echo(name), name)
        servers.append({"name": name, "address": server.address, "weight": 1, "backup": is_backup})
    config = make_config(servers, api=False)
    config["backends"][0]["all_backups"] = all_backups
    port = frontend_port(config)

    with fastlb.LoadBalancer(config) as lb:
        assert Counter(ask_name(port) for _ in range(6)) == {"main": 6}

        lb.set_state("web", "main", "maint")
        expected = {"spare1": 3, "spare2": 3} if all_backups else {"spare1": 6}
        assert Counter(ask_name(port) for _ in range(6)) == expected

        lb.set_state("web", "main", "ready")
        assert Counter(ask_name(port) for _ in range(6)) == {"main": 6}

        # Weight 0 on the only regular server: it takes no new connections either.
        lb.set_weight("web", "main", 0)
        assert Counter(ask_name(port) for _ in range(6)) == expected
