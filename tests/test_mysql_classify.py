"""`fastlb.mysql.classify` / `fastlb._core.classify_statement`: the Rust classifier seen from
Python (the rules themselves are tested in src/mysql/classify/tests.rs)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fastlb._core import StatementClass, classify_statement
from fastlb.mysql import classify


@pytest.mark.parametrize(
    ("sql", "kind", "route"),
    [
        ("SELECT * FROM t", "read", "replica"),
        ("SELECT * FROM t FOR UPDATE", "read", "primary"),
        ("INSERT INTO t VALUES (1)", "write", "primary"),
        ("BEGIN", "begin", "primary"),
        ("START TRANSACTION READ ONLY", "begin_read_only", "replica"),
        ("COMMIT", "end", "primary"),
        ("SET autocommit = 0", "set_autocommit", "primary"),
        ("SET NAMES utf8mb4", "session_state", "primary"),
        ("CALL p()", "call", "primary"),
        ("SAVEPOINT a", "other", "primary"),
    ],
)
def test_every_kind_has_its_python_name(sql: str, kind: str, route: str) -> None:
    result = classify(sql)
    assert (result.kind, result.route) == (kind, route)
    assert result.autocommit is None or kind == "set_autocommit"


def test_autocommit_value_pins_and_multi_statements() -> None:
    assert classify("SET autocommit = 0").autocommit is False
    assert classify("SET @@session.autocommit = ON").autocommit is True
    assert classify("SELECT 1").autocommit is None
    assert classify("CREATE TEMPORARY TABLE x (a INT)").pins_primary
    assert not classify("CREATE TABLE x (a INT)").pins_primary
    multi = classify("SELECT 1; SELECT 2")
    assert multi.multi_statement and multi.route == "primary" and multi.kind == "read"


def test_bytes_and_str_agree_and_results_compare_by_value() -> None:
    assert classify(b"SELECT 1") == classify("SELECT 1") == classify("select 2")
    assert classify("SELECT 1") != classify("SELECT 1 FOR UPDATE")
    # Bytes need not be UTF-8: the wire carries the connection's charset.
    assert classify(b"SELECT '\xe9t\xe9' FROM t").route == "replica"


def test_repr_reads_like_python() -> None:
    assert repr(classify("SET autocommit=1")) == (
        "StatementClass(kind='set_autocommit', autocommit=True, route='primary', "
        "pins_primary=False, multi_statement=False)"
    )
    assert repr(classify("SELECT 1")) == (
        "StatementClass(kind='read', route='replica', pins_primary=False, multi_statement=False)"
    )


def test_statement_class_is_frozen() -> None:
    result = classify("SELECT 1")
    assert isinstance(result, StatementClass)
    with pytest.raises(AttributeError):
        result.kind = "write"  # type: ignore[misc]


@pytest.mark.parametrize("bad", [None, 1, ["SELECT 1"], bytearray(b"SELECT 1")])
def test_anything_but_str_or_bytes_is_a_type_error(bad: object) -> None:
    with pytest.raises(TypeError, match="str or bytes"):
        classify_statement(bad)  # type: ignore[arg-type]


@given(st.binary(max_size=300))
def test_never_fails_on_arbitrary_bytes(sql: bytes) -> None:
    result = classify(sql)
    if result.route == "replica":
        assert result.kind in ("read", "begin_read_only")
        assert not result.multi_statement and not result.pins_primary
