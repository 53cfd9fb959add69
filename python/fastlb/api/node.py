"""`POST /api/node/drain`: this node leaves the BGP fleet (`fastlb ctl node drain`)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from fastapi import APIRouter, status
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from ..errors import NotRunningError
from .models import ErrorMessage

if TYPE_CHECKING:
    from ..balancer import LoadBalancer

__all__ = ["NodeDrain", "node_router"]


class NodeDrain(BaseModel):
    state: Literal["draining"] = "draining"
    drain_timeout: float = Field(
        description="Seconds established connections get before the node stops"
    )


def node_router(
    balancer: LoadBalancer, dependencies: list[Any], errors: dict[Any, Any]
) -> APIRouter:
    """The node's own lifecycle; `dependencies` guard it like every write endpoint."""
    router = APIRouter(prefix="/api/node", dependencies=dependencies, responses=errors)

    @router.post(
        "/drain",
        response_model=NodeDrain,
        status_code=status.HTTP_202_ACCEPTED,
        responses={
            409: {"model": ErrorMessage, "description": "No bgp section, or already draining"}
        },
    )
    def drain() -> Any:
        """Withdraw this node's BGP announcement now (routers send new flows to the other
        nodes), let established connections finish within drain_timeout, then stop."""
        try:
            return NodeDrain(drain_timeout=balancer.drain_node())
        except (NotRunningError, ValueError, OSError) as exc:
            return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)

    return router
