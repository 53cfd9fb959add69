"""Weighted round-robin as a user sees it: which server answers each new connection."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from .clients import ask_name, connect, echo_roundtrip, recv_line
from .proc import FastlbProcess, frontend_port, make_config
from .servers import TcpServer, named_echo

pytestmark = pytest.mark.timeout(60)


def smooth_wrr(weights: dict[str, int], picks: int) -> list[str]:
    """nginx's smooth weighted round-robin (ngx_http_upstream_get_peer): every pick adds each
    weight to its current value, takes the largest (first one on ties) and subtracts the total."""
    current = dict.fromkeys(weights, 0)
    total = sum(weights.values())
    sequence = []
    for _ in range(picks):
        best = None
        for name, weight in weights.items():
            if weight <= 0:
                continue
            current[name] += weight
            if best is None or current[name] > current[best]:
                best = name
        assert best is not None
        current[best] -= total
        sequence.append(best)
    return sequence


def longest_run(sequence: list[str], name: str) -> int:
    longest = run = 0
    for item in sequence:
        run = run + 1 if item == name else 0
        longest = max(longest, run)
    return longest


def is_rotation(observed: list[str], cycle: list[str]) -> bool:
    """`observed` is the endless repetition of `cycle`, entered at some position."""
    n = len(cycle)
    return any(
        all(observed[i] == cycle[(start + i) % n] for i in range(len(observed)))
        for start in range(n)
    )


def test_nginx_reference_sequence() -> None:
    """The reference the next tests compare against: 5:3:1 gives a,b,a,c,a,b,a,b,a."""
    assert smooth_wrr({"a": 5, "b": 3, "c": 1}, 9) == list("abacababa")


def start_named(backend: Callable[..., TcpServer], weights: dict[str, int]) -> list[dict[str, Any]]:
    servers = []
    for name, weight in weights.items():
        server = backend(named_echo(name), name)
        servers.append({"name": name, "address": server.address, "weight": weight})
    return servers


@pytest.mark.parametrize("workers", [1, 2])
def test_weighted_distribution_is_exact_and_smooth(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
    workers: int,
) -> None:
    weights = {"a": 5, "b": 3, "c": 1}
    config = make_config(start_named(backend, weights), workers=workers)
    fastlb(config)
    port = frontend_port(config)

    observed = [ask_name(port) for _ in range(90)]

    assert Counter(observed) == {"a": 50, "b": 30, "c": 10}, observed
    # Exact over every cycle: any 9 consecutive new connections are 5 a, 3 b and 1 c.
    for start in range(len(observed) - 9 + 1):
        window = Counter(observed[start : start + 9])
        assert window == {"a": 5, "b": 3, "c": 1}, (start, observed)
    # Smooth: the heaviest server never runs longer than in nginx's sequence (2 for 5:3:1).
    reference = smooth_wrr(weights, 90)
    assert longest_run(observed, "a") <= longest_run(reference, "a") == 2, observed
    # And it is nginx's sequence itself (entered at whatever position the cursor started).
    assert is_rotation(observed, reference[:9]), (observed[:18], reference[:18])


def test_weight_change_through_http_api(
    backend: Callable[..., TcpServer],
    fastlb: Callable[[dict[str, Any]], FastlbProcess],
) -> None:
    config = make_config(start_named(backend, {"a": 1, "b": 1}))
    lb = fastlb(config)
    port = frontend_port(config)

    assert Counter(ask_name(port) for _ in range(10)) == {"a": 5, "b": 5}

    lb.set_weight("web", "a", 3)
    assert Counter(ask_name(port) for _ in range(40)) == {"a": 30, "b": 10}

    # An established connection to b, then b goes to weight 0.
    pinned = None
    for _ in range(4):
        sock = connect(port)
        if recv_line(sock) == b"b":
            pinned = sock
            break
        sock.close()
    assert pinned is not None, "no connection reached b in a 3:1 schedule"
    with pinned:
        lb.set_weight("web", "b", 0)
        assert Counter(ask_name(port) for _ in range(20)) == {"a": 20}
        echo_roundtrip(pinned, b"still here after weight 0\n")
        stats = lb.stats()["backends"]["web"]["servers"]
        assert stats["b"]["weight"] == 0
        assert stats["a"]["weight"] == 3

    lb.set_weight("web", "b", 1)
    assert Counter(ask_name(port) for _ in range(8)) == {"a": 6, "b": 2}


def test_weight_change_through_embedding_api(backend: Callable[..., TcpServer]) -> None:
    import fastlb

    config = make_config(start_named(backend, {"a": 1, "b": 1}), api=False)
    port = frontend_port(config)
    with fastlb.LoadBalancer(config) as lb:
        assert Counter(ask_name(port) for _ in range(10)) == {"a": 5, "b": 5}

        lb.set_weight("web", "b", 4)
        assert Counter(ask_name(port) for _ in range(25)) == {"a": 5, "b": 20}

        pinned = None
        for _ in range(6):
            sock = connect(port)
            if recv_line(sock) == b"a":
                pinned = sock
                break
            sock.close()
        assert pinned is not None, "no connection reached a in a 1:4 schedule"
        with pinned:
            lb.set_weight("web", "a", 0)
            assert Counter(ask_name(port) for _ in range(20)) == {"b": 20}
            echo_roundtrip(pinned, b"still here after weight 0\n")
            servers = lb.stats()["backends"]["web"]["servers"]
            assert servers["a"]["weight"] == 0
            assert servers["b"]["weight"] == 4
