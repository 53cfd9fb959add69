"""fastlb's configuration: pydantic models, YAML/TOML loading, `${ENV}` interpolation, and
errors that name the offending field (`backends[0] (web).servers[1] (web-02).weight: ...`).

The user's file is validated here and turned into the *core* configuration (resolved
addresses, durations in milliseconds) described in docs/core-interface.md.
"""

from __future__ import annotations

import difflib
import ipaddress
import json
import math
import os
import re
import socket
import tomllib
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, ValidationError
from pydantic_core import PydanticCustomError

from .errors import ConfigError

__all__ = [
    "ApiConfig",
    "BackendConfig",
    "Config",
    "Duration",
    "FrontendConfig",
    "ListenAddress",
    "ServerAddress",
    "ServerConfig",
    "Weight",
    "load_config",
    "parse_duration",
    "resolve_address",
    "split_host_port",
]

# Every custom error uses this type so the formatter knows its message is already complete.
_ERROR_TYPE = "fastlb"


def _fail(message: str) -> PydanticCustomError:
    # The message is used as a format string by pydantic-core: escape literal braces.
    return PydanticCustomError(_ERROR_TYPE, message.replace("{", "{{").replace("}", "}}"))


# --------------------------------------------------------------------------- field types

_DURATION_RE = re.compile(r"(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h)?")
_DURATION_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}


