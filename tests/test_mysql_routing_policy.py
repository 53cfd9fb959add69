"""`fastlb._core.RoutingPolicy`: the proxy's routing policy seen from Python, checked against
the shared routing table (tests/mysql_routing_cases.py; the same table runs through the real
proxy and Router in tests/integration/test_mysql_routing_cases.py)."""

from __future__ import annotations

import json
from typing import Any

import mysql_routing_cases as table
import pytest

from fastlb._core import RoutingPolicy, SessionView
from fastlb.config_mysql import MysqlConfig


def policy(rules: list[dict[str, str]]) -> RoutingPolicy:
    section = MysqlConfig.model_validate({"users": [{"user": "app"}], "rules": rules})
    return RoutingPolicy(json.dumps(section.to_core_dict()))


@pytest.mark.parametrize("case", table.CASES, ids=lambda case: case.id)
def test_the_policy_follows_the_table(case: table.Case) -> None:
    view: dict[str, Any] = table.VIEWS[case.session]
    session = SessionView(**view)
    assert policy(table.RULES).route(case.sql, session) == case.target, case.why


def test_decide_says_which_rule_matched_and_how_the_statement_was_classified() -> None:
    rules = policy(table.RULES)
    routing = rules.decide("SELECT id FROM ARCHIVE")
    assert (routing.target, routing.rule) == ("replica", 1)
    assert routing.statement.kind == "read"
    # A rule that matches but can't decide is still reported.
    multi = rules.decide(b"SELECT id FROM archive; DELETE FROM archive")
    assert (multi.target, multi.rule) == ("primary", 1)
    assert multi.statement.multi_statement
    assert rules.decide("SELECT 1").rule is None


def test_a_free_session_is_the_default() -> None:
    assert SessionView() == SessionView(in_transaction=None, pinned=False, autocommit=True)
    assert policy([]).route("SELECT 1") == "replica"
    assert repr(SessionView(in_transaction="replica")) == (
        "SessionView(in_transaction='replica', pinned=False, autocommit=True)"
    )


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="in_transaction"):
        SessionView(in_transaction="both")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="str or bytes"):
        policy([]).route(42)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="invalid mysql section"):
        RoutingPolicy("{}")
    # Python's `re` accepts look-ahead, the core's regex engine doesn't: the core says so
    # rather than dropping the rule.
    with pytest.raises(ValueError, match=r"mysql rule \"\(\?=x\)\" is not a valid regex"):
        policy([{"match": "(?=x)", "route": "primary"}])
