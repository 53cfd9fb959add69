"""Logging to stderr for `fastlb serve`: plain text, journald's form, or JSON lines.

- `text` on a terminal or a file: `time LEVEL logger: message`.
- `text` under systemd, whose journal reads stderr (`$JOURNAL_STREAM` names that stream):
  no timestamp (the journal stamps each line itself) and a `<N>` syslog priority prefix,
  which journald turns into the entry's PRIORITY (sd-daemon(3)), so `journalctl -p warning`
  works.
- `json`: one object per line for log shippers (Vector, Fluent Bit, Promtail) with `time`
  (RFC 3339, UTC), `level`, `logger`, `message`, `exception` when there is one, and any
  `extra=` fields of the call.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from .config import Config

FORMATS = ("text", "json")

# syslog(3) priorities, as journald reads them from a `<N>` line prefix.
_PRIORITY = {
    logging.CRITICAL: 2,
    logging.ERROR: 3,
    logging.WARNING: 4,
    logging.INFO: 6,
    logging.DEBUG: 7,
}

# The attributes every LogRecord has; the others came from `extra=`.
_RECORD_ATTRIBUTES = frozenset(
    vars(logging.LogRecord("", 0, "", 0, "", None, None)).keys() | {"message", "asctime"}
)


class JsonFormatter(logging.Formatter):
    """One JSON object per record, on one line (newlines in messages are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            entry["exception"] = record.exc_text
        for key, value in vars(record).items():
            if key not in _RECORD_ATTRIBUTES and not key.startswith("_"):
                entry.setdefault(key, value)
        return json.dumps(entry, default=str, ensure_ascii=False)


class JournalFormatter(logging.Formatter):
    """`<priority>logger: message` lines for journald; traceback lines keep the priority."""

    def __init__(self) -> None:
        super().__init__("%(name)s: %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        prefix = f"<{_priority(record.levelno)}>"
        return "\n".join(prefix + line for line in super().format(record).splitlines())


def configure(level: int, log_format: str = "text", stream: TextIO | None = None) -> None:
    """Send the root logger's records at `level` and above to stderr in `log_format`."""
    stream = stream if stream is not None else sys.stderr
    handler = logging.StreamHandler(stream)
    formatter: logging.Formatter
    if log_format == "json":
        formatter = JsonFormatter()
    elif _is_journal(stream):
        formatter = JournalFormatter()
    else:
        formatter = logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # uvicorn narrates its own start/stop at INFO; fastlb already says what matters.
    logging.getLogger("uvicorn").setLevel(logging.WARNING)


def _priority(levelno: int) -> int:
    for threshold in sorted(_PRIORITY, reverse=True):
        if levelno >= threshold:
            return _PRIORITY[threshold]
    return _PRIORITY[logging.DEBUG]


def _is_journal(stream: TextIO) -> bool:
    """Whether `stream` is the journal's: `$JOURNAL_STREAM` is `device:inode` of the stream
    systemd connected (systemd.exec(5)); comparing them ignores an inherited variable when
    stderr was redirected elsewhere."""
    expected = os.environ.get("JOURNAL_STREAM", "")
    if not expected:
        return False
    try:
        info = os.fstat(stream.fileno())
    except (OSError, ValueError, AttributeError):
        return False
    return expected == f"{info.st_dev}:{info.st_ino}"


def log_started(config: Config, bound: Mapping[str, str], api_url: str | None) -> None:
    """What a started load balancer serves: each frontend's bound address and backend, each
    server, a warning for backends that don't verify their servers, the API's address."""
    log = logging.getLogger("fastlb")
    for frontend in config.frontends:
        log.info(
            "frontend %s listening on %s -> backend %s",
            frontend.name,
            bound.get(frontend.name, frontend.listen),
            frontend.backend,
        )
    for backend in config.backends:
        if backend.tls is not None and not backend.tls.verify:
            log.warning(
                "backend %s: tls.verify is false: any server certificate is accepted "
                "(traffic is encrypted, the servers are not authenticated)",
                backend.name,
            )
        for server in backend.servers:
            log.info(
                "backend %s: server %s %s weight %d%s",
                backend.name,
                server.name,
                server.address,
                server.weight,
                " (backup)" if server.backup else "",
            )
    if api_url is not None:
        log.info("API listening on %s", api_url)
