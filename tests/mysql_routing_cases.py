"""The MySQL routing cases: one table (SQL, session state, user rules -> where it runs) that
both the `mode: mysql` proxy and `fastlb.mysql.Router` must follow, so the two can't drift.

It runs three ways:

- against `fastlb._core.RoutingPolicy` (tests/test_mysql_routing_policy.py, no servers);
- through a real `fastlb serve` in front of two MariaDB servers, and through a real
  `Router` over the same two (tests/integration/test_mysql_routing_cases.py); the server
  that answered shows in `@@server_id`.

Every SQL text returns `@@server_id` in its first column of its first row. The tables
`reports`, `reports_2024` and `archive` exist on both servers (`TABLES`), one row each.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Target = Literal["primary", "replica"]
SessionState = Literal["free", "transaction", "read_only_transaction", "autocommit_off", "pinned"]

#: The user rules every case is routed with (first match wins). Matching ignores case and
#: `.` matches a newline: the first rule must catch `SELECT ...\nFROM reports`. As
#: `Router(rules=...)` takes them; `RULES` is the configuration's form.
RULE_TUPLES: list[tuple[str, Target]] = [
    (r"^select\b.*\bfrom\s+reports\b", "primary"),
    (r"\bfrom\s+archive\b", "replica"),
]
RULES: list[dict[str, str]] = [{"match": match, "route": route} for match, route in RULE_TUPLES]

TABLES = "; ".join(
    f"CREATE TABLE {name} (id INT PRIMARY KEY); INSERT INTO {name} VALUES (1)"
    for name in ("reports", "reports_2024", "archive")
)

#: How a client puts its session in each state before the case's statement (through the
#: proxy), and the state as `fastlb._core.SessionView` keywords (for the policy).
SETUP: dict[SessionState, tuple[str, ...]] = {
    "free": (),
    "transaction": ("BEGIN",),
    "read_only_transaction": ("START TRANSACTION READ ONLY",),
    "autocommit_off": ("SET autocommit = 0",),
    "pinned": ("SET @pinned = 1",),
}
VIEWS: dict[SessionState, dict[str, object]] = {
    "free": {},
    "transaction": {"in_transaction": "primary"},
    "read_only_transaction": {"in_transaction": "replica"},
    "autocommit_off": {"autocommit": False},
    "pinned": {"pinned": True},
}


@dataclass(frozen=True)
class Case:
    sql: str
    target: Target
    session: SessionState = "free"
    why: str = ""

    @property
    def id(self) -> str:
        return f"{self.session}: {self.why}"


CASES: list[Case] = [
    Case("SELECT @@server_id", "replica", why="a plain read"),
    Case("SELECT @@server_id FROM reports FOR UPDATE", "primary", why="a locking read"),
    Case("SELECT @@server_id + 0*LAST_INSERT_ID()", "primary", why="session-bound function"),
    Case("SELECT @@server_id FROM reports", "primary", why="a primary rule"),
    Case("Select @@server_id From reports", "primary", why="rules ignore case"),
    Case("SELECT @@server_id\nFROM reports", "primary", why="`.` matches a newline"),
    Case("SELECT @@server_id FROM reports_2024", "replica", why="no rule matches"),
    Case(
        "SELECT @@server_id + 0*LAST_INSERT_ID() FROM archive",
        "replica",
        why="a replica rule beats the classifier",
    ),
    Case(
        "SELECT @@server_id FROM archive; SELECT 1",
        "primary",
        why="a multi-statement may hold a write: a replica rule doesn't move it",
    ),
    Case("SELECT @@server_id", "primary", "transaction", why="a transaction stays put"),
    Case(
        "SELECT @@server_id FROM archive",
        "primary",
        "transaction",
        why="a transaction beats a replica rule",
    ),
    Case(
        "SELECT @@server_id FROM reports",
        "replica",
        "read_only_transaction",
        why="a read-only transaction beats a primary rule",
    ),
    Case("SELECT @@server_id", "primary", "autocommit_off", why="autocommit=0: primary"),
    Case(
        "SELECT @@server_id FROM archive",
        "primary",
        "autocommit_off",
        why="autocommit=0 beats a replica rule",
    ),
    Case("SELECT @@server_id", "primary", "pinned", why="a pinned session"),
    Case("SELECT @@server_id FROM archive", "primary", "pinned", why="a pin beats a replica rule"),
]
