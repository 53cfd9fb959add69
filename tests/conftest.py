"""Fixtures shared by the unit-level tests (tests/integration has its own conftest)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from support import NamedHTTPBackend


@pytest.fixture
def named_backends() -> Iterator[Callable[..., list[NamedHTTPBackend]]]:
    """Factory: `named_backends("web-01", "web-02")` starts real HTTP backends, closed at
    teardown."""
    started: list[NamedHTTPBackend] = []

    def start(*names: str) -> list[NamedHTTPBackend]:
        backends = [NamedHTTPBackend(name) for name in names]
        started.extend(backends)
        return backends

    yield start
    for backend in started:
        backend.close()


@pytest.fixture
def write_config(tmp_path: Path) -> Callable[..., Path]:
    """`write_config(text, suffix=".yaml")`: the text in a file under tmp_path; its path."""
    count = 0

    def write(text: str, suffix: str = ".yaml") -> Path:
        nonlocal count
        count += 1
        path = tmp_path / f"config{count}{suffix}"
        path.write_text(text)
        return path

    return write
