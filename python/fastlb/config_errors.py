"""How configuration problems are found and worded: field paths with names
(`backends[0] (web).servers[1] (web-02).weight`), pydantic errors rewritten for people,
"did you mean" suggestions, and keys that later versions of fastlb add."""

from __future__ import annotations

import difflib
import types
import typing
from collections.abc import Iterator, Mapping, Sequence
from typing import Annotated, Any

from pydantic import BaseModel, ValidationError

from .config_types import FIELD_ERROR_TYPE

__all__ = [
    "Problem",
    "duplicate_names",
    "format_loc",
    "item",
    "problems_from_pydantic",
    "refuse_planned_keys",
]

Problem = tuple[str, str]
"""`(field path, message)`, as ConfigError keeps them."""

# Keys of the full design (DESIGN.md) that later versions add. Refusing them explicitly beats
# "unknown key": the user learns that the feature exists but this build does not have it.
_PLANNED_KEYS: dict[str, tuple[str, ...]] = {
    "": (),
    "frontends": (),
    "backends": (),
}


def refuse_planned_keys(data: Mapping[str, Any]) -> list[Problem]:
    """Problems for the planned keys found in `data`, which loses them (so that pydantic does
    not report them a second time as "unknown key")."""

    def refuse(mapping: Any, loc: tuple[str | int, ...], keys: Sequence[str]) -> Iterator[str]:
        if isinstance(mapping, dict):
            for key in keys:
                if key in mapping:
                    del mapping[key]
                    yield format_loc((*loc, key), data)

    found: list[str] = list(refuse(data, (), _PLANNED_KEYS[""]))
    for section in ("frontends", "backends"):
        items = data.get(section)
        if isinstance(items, list):
            for index, entry in enumerate(items):
                found += refuse(entry, (section, index), _PLANNED_KEYS[section])
    return [(path, "not supported by this version of fastlb yet") for path in found]


def item(section: str, index: int, name: str | None) -> str:
    """`backends[0] (web)`, or `backends[0]` without a name."""
    return f"{section}[{index}] ({name})" if name else f"{section}[{index}]"


def format_loc(loc: Sequence[str | int], root: Any) -> str:
    """`('backends', 0, 'servers', 1, 'weight')` -> `backends[0] (web).servers[1] (web-02).weight`,
    reading the names from the raw data where they are plain strings."""
    text = ""
    node: Any = root
    for part in loc:
        if isinstance(part, int):
            node = node[part] if isinstance(node, list) and part < len(node) else None
            name = node.get("name") if isinstance(node, Mapping) else None
            text += f"[{part}]" + (f" ({name})" if isinstance(name, str) and name else "")
        else:
            node = node.get(part) if isinstance(node, Mapping) else None
            text += f".{part}" if text else str(part)
    return text


def duplicate_names(section: str, names: list[str]) -> list[Problem]:
    first_index: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in first_index:
            problems.append(
                (
                    f"{item(section, index, name)}.name",
                    f"duplicate name {name!r} (also {section}[{first_index[name]}])",
                )
            )
        first_index.setdefault(name, index)
    return problems


# Values never quoted back in an error message: a mistyped token must not reach a log.
SECRET_KEYS = frozenset({"token", "password", "secret"})


def problems_from_pydantic(
    exc: ValidationError, root: Any, model: type[BaseModel]
) -> list[Problem]:
    """Each error of `exc` (validating `root` as `model`) as a `(path, message)` for people."""
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key" + _suggest_key(loc, model)
        elif kind == "missing":
            message = "required"
        elif kind == FIELD_ERROR_TYPE:
            message = error["msg"]
        else:
            message = error["msg"]
            message = f"{message[:1].lower()}{message[1:]}"
            if not (loc and str(loc[-1]) in SECRET_KEYS):
                message += f" (got {error['input']!r})"
        problems.append((format_loc(loc, root), message))
    return problems


def _suggest_key(loc: Sequence[str | int], root_model: type[BaseModel]) -> str:
    """`; did you mean 'listen'?` (or the allowed keys) for an unknown key at `loc`."""
    model: Any = root_model
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        is_model = isinstance(model, type) and issubclass(model, BaseModel)
        field = model.model_fields.get(part) if is_model else None
        if field is None:
            return ""
        model = _model_in(field.annotation)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        return ""
    allowed = list(model.model_fields)
    close = difflib.get_close_matches(str(loc[-1]), allowed, n=1)
    if close:
        return f"; did you mean {close[0]!r}?"
    return f" (allowed: {', '.join(allowed)})"


def _model_in(annotation: Any) -> Any:
    """The BaseModel class inside `X`, `list[X]`, `X | None` or `Annotated[...]`, if any."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    origin = typing.get_origin(annotation)
    if origin in (list, typing.Union, types.UnionType, Annotated):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found is not None:
                return found
    return None
