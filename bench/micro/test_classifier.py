"""The MySQL statement classifier (`fastlb._core.classify_statement`) on typical statements."""

from __future__ import annotations

from typing import Any

import pytest

from fastlb._core import classify_statement

STATEMENTS = {
    "point select": "SELECT id, name, email FROM users WHERE id = 42",
    "select with comments and strings": "/* app:orders */ SELECT o.id, o.total FROM orders o"
    " JOIN users u ON u.id = o.user_id WHERE u.email = 'a''b@example.com' -- note\n"
    " AND o.status IN ('paid', 'shipped') ORDER BY o.created_at DESC LIMIT 20",
    "locking read": "SELECT balance FROM accounts WHERE id = 7 FOR UPDATE",
    "insert": "INSERT INTO events (user_id, kind, payload) VALUES (42, 'login', '{}')",
    "begin": "START TRANSACTION",
}


def test_routes_as_documented() -> None:
    assert classify_statement(STATEMENTS["point select"]).route == "replica"
    assert classify_statement(STATEMENTS["locking read"]).route == "primary"
    assert classify_statement(STATEMENTS["insert"]).route == "primary"


@pytest.mark.parametrize("sql", STATEMENTS.values(), ids=STATEMENTS.keys())
def test_classify_str(benchmark: Any, sql: str) -> None:
    benchmark(classify_statement, sql)


@pytest.mark.parametrize("sql", STATEMENTS.values(), ids=STATEMENTS.keys())
def test_classify_bytes(benchmark: Any, sql: str) -> None:
    benchmark(classify_statement, sql.encode())
