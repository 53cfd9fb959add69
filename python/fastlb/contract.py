"""The core's limits and enumerations, spelled for Python's type checkers.

The Rust core owns them and exports them (`fastlb._core.MAX_WEIGHT`, `SERVER_STATES`, ...).
pydantic and mypy need literal types, and `fastlb check` validates a file without the core,
so this module is the one Python spelling; `tests/test_contract.py` fails when it differs from
what `_core` exports. Modules that only run with the core import from `_core` directly.
"""

from __future__ import annotations

from typing import Final, Literal, get_args

__all__ = [
    "BALANCE_ALGORITHMS",
    "CHECK_TYPES",
    "FRONTEND_MODES",
    "MAX_WEIGHT",
    "MYSQL_DIGESTS_MAX_TOP_K",
    "SERVER_ROLES",
    "SERVER_STATES",
    "SERVER_STATUSES",
    "SPLICE_MODES",
    "BalanceAlgorithm",
    "CheckType",
    "FrontendMode",
    "ServerRole",
    "ServerState",
    "ServerStatus",
    "SpliceMode",
]

MAX_WEIGHT: Final = 256
"""A server weight is 0..MAX_WEIGHT (HAProxy's range); 0 takes no new connections."""
MYSQL_DIGESTS_MAX_TOP_K: Final = 1000
"""The most query digests a mysql frontend reports (`mysql.digests.top_k`); it bounds the
metric labels too."""

ServerState = Literal["ready", "drain", "maint"]
"""The operator's say over a server: drain and maint take no new connections."""
ServerStatus = Literal["UP", "DOWN", "DRAIN", "MAINT"]
"""What a server is doing, all things considered (the operator's state wins over health)."""
ServerRole = Literal["primary", "replica"]
FrontendMode = Literal["tcp", "mysql", "http"]
BalanceAlgorithm = Literal["roundrobin", "maglev", "source", "leastconn"]
CheckType = Literal["tcp", "http", "mysql"]
SpliceMode = Literal["auto", "always", "never"]

SERVER_STATES: Final[tuple[ServerState, ...]] = get_args(ServerState)
SERVER_STATUSES: Final[tuple[ServerStatus, ...]] = get_args(ServerStatus)
SERVER_ROLES: Final[tuple[ServerRole, ...]] = get_args(ServerRole)
FRONTEND_MODES: Final[tuple[FrontendMode, ...]] = get_args(FrontendMode)
BALANCE_ALGORITHMS: Final[tuple[BalanceAlgorithm, ...]] = get_args(BalanceAlgorithm)
CHECK_TYPES: Final[tuple[CheckType, ...]] = get_args(CheckType)
SPLICE_MODES: Final[tuple[SpliceMode, ...]] = get_args(SpliceMode)
