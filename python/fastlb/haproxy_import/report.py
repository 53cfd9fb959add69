"""What the importer could not carry over, line by line, for the person migrating.

Each entry names the HAProxy line, how serious the difference is and what to do instead:

- `note`: translated, but fastlb behaves a little differently (the message says how);
- `ignored`: a setting fastlb does not need (process management, HAProxy tuning);
- `unsupported`: not translated, the behaviour is lost; the message says what to do instead;
- `error`: the line (or its section) could not be used at all.

Entries are printed sorted by line, one per line, in the compiler-diagnostic form
`FILE:LINE: LEVEL: DIRECTIVE: MESSAGE` that editors and grep understand; the same entry
reached twice (a `defaults` line read by every proxy) is printed once.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from .tokenizer import Line

__all__ = ["Entry", "Level", "Report"]

Level = Literal["note", "ignored", "unsupported", "error"]
LEVELS: tuple[Level, ...] = ("error", "unsupported", "note", "ignored")
_PLURALS = {"error": "errors", "unsupported": "unsupported", "note": "notes", "ignored": "ignored"}


@dataclass(frozen=True)
class Entry:
    line: int  # 0: about the whole file
    level: Level
    directive: str
    message: str


@dataclass
class Report:
    """Entries in the order found, and the lines something has looked at."""

    source: str
    entries: list[Entry] = field(default_factory=list)
    handled: set[int] = field(default_factory=set)
    translated: dict[str, int] = field(default_factory=dict)

    def add(self, line: Line | None, level: Level, message: str) -> None:
        entry = Entry(line.number if line else 0, level, line.text() if line else "(file)", message)
        if entry not in self.entries:
            self.entries.append(entry)
        if line is not None:
            self.handled.add(line.number)

    def note(self, line: Line, message: str) -> None:
        self.add(line, "note", message)

    def ignored(self, line: Line, message: str) -> None:
        self.add(line, "ignored", message)

    def unsupported(self, line: Line, message: str) -> None:
        self.add(line, "unsupported", message)

    def error(self, line: Line | None, message: str) -> None:
        self.add(line, "error", message)

    def done(self, line: Line) -> None:
        """The line was translated with no difference worth telling."""
        self.handled.add(line.number)

    def count(self, level: Level) -> int:
        return sum(1 for entry in self.entries if entry.level == level)

    def lines(self) -> list[str]:
        """The report as printed: entries by line number (file-wide ones first), then a
        summary line."""
        name = self.source
        out = []
        for entry in sorted(self.entries, key=lambda e: e.line):  # stable: same line keeps order
            where = f"{name}:{entry.line}" if entry.line else name
            out.append(f"{where}: {entry.level}: {entry.directive}: {entry.message}")
        made = ", ".join(_plural(count, kind) for kind, count in self.translated.items() if count)
        counts = ", ".join(
            _plural(self.count(level), _PLURALS[level]) for level in LEVELS if self.count(level)
        )
        out.append(f"{name}: translated {made or 'nothing'}; {counts or 'no differences'}")
        return out


def _plural(count: int, plural: str) -> str:
    """`1 frontend`, `2 frontends` (words ending in s lose it for one)."""
    return f"{count} {plural[:-1] if count == 1 and plural.endswith('s') else plural}"
