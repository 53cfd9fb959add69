"""User routing rules: ordered regular expressions on the statement text, each sending what it
matches to the primary or to a replica, before the classifier is asked (ProxySQL's query
rules). Matching is a case-insensitive search anywhere in the text, dot matching newlines."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = ["RouteName", "Rule", "first_match"]

RouteName = Literal["primary", "replica"]


@dataclass(frozen=True)
class Rule:
    pattern: re.Pattern[str]
    route: RouteName

    @classmethod
    def of(cls, match: str, route: str) -> Rule:
        """ValueError naming the rule when the route or the regular expression is invalid."""
        if route not in ("primary", "replica"):
            raise ValueError(
                f"rule {match!r}: route must be 'primary' or 'replica' (got {route!r})"
            )
        try:
            pattern = re.compile(match, re.IGNORECASE | re.DOTALL)
        except re.error as exc:
            raise ValueError(f"rule {match!r}: invalid regular expression: {exc}") from None
        return cls(pattern, "primary" if route == "primary" else "replica")


def first_match(rules: Sequence[Rule], sql: str) -> Rule | None:
    """The first rule whose pattern is found in `sql`."""
    for rule in rules:
        if rule.pattern.search(sql):
            return rule
    return None
