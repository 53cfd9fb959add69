"""Reading configuration files: YAML (duplicate keys refused) or TOML, syntax errors with
their line and column, and `${ENV}` interpolation. Validation is `config.py`'s."""

from __future__ import annotations

import os
import re
import tomllib
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from .config_errors import Problem, format_loc
from .errors import ConfigError

__all__ = ["interpolate_env", "read_config_file"]


def read_config_file(path: str | os.PathLike[str]) -> tuple[Mapping[str, Any], str]:
    """The top-level mapping of a `.yaml`/`.yml`/`.toml` file, and the file's name.

    Raises ConfigError (with the file as `source`) for unreadable files and syntax errors.
    """
    source = os.fspath(path)
    suffix = Path(source).suffix.lower()
    if suffix not in (".yaml", ".yml", ".toml"):
        raise ConfigError(
            [("", f"unsupported file type {suffix or '(none)'!r}: use .yaml, .yml or .toml")],
            source=source,
        )
    try:
        text = Path(source).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        raise ConfigError([("", f"cannot read the file: {reason}")], source=source) from None
    data = _parse_toml(text, source) if suffix == ".toml" else _parse_yaml(text, source)
    return data, source


class _StrictYamlLoader(yaml.SafeLoader):
    """SafeLoader that refuses duplicate keys (plain YAML keeps the last one silently)."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, typing.Hashable) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _parse_yaml(text: str, source: str) -> Mapping[str, Any]:
    try:
        data = yaml.load(text, Loader=_StrictYamlLoader)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([(where, f"YAML syntax error: {problem}")], source=source) from None
    return _top_level_mapping(data, source)


def _parse_toml(text: str, source: str) -> Mapping[str, Any]:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        # Python 3.11's TOMLDecodeError has no lineno attribute; its message ends with
        # "(at line N, column M)": move that to the front like the YAML errors.
        message = str(exc)
        match = re.search(r"\s*\(at (line \d+, column \d+)\)$", message)
        where = match[1] if match else ""
        message = message[: match.start()] if match else message
        raise ConfigError([(where, f"TOML syntax error: {message}")], source=source) from None
    return _top_level_mapping(data, source)


def _top_level_mapping(data: object, source: str) -> Mapping[str, Any]:
    if data is None:
        raise ConfigError([("", "the file is empty")], source=source)
    if not isinstance(data, Mapping):
        raise ConfigError(
            [("", f"the top level must be a mapping of keys, not {type(data).__name__}")],
            source=source,
        )
    return data


# --------------------------------------------------------------------------- ${ENV}

_ENV_RE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


def interpolate_env(value: Any, root: Mapping[str, Any]) -> tuple[Any, list[Problem]]:
    """Replace `${NAME}` / `${NAME:-default}` in every string value (`$$` is a literal `$`)."""
    problems: list[Problem] = []

    def substitute(text: str, loc: tuple[str | int, ...]) -> str:
        def replace(match: re.Match[str]) -> str:
            name, default = match[1], match[2]
            if name is None:
                return "$"
            if name in os.environ:
                return os.environ[name]
            if default is not None:
                return default
            problems.append(
                (
                    format_loc(loc, root),
                    f"environment variable {name} is not set "
                    f"(write ${{{name}:-default}} to give a default)",
                )
            )
            return match[0]

        return _ENV_RE.sub(replace, text)

    def walk(node: Any, loc: tuple[str | int, ...]) -> Any:
        if isinstance(node, str):
            return substitute(node, loc)
        if isinstance(node, Mapping):
            return {key: walk(item, (*loc, key)) for key, item in node.items()}
        if isinstance(node, list | tuple):
            return [walk(item, (*loc, index)) for index, item in enumerate(node)]
        return node

    return walk(value, ()), problems
