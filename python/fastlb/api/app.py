"""The FastAPI application bound to one LoadBalancer: stats, health, metrics, server updates."""

from typing import TYPE_CHECKING, Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..errors import FastLBError, NotRunningError, UnknownServerError
from .auth import bearer_token_guard
from .metrics import StatsCollector
from .models import Health, ServerUpdate, ServerView

if TYPE_CHECKING:
    from ..balancer import LoadBalancer


def create_app(balancer: "LoadBalancer", *, token: str | None = None) -> FastAPI:
    """The API for `balancer`. With a `token`, write endpoints need `Authorization: Bearer`."""
    app = FastAPI(
        title="fastlb",
        summary="Stats and runtime control of a fastlb load balancer",
        version=_version(),
    )
    # A private registry: the process-global one would mix in (and collide between) every
    # LoadBalancer of the process, and the embedding program's own metrics.
    registry = CollectorRegistry(auto_describe=False)
    registry.register(StatsCollector(balancer.stats))
    write_guard = [Depends(bearer_token_guard(token))] if token else []

    @app.exception_handler(UnknownServerError)
    async def unknown_server(request: Request, exc: UnknownServerError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(NotRunningError)
    async def not_running(request: Request, exc: NotRunningError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/api/health", response_model=Health)
    async def health() -> Health:
        return Health()

    @app.get("/api/stats")
    async def stats() -> dict[str, Any]:
        """Every counter of the core (shape: docs/core-interface.md, "Stats snapshot")."""
        return balancer.stats()

    @app.get("/metrics", response_class=Response)
    async def metrics() -> Response:
        """Prometheus text exposition format."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    @app.put(
        "/api/backends/{backend}/servers/{server}",
        dependencies=write_guard,
        responses={404: {"description": "Unknown backend or server"}},
    )
    async def update_server(backend: str, server: str, update: ServerUpdate) -> ServerView:
        """Change a server's weight (0 takes no new connections) and/or state."""
        # Check both names first so that a request never applies half of its changes.
        balancer.require_server(backend, server)
        try:
            if update.weight is not None:
                balancer.set_weight(backend, server, update.weight)
            if update.state is not None:
                balancer.set_state(backend, server, update.state)
        except (ValueError, FastLBError) as exc:
            if isinstance(exc, UnknownServerError):
                raise
            raise HTTPException(status.HTTP_400_BAD_REQUEST, detail=str(exc)) from None
        current = balancer.stats()["backends"][backend]["servers"][server]
        return ServerView(
            backend=backend,
            server=server,
            address=current["address"],
            weight=current["weight"],
            state=current["state"],
            active=current["active"],
        )

    return app


def _version() -> str:
    try:
        from .. import _core
    except ImportError:  # the API only runs with the core; this keeps create_app importable
        return "unknown"
    return _core.__version__
