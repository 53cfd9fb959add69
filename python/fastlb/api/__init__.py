"""The stats and control HTTP API: FastAPI app, Prometheus exposition, bearer-token guard,
and the uvicorn runner that serves it next to the core."""

from .app import create_app
from .server import ApiServer

__all__ = ["ApiServer", "create_app"]
