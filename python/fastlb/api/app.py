"""The FastAPI application bound to one LoadBalancer: stats, health, metrics, runtime control
(server weights, states, adding and removing servers, reload) and the dashboard (`GET /`)."""

from typing import TYPE_CHECKING, Any

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

from ..errors import (
    ConfigError,
    FastLBError,
    NoConfigFileError,
    NotRunningError,
    ServerExistsError,
    UnknownServerError,
)
from . import dashboard
from .auth import bearer_token_guard
from .digests import digests_router
from .metrics import StatsCollector
from .metrics_digests import DigestCollector
from .models import (
    ConfigProblem,
    ConfigProblems,
    ErrorMessage,
    Health,
    ReloadResult,
    ServerCreate,
    ServerUpdate,
    ServerView,
)
from .mysql import mysql_router
from .node import node_router
from .stats_models import StatsSnapshot

if TYPE_CHECKING:
    from ..balancer import LoadBalancer

# Error responses declared in OpenAPI (FastAPI adds 422 for request validation itself).
_UNAUTHORIZED: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorMessage, "description": "Missing or wrong bearer token"}
}
_NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorMessage, "description": "Unknown backend or server"}
}
_MALFORMED: dict[int | str, dict[str, Any]] = {
    400: {"model": ErrorMessage, "description": "The body cannot be parsed (not JSON)"}
}


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
    registry.register(StatsCollector(balancer.stats_snapshot))
    registry.register(DigestCollector(balancer.mysql_digests))
    write_guard = [Depends(bearer_token_guard(token))] if token else []
    write_errors = {**_UNAUTHORIZED} if token else {}

    @app.exception_handler(UnknownServerError)
    async def unknown_server(request: Request, exc: UnknownServerError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_404_NOT_FOUND)

    @app.exception_handler(NotRunningError)
    async def not_running(request: Request, exc: NotRunningError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_503_SERVICE_UNAVAILABLE)

    @app.get("/api/health", response_model=Health)
    async def health() -> Health:
        """Liveness: the API answers."""
        return Health()

    @app.get("/api/stats", response_model=StatsSnapshot)
    async def stats() -> dict[str, Any]:
        """Every counter of the core, per frontend, backend and server (the schema below is
        its one typed description)."""
        return balancer.stats()

    @app.get(
        "/metrics",
        response_class=Response,
        responses={200: {"content": {"text/plain": {"schema": {"type": "string"}}}}},
    )
    async def metrics() -> Response:
        """Prometheus text exposition format (names modelled on HAProxy's exporter)."""
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    servers = APIRouter(
        prefix="/api/backends/{backend}/servers",
        dependencies=write_guard,
        responses={**write_errors, **_NOT_FOUND},
    )

    @servers.put(
        "/{server}",
        response_model=ServerView,
        responses={400: {"model": ErrorMessage, "description": "Not JSON, or the core refused it"}},
    )
    async def update_server(backend: str, server: str, update: ServerUpdate) -> ServerView:
        """Change a server's weight (0..256, or "N%" of its configured weight; 0 takes no new
        connections) and/or state (ready, drain, maint)."""
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
        return _server_view(balancer, backend, server)

    @servers.post(
        "",
        response_model=ServerView,
        status_code=status.HTTP_201_CREATED,
        responses={
            **_MALFORMED,
            409: {"model": ErrorMessage, "description": "The server name is taken"},
        },
    )
    def add_server(backend: str, new: ServerCreate) -> ServerView:
        """Add a server to a backend; it takes new connections at once (once its health
        check passes, when the backend has one)."""
        # A plain `def`: resolving a host name blocks, so FastAPI runs this in a thread.
        try:
            balancer.add_server(backend, new.name, new.address, new.weight, new.backup)
        except ServerExistsError as exc:
            raise HTTPException(status.HTTP_409_CONFLICT, detail=str(exc)) from None
        except ConfigError as exc:
            # As FastAPI's own validation errors, so that 422 has one shape on this route.
            raise RequestValidationError(
                [
                    {"loc": ("body", field), "msg": message, "type": "value_error"}
                    for field, message in exc.problems
                ]
            ) from None
        return _server_view(balancer, backend, new.name)

    @servers.delete("/{server}", status_code=status.HTTP_204_NO_CONTENT)
    async def remove_server(backend: str, server: str) -> Response:
        """Take a server out at once; its established connections carry on until they close."""
        balancer.remove_server(backend, server)
        return Response(status_code=status.HTTP_204_NO_CONTENT)

    app.include_router(servers)

    @app.post(
        "/api/reload",
        response_model=ReloadResult,
        dependencies=write_guard,
        responses={
            **write_errors,
            409: {"model": ErrorMessage, "description": "Not loaded from a file"},
            422: {"model": ConfigProblems, "description": "The file is invalid; nothing changed"},
        },
    )
    def reload() -> Any:
        """Re-read the configuration file and apply it without dropping established
        connections. An invalid file changes nothing."""
        try:
            return ReloadResult(changes=balancer.reload())
        except NoConfigFileError as exc:
            return JSONResponse({"detail": str(exc)}, status_code=status.HTTP_409_CONFLICT)
        except ConfigError as exc:
            problems = ConfigProblems(
                detail="; ".join(exc.lines()),
                problems=[ConfigProblem(field=f, message=m) for f, m in exc.problems],
            )
            return JSONResponse(
                problems.model_dump(), status_code=status.HTTP_422_UNPROCESSABLE_CONTENT
            )

    app.include_router(digests_router(balancer))
    app.include_router(node_router(balancer, write_guard, write_errors))
    app.include_router(mysql_router(balancer, write_guard, write_errors))
    app.include_router(dashboard.router)
    return app


def _server_view(balancer: "LoadBalancer", backend: str, server: str) -> ServerView:
    current = balancer.stats_snapshot().backends[backend].servers[server]
    return ServerView(
        backend=backend,
        server=server,
        address=current.address,
        weight=current.weight,
        initial_weight=current.initial_weight,
        state=current.state,
        status=current.status,
        backup=current.backup,
        active=current.active,
    )


def _version() -> str:
    try:
        from .. import _core
    except ImportError:  # the API only runs with the core; this keeps create_app importable
        return "unknown"
    return _core.__version__
