"""Database values as JSON and CSV, as the contract's "Values as JSON" table says.

orjson writes ints, floats (NaN and infinities as ``null``), strings, dates, times,
datetimes (with their offset), UUIDs, dicts and lists natively; ``json_default`` handles
the rest: ``Decimal`` is written exactly as the database gave it, bytes as base64,
``timedelta`` (MySQL TIME) as ``[-]H:MM:SS``. Integers beyond 64 bits, which orjson
refuses, are retried through a slow path that writes them as exact JSON numbers.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import base64
import datetime as dt
import math
import uuid
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any

import orjson

COLUMN_TYPES = (
    "integer",
    "decimal",
    "float",
    "string",
    "boolean",
    "date",
    "time",
    "datetime",
    "binary",
    "json",
    "unknown",
)


def format_timedelta(value: dt.timedelta) -> str:
    """``-838:59:59`` style, as MySQL prints a TIME interval."""
    total = value.days * 86400 + value.seconds
    sign = "-" if total < 0 or (total == 0 and value.microseconds and value.days < 0) else ""
    micro = value.microseconds
    if total < 0:
        # timedelta keeps microseconds positive; fold them back for a negative span.
        total_us = -(total * 1_000_000 + micro)
        total, micro = divmod(total_us, 1_000_000)
    hours, rest = divmod(abs(total), 3600)
    minutes, seconds = divmod(rest, 60)
    text = f"{sign}{hours:02d}:{minutes:02d}:{seconds:02d}"
    return f"{text}.{micro:06d}" if micro else text


def _decimal_fragment(value: Decimal) -> Any:
    if not value.is_finite():
        return None
    return orjson.Fragment(str(value))


def json_default(value: Any) -> Any:
    """orjson's hook for types it does not write itself."""
    if isinstance(value, Decimal):
        return _decimal_fragment(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.timedelta):
        return format_timedelta(value)
    if isinstance(value, set | frozenset | tuple):
        return sorted(value, key=str) if isinstance(value, set | frozenset) else list(value)
    if isinstance(value, int):  # int subclasses orjson declines, e.g. IntEnum-likes
        return int(value)
    return str(value)


def _exact_ints(value: Any) -> Any:
    """Replace integers beyond 64 bits by exact JSON fragments, recursively."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return orjson.Fragment(str(value)) if not -(2**63) <= value < 2**64 else value
    if isinstance(value, list | tuple):
        return [_exact_ints(v) for v in value]
    if isinstance(value, dict):
        return {k: _exact_ints(v) for k, v in value.items()}
    return value


def dumps(value: Any, option: int = 0) -> bytes:
    """Serialise to JSON bytes; exact for big integers and decimals."""
    try:
        return orjson.dumps(value, default=json_default, option=option)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        return orjson.dumps(_exact_ints(value), default=json_default, option=option)


_PY_TYPE_NAMES: dict[type, str] = {
    bool: "boolean",
    int: "integer",
    float: "float",
    Decimal: "decimal",
    str: "string",
    bytes: "binary",
    bytearray: "binary",
    memoryview: "binary",
    dt.datetime: "datetime",
    dt.date: "date",
    dt.time: "time",
    dt.timedelta: "time",
    dict: "json",
    list: "json",
    uuid.UUID: "string",
}


def type_of_value(value: Any) -> str:
    """The contract column type of one Python value (``unknown`` for None)."""
    if value is None:
        return "unknown"
    name = _PY_TYPE_NAMES.get(type(value))
    if name is not None:
        return name
    for py_type, type_name in _PY_TYPE_NAMES.items():
        if isinstance(value, py_type):
            return type_name
    return "unknown"


def infer_column_types(width: int, rows: Sequence[Sequence[Any]]) -> list[str]:
    """Column types from the first non-null value of each column in ``rows``.

    A column whose values mix integers and floats is ``float``; any other mix is
    ``string`` for text-like values, else ``unknown``.
    """
    types = ["unknown"] * width
    if not rows:
        return types
    for index, column in enumerate(zip(*rows, strict=False)):
        if index == width:
            break
        # The classes present, found in C; a column of one class (the usual case) needs
        # no walk through its values.
        classes = set(map(type, column))
        classes.discard(type(None))
        if len(classes) == 1:
            types[index] = type_of_value(column[0] if column[0] is not None else _first(column))
        elif classes:
            types[index] = _mixed_type(column)
    return types


def _first(column: Sequence[Any]) -> Any:
    return next(value for value in column if value is not None)


def _mixed_type(column: Sequence[Any]) -> str:
    seen: str | None = None
    for value in column:
        if value is None:
            continue
        kind = type_of_value(value)
        if seen is None:
            seen = kind
        elif kind != seen:
            return "float" if {seen, kind} == {"integer", "float"} else "string"
    return seen or "unknown"


def csv_value(value: Any) -> Any:
    """A value as the csv module should write it (None stays an empty cell)."""
    if value is None or type(value) in (int, str):
        return value
    if isinstance(value, float):
        return "" if math.isnan(value) or math.isinf(value) else value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, Decimal):
        return str(value) if value.is_finite() else ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return orjson.dumps(value, default=json_default).decode()
    if isinstance(value, int):
        return int(value)
    return json_default(value)


CsvConverter = Callable[[Any], Any]
