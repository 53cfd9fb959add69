"""HAProxy's configuration line syntax, as its `parse_line()` (src/tools.c) reads it.

A line is split into words on unquoted spaces and tabs; `#` outside quotes starts a comment.
Inside single quotes everything is literal. Outside them a backslash escapes the next
character (`\\ `, `\\#`, `\\\\`, `\\'`, `\\"`, `\\$`), `\\r`, `\\n`, `\\t` and `\\xHH` are
the control characters, and `$NAME` / `${NAME}` are environment variables. Those are kept as
`${NAME}` in the words: fastlb's own `${ENV}` interpolation expands them when the imported
file is loaded, as HAProxy does when it reads its file. HAProxy has no line continuation.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

__all__ = ["Line", "TokenizeError", "tokenize", "tokenize_line"]

_SIMPLE_ESCAPES = {" ": " ", "\\": "\\", "#": "#", "'": "'", '"': '"', "$": "$", "\t": "\t"}
_CONTROL_ESCAPES = {"r": "\r", "n": "\n", "t": "\t"}
_ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


@dataclass(frozen=True)
class Line:
    """One non-empty configuration line: its 1-based number and its words."""

    number: int
    words: tuple[str, ...]

    @property
    def keyword(self) -> str:
        return self.words[0]

    def text(self, limit: int = 72) -> str:
        """The words joined by spaces, shortened for a report line."""
        joined = " ".join(self.words)
        return joined if len(joined) <= limit else joined[: limit - 3] + "..."


class TokenizeError(ValueError):
    """A line HAProxy itself would refuse (an unterminated quote)."""


def tokenize_line(text: str) -> list[str]:
    """The words of one line (comments dropped); raises TokenizeError."""
    words: list[str] = []
    word: list[str] = []
    in_word = False  # a quoted empty string ("") is still a word
    quote = ""
    i = 0
    while i < len(text):
        char = text[i]
        if quote == "'":
            if char == "'":
                quote = ""
            else:
                word.append(char)
            i += 1
            continue
        if char == "\\" and i + 1 < len(text):
            following = text[i + 1]
            if following in _SIMPLE_ESCAPES:
                word.append(_SIMPLE_ESCAPES[following])
                i += 2
            elif following in _CONTROL_ESCAPES:
                word.append(_CONTROL_ESCAPES[following])
                i += 2
            elif following == "x" and re.fullmatch(r"[0-9A-Fa-f]{2}", text[i + 2 : i + 4]):
                word.append(chr(int(text[i + 2 : i + 4], 16)))
                i += 4
            else:  # HAProxy keeps an unknown escape as written
                word.append(char)
                i += 1
            in_word = True
            continue
        if char == "$":
            consumed = _environment_variable(text, i)
            if consumed:
                name, length = consumed
                word.append("${" + name + "}")
                i += length
                in_word = True
                continue
        if quote == '"':
            if char == '"':
                quote = ""
            else:
                word.append(char)
            i += 1
            continue
        if char in "'\"":
            quote = char
            in_word = True
        elif char == "#":
            break
        elif char in " \t\r\n":
            if in_word:
                words.append("".join(word))
                word, in_word = [], False
        else:
            word.append(char)
            in_word = True
        i += 1
    if quote:
        raise TokenizeError(f"unterminated {quote} quote")
    if in_word:
        words.append("".join(word))
    return words


def _environment_variable(text: str, start: int) -> tuple[str, int] | None:
    """`$NAME` or `${NAME}` (HAProxy's `${NAME[,*]}` list form included) at `start`:
    the name and the length consumed, or None for a literal `$`."""
    if text.startswith("${", start):
        end = text.find("}", start)
        name = text[start + 2 : end].removesuffix("[*]") if end != -1 else ""
        if _ENV_NAME.fullmatch(name):
            return name, end - start + 1
        return None
    match = _ENV_NAME.match(text, start + 1)
    return (match[0], match.end() - start) if match else None


def tokenize(text: str) -> tuple[list[Line], list[tuple[int, str]]]:
    """Every non-empty line of a file, and the (line number, reason) of lines that cannot
    be read."""
    lines: list[Line] = []
    problems: list[tuple[int, str]] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        try:
            words = tokenize_line(raw)
        except TokenizeError as exc:
            problems.append((number, str(exc)))
            continue
        if words:
            lines.append(Line(number, tuple(words)))
    return lines, problems
