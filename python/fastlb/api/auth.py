"""Bearer-token guard for the API's write endpoints."""

from __future__ import annotations

import hmac
from collections.abc import Callable

from fastapi import Header, HTTPException, status


def bearer_token_guard(expected_token: str) -> Callable[[str | None], None]:
    """A FastAPI dependency that refuses a request without `Authorization: Bearer <token>`."""
    expected = expected_token.encode()

    def require_token(authorization: str | None = Header(default=None)) -> None:
        scheme, _, presented = (authorization or "").partition(" ")
        # compare_digest: the comparison time must not reveal how much of the token matched.
        if scheme.lower() != "bearer" or not hmac.compare_digest(
            presented.strip().encode(), expected
        ):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="this endpoint needs 'Authorization: Bearer <api.token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token
