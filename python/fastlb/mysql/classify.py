"""The MySQL statement classifier for Python code: the same rules (and the same Rust code) that
the proxy uses, so that `fastlb.mysql.Router` routes exactly as `mode: mysql` does.

    >>> classify("SELECT * FROM t FOR UPDATE")
    StatementClass(kind='read', route='primary', pins_primary=False, multi_statement=False)
"""

from __future__ import annotations

from .._core import StatementClass, classify_statement

__all__ = ["StatementClass", "classify"]


def classify(sql: str | bytes) -> StatementClass:
    """Where `sql` may run (`route`), what it does to a session (`kind`, `pins_primary`), and
    whether it holds several statements. See `fastlb._core.StatementClass`."""
    return classify_statement(sql)
