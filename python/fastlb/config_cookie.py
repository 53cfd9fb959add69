"""Sticky sessions by cookie (HAProxy `cookie NAME insert indirect nocache`): the backend's
`cookie:` section and the servers' `cookie:` values, as the user writes them.

The core applies them (`src/http/cookie.rs`); these checks turn a bad value into an error that
names its field before the core sees it.
"""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AfterValidator

from .config_errors import Problem, item
from .config_types import ConfigModel, PositiveDuration, field_error

if TYPE_CHECKING:
    from .config import BackendConfig

__all__ = ["CookieConfig", "CookieValue", "cookie_problems"]

# RFC 6265 §4.1.1: a cookie name is an RFC 9110 token, its value cookie-octets.
_NAME_RE = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_VALUE_RE = re.compile(r"[\x21\x23-\x2b\x2d-\x3a\x3c-\x5b\x5d-\x7e]+")


def _check_name(value: str) -> str:
    if not _NAME_RE.fullmatch(value):
        raise field_error(
            f"invalid cookie name {value!r}: must be a token (letters, digits and !#$%&'*+-.^_`|~)"
        )
    return value


def _check_value(value: str) -> str:
    if not _VALUE_RE.fullmatch(value):
        raise field_error(
            f"invalid cookie value {value!r}: printable ASCII without spaces, quotes, commas, "
            "semicolons or backslashes"
        )
    return value


CookieValue = Annotated[str, AfterValidator(_check_value)]
"""A server's persistence cookie value."""


class CookieConfig(ConfigModel):
    """`backends[i].cookie`: requests carrying the cookie go to the server it names (while
    it is up); with `insert`, responses from a server the cookie didn't name set it."""

    name: Annotated[str, AfterValidator(_check_name)] = "SRV"
    insert: bool = True
    httponly: bool = False
    secure: bool = False
    # Adds `Cache-Control: private` to responses that set the cookie (HAProxy `nocache`).
    nocache: bool = False
    # The cookie's Max-Age; none: a session cookie.
    max_age: PositiveDuration | None = None

    def to_core_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "insert": self.insert,
            "httponly": self.httponly,
            "secure": self.secure,
            "nocache": self.nocache,
            "max_age_s": None if self.max_age is None else math.ceil(self.max_age),
        }


def cookie_problems(prefix: str, backend: BackendConfig) -> list[Problem]:
    """Server cookie values only with a backend `cookie:` section, and no value twice (a
    request would always go to the first of the servers sharing it)."""
    problems: list[Problem] = []
    owners: dict[str, str] = {}
    for index, server in enumerate(backend.servers):
        path = f"{prefix}.{item('servers', index, server.name)}.cookie"
        if backend.cookie is None:
            if server.cookie is not None:
                problems.append((path, "only used by backends with a 'cookie:' section"))
            continue
        value = server.cookie if server.cookie is not None else server.name
        if value in owners:
            problems.append((path, f"cookie value {value!r} is already server {owners[value]!r}'s"))
        else:
            owners[value] = server.name
    return problems
