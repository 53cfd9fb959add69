"""Bearer-token guard for the API's write endpoints (declared in OpenAPI as an HTTP bearer
security scheme)."""

from __future__ import annotations

import hmac
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, status
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

# auto_error=False: a missing or non-bearer header reaches the guard, which answers with a
# message saying what to send (FastAPI's own 403 "Not authenticated" does not).
_bearer = HTTPBearer(auto_error=False, description="The `api.token` of the configuration")


def bearer_token_guard(
    expected_token: str,
) -> Callable[[HTTPAuthorizationCredentials | None], None]:
    """A FastAPI dependency that refuses a request without `Authorization: Bearer <token>`."""
    expected = expected_token.encode()

    def require_token(
        credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    ) -> None:
        presented = credentials.credentials.strip().encode() if credentials else b""
        # compare_digest: the comparison time must not reveal how much of the token matched.
        if credentials is None or not hmac.compare_digest(presented, expected):
            raise HTTPException(
                status_code=status.HTTP_401_UNAUTHORIZED,
                detail="this endpoint needs 'Authorization: Bearer <api.token>'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return require_token
