"""Request and response bodies of the API (the OpenAPI description is generated from them)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    ValidationError,
    ValidatorFunctionWrapHandler,
    field_validator,
    model_validator,
)

from ..config_types import ServerAddress, field_error
from ..contract import MAX_WEIGHT, SERVER_STATES, ServerState, ServerStatus

AbsoluteWeight = Annotated[StrictInt, Field(ge=0, le=MAX_WEIGHT, description=f"0..{MAX_WEIGHT}")]
PercentWeight = Annotated[
    str,
    Field(
        pattern=r"^[0-9]{1,6}%$",
        description=(
            f"A percentage of the server's configured weight, e.g. '50%' (capped at {MAX_WEIGHT})"
        ),
        examples=["50%"],
    ),
]
ServerName = Annotated[
    str,
    Field(
        pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$",
        description="1-64 letters, digits, '.', '_' or '-', starting with a letter or digit",
    ),
]


class ServerUpdate(BaseModel):
    """`PUT /api/backends/{backend}/servers/{server}`: a new weight and/or state."""

    model_config = ConfigDict(extra="forbid")

    weight: AbsoluteWeight | PercentWeight | None = None
    state: ServerState | None = None

    @field_validator("weight", mode="wrap")
    @classmethod
    def _one_message_for_weight(
        cls, value: object, handler: ValidatorFunctionWrapHandler
    ) -> object:
        # The union would report one error per member ("should be a valid string" for 999).
        try:
            return handler(value)
        except ValidationError:
            raise field_error(
                f"must be an integer 0..{MAX_WEIGHT} or a percentage like '50%' (got {value!r})"
            ) from None

    @model_validator(mode="after")
    def _something_to_change(self) -> ServerUpdate:
        if self.weight is None and self.state is None:
            raise ValueError(
                f"give 'weight' (0..{MAX_WEIGHT} or 'N%') and/or 'state' "
                f"({', '.join(SERVER_STATES)})"
            )
        return self


class ServerCreate(BaseModel):
    """`POST /api/backends/{backend}/servers`: a server to add at runtime."""

    model_config = ConfigDict(extra="forbid")

    name: ServerName
    address: Annotated[ServerAddress, Field(max_length=300, description="host:port or [v6]:port")]
    weight: AbsoluteWeight = 1
    backup: StrictBool = False


class ServerView(BaseModel):
    """A server as the core sees it after a change."""

    backend: str
    server: str
    address: str
    weight: int
    initial_weight: int
    state: ServerState
    status: ServerStatus
    backup: bool
    active: bool


class ReloadResult(BaseModel):
    """What `POST /api/reload` applied, one line per change (empty: nothing changed)."""

    changes: list[str]


class ErrorMessage(BaseModel):
    detail: str


class ConfigProblem(BaseModel):
    field: str = Field(description="The field path, e.g. 'backends[0] (web).servers[1].weight'")
    message: str


class ConfigProblems(BaseModel):
    """An invalid configuration file: every problem, each naming its field."""

    detail: str
    problems: list[ConfigProblem]


class Health(BaseModel):
    status: Literal["ok"] = "ok"