def parse_duration(value: object) -> float:
    """`250ms`, `2s`, `1m`, `1h`, or a number of seconds -> seconds as a float."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION_RE.fullmatch(value.strip())):
        seconds = float(match[1]) * _DURATION_UNITS[match[2]]
    else:
        raise _fail(
            f"invalid duration {value!r}: use a number of seconds or a number with a unit "
            "(250ms, 2s, 1m, 1h)"
        )
    if not math.isfinite(seconds) or seconds < 0:
        raise _fail(f"invalid duration {value!r}: must be a finite, non-negative time")
    return seconds


def _require_positive_duration(seconds: float) -> float:
    if seconds <= 0:
        raise _fail("must be longer than 0s")
    return seconds


Duration = Annotated[float, BeforeValidator(parse_duration)]
"""Seconds (float), written `250ms`, `2s`, `1m`, `1h` or as a number of seconds."""
PositiveDuration = Annotated[Duration, AfterValidator(_require_positive_duration)]


def _refuse_bool(value: object) -> object:
    # pydantic's lax mode takes True/False as 1/0; in a config file that is always a mistake.
    if isinstance(value, bool):
        raise _fail(f"must be an integer, not a boolean (got {value!r})")
    return value


def _between(low: int, high: int | None) -> Callable[[int], int]:
    def check_range(value: int) -> int:
        if value < low or (high is not None and value > high):
            bounds = f"between {low} and {high}" if high is not None else f"at least {low}"
            raise _fail(f"must be {bounds} (got {value})")
        return value

    return check_range


Weight = Annotated[int, BeforeValidator(_refuse_bool), AfterValidator(_between(0, 256))]
"""A server weight, 0..256 (HAProxy's range); 0 takes no new connections."""
_Retries = Annotated[int, BeforeValidator(_refuse_bool), AfterValidator(_between(0, 100))]
_Workers = Annotated[int, BeforeValidator(_refuse_bool), AfterValidator(_between(1, 1024))]
_Positive = Annotated[int, BeforeValidator(_refuse_bool), AfterValidator(_between(1, None))]


# RFC 1123 labels, plus '_' because container and service names (docker compose) use it.
_HOSTNAME_RE = re.compile(
    r"(?=.{1,253}$)[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
    r"(?:\.[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?)*\.?"
)


def split_host_port(address: str, *, min_port: int = 1) -> tuple[str, int]:
    """Split `host:port` or `[v6]:port`, checking the host's syntax and the port's range.

    Raises ValueError with a message meant for the user.
    """
    if address.startswith("["):
        host, closed, rest = address[1:].partition("]")
        if not closed or not rest.startswith(":"):
            raise ValueError(f"invalid address {address!r}: write IPv6 as [addr]:port")
        port_text = rest[1:]
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise ValueError(
                f"invalid address {address!r}: {host!r} is not an IPv6 address"
            ) from None
    else:
        host, colon, port_text = address.rpartition(":")
        if not colon:
            raise ValueError(f"invalid address {address!r}: expected host:port")
        if ":" in host:
            raise ValueError(f"invalid address {address!r}: write IPv6 as [addr]:port")
        if not _HOSTNAME_RE.fullmatch(host):
            raise ValueError(f"invalid address {address!r}: {host!r} is not a valid host")
    if not (port_text.isascii() and port_text.isdigit()):
        raise ValueError(f"invalid address {address!r}: port must be a number")
    port = int(port_text)
    if not min_port <= port <= 65535:
        raise ValueError(f"invalid address {address!r}: port must be between {min_port} and 65535")
    return host, port


def _address_validator(min_port: int) -> Callable[[object], str]:
    def validate(value: object) -> str:
        if not isinstance(value, str):
            raise _fail(f"must be a string 'host:port' (got {value!r})")
        try:
            split_host_port(value, min_port=min_port)
        except ValueError as exc:
            raise _fail(str(exc)) from None
        return value

    return validate


ListenAddress = Annotated[str, BeforeValidator(_address_validator(min_port=0))]
"""`host:port` or `[v6]:port` to listen on; port 0 picks any free port."""
ServerAddress = Annotated[str, BeforeValidator(_address_validator(min_port=1))]
"""`host:port` or `[v6]:port` of a server; the host may be a name, resolved at start."""

_NAME_RE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")


def _check_name(value: str) -> str:
    # Names end up in log lines, API URLs and Prometheus labels: keep them plain.
    if not _NAME_RE.fullmatch(value):
        raise _fail(
            f"invalid name {value!r}: use 1-64 letters, digits, '.', '_' or '-', "
            "starting with a letter or digit"
        )
    return value


Name = Annotated[str, AfterValidator(_check_name)]


def _check_mode(value: object) -> object:
    if value in ("http", "mysql"):
        raise _fail(f"mode {value!r} is not supported by this version of fastlb yet; use 'tcp'")
    return value


def _check_balance(value: object) -> object:
    if isinstance(value, str) and value != "roundrobin":
        raise _fail(f"balance {value!r} is not supported: only 'roundrobin' is")
    return value


def _check_token(value: str) -> str:
    if not value:
        raise _fail("must not be empty (remove the key to turn authentication off)")
    return value


# --------------------------------------------------------------------------- models


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerConfig(_Model):
    name: Name
    address: ServerAddress
    weight: Weight = 1
    backup: bool = False


class BackendConfig(_Model):
    name: Name
    balance: Annotated[Literal["roundrobin"], BeforeValidator(_check_balance)] = "roundrobin"
    retries: _Retries = 3
    connect_timeout: PositiveDuration = 5.0
    all_backups: bool = False
    servers: Annotated[list[ServerConfig], Field(min_length=1)]


class FrontendConfig(_Model):
    name: Name
    listen: ListenAddress
    mode: Annotated[Literal["tcp"], BeforeValidator(_check_mode)] = "tcp"
    backend: str
    max_connections: _Positive = 20000
    idle_timeout: PositiveDuration = 60.0


class ApiConfig(_Model):
    listen: ListenAddress = "127.0.0.1:9100"
    token: Annotated[str, AfterValidator(_check_token)] | None = None


class Config(_Model):
    workers: _Workers = Field(default_factory=lambda: os.cpu_count() or 1)
    splice: Literal["auto", "always", "never"] = "auto"
    drain_timeout: Duration = 30.0
    api: ApiConfig | None = None
    frontends: Annotated[list[FrontendConfig], Field(min_length=1)]
    backends: Annotated[list[BackendConfig], Field(min_length=1)]

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any], *, source: str | None = None) -> Config:
        """Validate a parsed configuration (e.g. a dict) after `${ENV}` interpolation.

        Raises ConfigError listing every problem, each with its field path.
        """
        if not isinstance(data, Mapping):
            raise ConfigError([("", "the configuration must be a mapping of keys")], source=source)
        interpolated, problems = _interpolate_env(data, data)
        problems += _refuse_planned_keys(interpolated)
        try:
            config = cls.model_validate(interpolated)
        except ValidationError as exc:
            # A field whose ${VAR} is missing already has its problem; skip the knock-on one.
            unset = {path for path, _ in problems}
            problems += [p for p in _problems_from_pydantic(exc, data) if p[0] not in unset]
            raise ConfigError(problems, source=source) from None
        problems += config._cross_check()
        if problems:
            raise ConfigError(problems, source=source)
        return config

    def _cross_check(self) -> list[tuple[str, str]]:
        """Rules spanning several fields: unique names, references, listen clashes."""
        problems = _duplicate_names("frontends", [f.name for f in self.frontends])
        problems += _duplicate_names("backends", [b.name for b in self.backends])
        for b_index, backend in enumerate(self.backends):
            prefix = f"{_item('backends', b_index, backend.name)}.servers"
            problems += _duplicate_names(prefix, [s.name for s in backend.servers])
        backend_names = [b.name for b in self.backends]
        for index, frontend in enumerate(self.frontends):
            if frontend.backend not in backend_names:
                problems.append(
                    (
                        f"{_item('frontends', index, frontend.name)}.backend",
                        f"no backend named {frontend.backend!r} "
                        f"(defined: {', '.join(backend_names)})",
                    )
                )
        listeners: dict[str, str] = {}
        named = [(_item("frontends", i, f.name), f.listen) for i, f in enumerate(self.frontends)]
        if self.api is not None:
            named.append(("api", self.api.listen))
        for owner, listen in named:
            if listen.endswith(":0"):
                continue
            if listen in listeners:
                problems.append(
                    (f"{owner}.listen", f"{listen} is already used by {listeners[listen]}")
                )
            listeners.setdefault(listen, owner)
        return problems

    def to_core_dict(self) -> dict[str, Any]:
        """The core configuration of docs/core-interface.md, with host names resolved.

        Raises ConfigError naming the field whose host name cannot be resolved.
        """
        problems: list[tuple[str, str]] = []

        def resolve(path: str, address: str) -> str:
            try:
                return resolve_address(address)
            except OSError as exc:
                problems.append((path, f"cannot resolve {address!r}: {exc.strerror or exc}"))
                return address

        frontends = [
            {
                "name": f.name,
                "listen": resolve(f"{_item('frontends', i, f.name)}.listen", f.listen),
                "backend": f.backend,
                "max_connections": f.max_connections,
                "idle_timeout_ms": _milliseconds(f.idle_timeout),
            }
            for i, f in enumerate(self.frontends)
        ]
        backends = [
            {
                "name": b.name,
                "retries": b.retries,
                "connect_timeout_ms": _milliseconds(b.connect_timeout),
                "all_backups": b.all_backups,
                "servers": [
                    {
                        "name": s.name,
                        "address": resolve(
                            f"{_item('backends', bi, b.name)}.{_item('servers', si, s.name)}"
                            ".address",
                            s.address,
                        ),
                        "weight": s.weight,
                        "backup": s.backup,
                    }
                    for si, s in enumerate(b.servers)
                ],
            }
            for bi, b in enumerate(self.backends)
        ]
        if problems:
            raise ConfigError(problems)
        return {
            "workers": self.workers,
            "splice": self.splice,
            "frontends": frontends,
            "backends": backends,
        }

    def to_core_json(self) -> str:
        """`to_core_dict()` as the JSON string `fastlb._core.Engine` takes."""
        return json.dumps(self.to_core_dict())


