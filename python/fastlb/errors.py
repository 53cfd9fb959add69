"""fastlb's exceptions: one root, `FastLBError`, and subclasses of the standard library's
exceptions so that callers' existing `except ValueError` / `except ConnectionError` still work."""

from __future__ import annotations

from collections.abc import Iterable

__all__ = [
    "BackendUnavailableError",
    "ConfigError",
    "FastLBError",
    "NoConfigFileError",
    "NoPrimaryError",
    "NotRunningError",
    "ServerExistsError",
    "UnknownServerError",
]


class FastLBError(Exception):
    """Root of every exception fastlb raises on purpose."""


class ConfigError(FastLBError, ValueError):
    """An invalid configuration: every problem found, each as `(field_path, message)`.

    `source` is the file the configuration came from, when there was one. `str()` gives one
    line per problem, e.g. `fastlb.yaml: backends[0] (web).servers[1] (web-02).weight: must
    be between 0 and 256 (got 300)`, which is what `fastlb check` prints.
    """

    problems: list[tuple[str, str]]
    source: str | None

    def __init__(
        self, problems: Iterable[tuple[str, str]] | str, *, source: str | None = None
    ) -> None:
        self.problems = [("", problems)] if isinstance(problems, str) else list(problems)
        self.source = source
        super().__init__(str(self))

    def lines(self) -> list[str]:
        """One human-readable line per problem."""
        prefix = f"{self.source}: " if self.source else ""
        return [
            f"{prefix}{path}: {message}" if path else f"{prefix}{message}"
            for path, message in self.problems
        ]

    def __str__(self) -> str:
        return "\n".join(self.lines())


class BackendUnavailableError(FastLBError, ConnectionError):
    """No server of a backend can take a connection."""


class NoPrimaryError(BackendUnavailableError):
    """MySQL: a statement that must run on the primary (a write) while no primary is
    available (down, unreachable, or no server is writable). Reads keep going to replicas."""


class UnknownServerError(FastLBError, KeyError):
    """A runtime change named a backend or a server that does not exist."""

    def __str__(self) -> str:
        # KeyError's str() is the repr of its argument; a message reads better unquoted.
        return str(self.args[0]) if self.args else ""


class NotRunningError(FastLBError, RuntimeError):
    """An operation that needs a started LoadBalancer was called before `start()`."""


class ServerExistsError(FastLBError, ValueError):
    """`add_server` named a server that the backend already has."""


class NoConfigFileError(FastLBError, RuntimeError):
    """`reload()` without a configuration, on a LoadBalancer that was not loaded from a file."""
