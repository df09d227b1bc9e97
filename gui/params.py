"""A saved query's parameters as the window lets you type them: one per line,
``name:type=default`` (``sym:ticker=ABF``, ``since:date=2024-01-01``, ``top:number=10``;
``name:type[]=a,b`` for several values, the type defaults to text), and the ``:name``
placeholders an SQL text uses. Pure functions, no Qt.
"""

from __future__ import annotations

import re
from typing import Any

from gui.validation import InputError

PARAM_TYPES = ("text", "number", "date", "boolean", "ticker")
WIDGET_TYPES = ("table", "chart", "metric", "markdown", "ssrm_table")
_LINE = re.compile(
    r"^(?P<name>[A-Za-z_]\w*)\s*(?::\s*(?P<type>\w+)\s*(?P<many>\[\])?)?\s*(?:=(?P<default>.*))?$"
)
# :name, but not ::cast (PostgreSQL) and not inside a quoted string
_PLACEHOLDER = re.compile(r"(?<![:\w]):([A-Za-z_]\w*)")
_QUOTED = re.compile(r"'(?:[^']|'')*'|\"(?:[^\"]|\"\")*\"")


def parse_params(text: str) -> list[dict[str, Any]]:
    """The ``params`` of a saved query body from ``name:type=default`` lines; an
    :class:`InputError` naming the line that cannot be read."""
    params: list[dict[str, Any]] = []
    seen: set[str] = set()
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        match = _LINE.match(line)
        if match is None:
            raise InputError(
                f"Line {number} ({line!r}) is not name:type=default, like sym:ticker=ABF."
            )
        name = match.group("name")
        kind = (match.group("type") or "text").lower()
        if kind not in PARAM_TYPES:
            raise InputError(
                f"Line {number}: {kind!r} is not a parameter type; use one of "
                + ", ".join(PARAM_TYPES)
                + "."
            )
        if name in seen:
            raise InputError(f"Line {number}: the parameter {name!r} is declared twice.")
        seen.add(name)
        param: dict[str, Any] = {"name": name, "type": kind}
        default = match.group("default")
        if default is not None and default.strip():
            value = default.strip()
            param["default"] = (
                [item.strip() for item in value.split(",") if item.strip()]
                if match.group("many")
                else value
            )
        if match.group("many"):
            param["multiple"] = True
        params.append(param)
    return params


def format_params(params: list[dict[str, Any]]) -> str:
    """The lines :func:`parse_params` reads, from a saved query's ``params``."""
    lines = []
    for param in params:
        line = f"{param['name']}:{param.get('type') or 'text'}"
        if param.get("multiple"):
            line += "[]"
        default = param.get("default")
        if isinstance(default, list):
            default = ",".join(str(item) for item in default)
        if default is not None:
            line += f"={default}"
        lines.append(line)
    return "\n".join(lines)


def placeholders(sql: str) -> list[str]:
    """The ``:name`` placeholders of ``sql``, in order of first use (quoted text and
    ``::casts`` are not placeholders)."""
    found: list[str] = []
    for name in _PLACEHOLDER.findall(_QUOTED.sub("''", sql)):
        if name not in found:
            found.append(name)
    return found