def _milliseconds(seconds: float) -> int:
    # Round up so that a sub-millisecond duration never becomes 0 ("no timeout" to some code).
    return max(1, math.ceil(seconds * 1000))


def resolve_address(address: str) -> str:
    """`host:port` -> literal `ip:port` (`[v6]:port`), preferring IPv4.

    IPv4 first because `localhost` often resolves to ::1 first while small test servers and
    most backends listen on 127.0.0.1 only.
    """
    host, port = split_host_port(address, min_port=0)
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        if not infos:
            raise OSError(f"no address for {host!r}") from None
        infos.sort(key=lambda info: info[0] != socket.AF_INET)
        ip = ipaddress.ip_address(infos[0][4][0])
    return f"[{ip}]:{port}" if ip.version == 6 else f"{ip}:{port}"


# --------------------------------------------------------------------------- loading


def load_config(path: str | os.PathLike[str]) -> Config:
    """Read a `.yaml`/`.yml`/`.toml` file, interpolate `${ENV}` and validate.

    Raises ConfigError (with the file as `source`) for any problem, syntax errors included.
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
    return Config.from_mapping(data, source=source)


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


def _interpolate_env(value: Any, root: Mapping[str, Any]) -> tuple[Any, list[tuple[str, str]]]:
    """Replace `${NAME}` / `${NAME:-default}` in every string value (`$$` is a literal `$`)."""
    problems: list[tuple[str, str]] = []

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
                    _format_loc(loc, root),
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


# --------------------------------------------------------------------------- error reporting

# Keys of the full design (DESIGN.md) that later versions add. Refusing them explicitly beats
# "unknown key": the user learns that the feature exists but this build does not have it.
_PLANNED_KEYS: dict[str, tuple[str, ...]] = {
    "": ("failover", "mysql", "role"),
    "frontends": ("tls", "acl"),
    "backends": ("health_check",),
}


def _refuse_planned_keys(data: Mapping[str, Any]) -> list[tuple[str, str]]:
    def refuse(mapping: Any, loc: tuple[str | int, ...], keys: Sequence[str]) -> Iterator[str]:
        if isinstance(mapping, dict):
            for key in keys:
                if key in mapping:
                    # Drop it so pydantic does not report it a second time as "unknown key".
                    del mapping[key]
                    yield _format_loc((*loc, key), data)

    found: list[str] = list(refuse(data, (), _PLANNED_KEYS[""]))
    for section in ("frontends", "backends"):
        items = data.get(section)
        if isinstance(items, list):
            for index, item in enumerate(items):
                found += refuse(item, (section, index), _PLANNED_KEYS[section])
    return [(path, "not supported by this version of fastlb yet") for path in found]


def _item(section: str, index: int, name: str | None) -> str:
    return f"{section}[{index}] ({name})" if name else f"{section}[{index}]"


def _format_loc(loc: Sequence[str | int], root: Any) -> str:
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


def _duplicate_names(section: str, names: list[str]) -> list[tuple[str, str]]:
    first_index: dict[str, int] = {}
    problems = []
    for index, name in enumerate(names):
        if name in first_index:
            problems.append(
                (
                    f"{_item(section, index, name)}.name",
                    f"duplicate name {name!r} (also {section}[{first_index[name]}])",
                )
            )
        first_index.setdefault(name, index)
    return problems


def _problems_from_pydantic(exc: ValidationError, root: Any) -> list[tuple[str, str]]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = error["loc"]
        kind = error["type"]
        if kind == "extra_forbidden":
            message = "unknown key" + _suggest_key(loc)
        elif kind == "missing":
            message = "required"
        elif kind == _ERROR_TYPE:
            message = error["msg"]
        else:
            message = error["msg"]
            message = f"{message[:1].lower()}{message[1:]} (got {error['input']!r})"
        problems.append((_format_loc(loc, root), message))
    return problems


def _suggest_key(loc: Sequence[str | int]) -> str:
    """`; did you mean 'listen'?` (or the allowed keys) for an unknown key at `loc`."""
    model: Any = Config
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
