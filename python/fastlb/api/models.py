"""Request and response bodies of the API."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

ServerState = Literal["ready", "drain", "maint"]


class ServerUpdate(BaseModel):
    """`PUT /api/backends/{backend}/servers/{server}`: a new weight and/or state."""

    model_config = ConfigDict(extra="forbid")

    weight: Annotated[StrictInt, Field(ge=0, le=256)] | None = None
    state: ServerState | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> ServerUpdate:
        if self.weight is None and self.state is None:
            raise ValueError("give 'weight' (0..256) and/or 'state' (ready, drain, maint)")
        return self


class ServerView(BaseModel):
    """A server as the core sees it after a change."""

    backend: str
    server: str
    address: str
    weight: int
    state: str
    active: bool


class Health(BaseModel):
    status: Literal["ok"] = "ok"
