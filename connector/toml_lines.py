"""Where a key stands in a TOML text: the line of ``connections[1].options.port``.

``tomllib`` reports line numbers for syntax errors only; a key that parses but means
nothing (unknown, wrong type, unset variable) is found here by scanning the text: table
headers (``[server]``, ``[[connections]]``, counted per name), ``key = value`` lines in
them, and the keys of one-line inline tables. A location that cannot be pinned to its own
line falls back to its nearest enclosing key or table.

Pure text work: must not import anything of the connector.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

Location = tuple[str | int, ...]

_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(?:#.*)?$")
_KEY = re.compile(
    r"""^\s*((?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|"[^"]*"|'[^']*'))*)\s*="""
)
_INLINE_KEY = re.compile(r"""[{,]\s*([A-Za-z0-9_-]+|"[^"]*")\s*=""")


def _parts(dotted: str) -> list[str]:
    """``a."b.c".d`` -> ``["a", "b.c", "d"]``."""
    parts: list[str] = []
    current = ""
    quote: str | None = None
    for char in dotted:
        if quote is not None:
            if char == quote:
                quote = None
            else:
                current += char
        elif char in "\"'":
            quote = char
        elif char == ".":
            parts.append(current.strip())
            current = ""
        else:
            current += char
    parts.append(current.strip())
    return parts


def key_lines(text: str) -> dict[Location, int]:
    """Every table and key path in ``text`` with the (1-based) line it is written on."""
    found: dict[Location, int] = {}
    arrays: dict[tuple[str, ...], int] = {}
    table: Location = ()
    for number, line in enumerate(text.splitlines(), start=1):
        header = _HEADER.match(line)
        if header is not None and not _KEY.match(line):
            names = tuple(_parts(header.group(2)))
            if header.group(1) == "[[":
                index = arrays.get(names, -1) + 1
                arrays[names] = index
                table = (*names, index)
            else:
                table = names
            found.setdefault(table, number)
            if header.group(1) == "[[":
                found.setdefault(names, number)
            continue
        key = _KEY.match(line)
        if key is None:
            continue
        path: Location = (*table, *_parts(key.group(1)))
        found.setdefault(path, number)
        rest = line[key.end() :]
        for inner in _INLINE_KEY.finditer(rest):
            found.setdefault((*path, inner.group(1).strip('"')), number)
    return found


def line_of(text: str, location: Sequence[str | int]) -> int | None:
    """The line of ``location``, or of its nearest enclosing key or table; None if none."""
    lines = key_lines(text)
    path = tuple(location)
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return None
