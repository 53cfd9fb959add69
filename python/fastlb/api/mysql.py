"""`POST /api/mysql/{backend}/switchover`: a planned change of a MySQL backend's primary."""

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, HTTPException, status
from pydantic import BaseModel, ConfigDict, Field

from .models import ErrorMessage

if TYPE_CHECKING:
    from ..balancer import LoadBalancer

__all__ = ["mysql_router"]


class SwitchoverRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")
    to: str | None = Field(None, description="The replica to promote (default: the best one)")


class SwitchoverResult(BaseModel):
    backend: str
    primary: str
    previous: str
    gtid: str | None = Field(description="The new primary's GTID position at promotion")
    write_pause_seconds: float = Field(description="How long new writes were held")


def mysql_router(
    balancer: "LoadBalancer", write_guard: list[Any], write_errors: dict[Any, Any]
) -> APIRouter:
    router = APIRouter(prefix="/api/mysql", dependencies=write_guard, responses=write_errors)

    @router.post(
        "/{backend}/switchover",
        response_model=SwitchoverResult,
        responses={
            400: {"model": ErrorMessage, "description": "The body cannot be parsed (not JSON)"},
            404: {"model": ErrorMessage, "description": "No such backend, or no mysql.failover"},
            409: {"model": ErrorMessage, "description": "Refused or failed (the reason)"},
        },
    )
    def switchover(backend: str, request: SwitchoverRequest | None = None) -> Any:
        """Promote a replica without losing writes: new writes are held (at most
        `switchover_timeout`), the old primary is made read-only, the candidate catches up,
        is promoted, and the others replicate from it."""
        # A plain `def`: it waits for the switchover, so FastAPI runs it in a thread.
        from ..mysql.failover import SwitchoverError

        try:
            return balancer.mysql_switchover(backend, request.to if request else None)
        except KeyError as exc:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(exc.args[0])) from None
        except SwitchoverError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None

    return router
