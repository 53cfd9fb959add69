"""fastlb's exceptions: one root, `FastLBError`, and subclasses of the standard library's
exceptions so that callers' existing `except ValueError` / `except ConnectionError` still work.

The core's runtime refusals (unknown backend or server, a name already taken, a weight, state
or role it doesn't take) are raised by the core itself as these classes: `src/py/errors.rs`
maps each of its error variants to one of them, so Python never guesses which it was."""

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
    "UnknownBackendError",
    "UnknownRoleError",
    "UnknownServerError",
    "UnknownStateError",
    "WeightOutOfRangeError",
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


class UnknownBackendError(UnknownServerError):
    """A runtime change named a backend that does not exist (a kind of UnknownServerError:
    the server can't exist either)."""


class WeightOutOfRangeError(FastLBError, ValueError):
    """A weight outside 0..MAX_WEIGHT (`fastlb._core.MAX_WEIGHT`)."""


class UnknownStateError(FastLBError, ValueError):
    """A server state other than those of `fastlb._core.SERVER_STATES`."""


class UnknownRoleError(FastLBError, ValueError):
    """A MySQL server role other than those of `fastlb._core.SERVER_ROLES`."""


class NotRunningError(FastLBError, RuntimeError):
    """An operation that needs a started LoadBalancer was called before `start()`."""


class ServerExistsError(FastLBError, ValueError):
    """`add_server` named a server that the backend already has."""


class NoConfigFileError(FastLBError, RuntimeError):
    """`reload()` without a configuration, on a LoadBalancer that was not loaded from a file."""
