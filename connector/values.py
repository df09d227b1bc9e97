"""Database values as JSON and CSV, as the contract's "Values as JSON" table says.

orjson writes ints, floats (NaN and infinities as ``null``), strings, UUIDs, dicts and
lists natively; ``json_default`` handles the rest: ``Decimal`` is written exactly as the
database gave it, bytes as base64, ``timedelta`` (MySQL TIME) as ``[-]H:MM:SS``, and
dates, times and datetimes as Python's ``isoformat`` (with their offset, seconds and all).
Integers beyond 64 bits, which orjson refuses, are retried through a slow path that
writes them as exact JSON numbers.

orjson's own date and time writing is fast but not exact (3.13): a time whose
microseconds are 10,000-99,999 loses the fraction's leading zero (``01:02:03.12345``), a
time with an offset (PostgreSQL ``timetz``) is refused, and an offset with seconds
(historical zones: Amsterdam in 1900 is ``+00:19:32``) is rounded to minutes. Those are
handed to ``json_default`` (``EXACT_TIMES``) wherever a body or batch may hold one; one
of dates and naive datetimes keeps orjson's own writer, several times faster
(``exact_times_in``, ``exact_times_needed``).

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
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


def decimal_text(value: Decimal) -> str:
    """A finite decimal's exact digits as SQL databases print them: fixed notation for a
    scale of zero or more (``0.0000001``, where ``str`` gives ``1E-7``), and an exponent
    only where the value has a positive one (``1E+5``: one significant digit, not six)."""
    return format(value, "f") if value.as_tuple().exponent <= 0 else str(value)  # type: ignore[operator]


def _decimal_fragment(value: Decimal) -> Any:
    if not value.is_finite():
        return None
    return orjson.Fragment(decimal_text(value))


# Dates, times and datetimes go to ``json_default`` rather than orjson's own writer.
EXACT_TIMES = orjson.OPT_PASSTHROUGH_DATETIME


def json_default(value: Any) -> Any:
    """orjson's hook for types it does not write itself (and, with ``EXACT_TIMES``, dates,
    times and datetimes)."""
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
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
    """Serialise to JSON bytes; exact for big integers, decimals, dates and times.

    ``EXACT_TIMES`` is used where ``value`` may hold a value orjson writes wrongly
    (``exact_times_in``): a body of dates and naive datetimes keeps orjson's own writer.
    """
    if exact_times_in(value):
        option |= EXACT_TIMES
    try:
        return orjson.dumps(value, default=json_default, option=option)
    except TypeError as exc:
        if "64-bit" not in str(exc):
            raise
        return orjson.dumps(_exact_ints(value), default=json_default, option=option)


def _inexact_natively(value: Any) -> bool:
    if isinstance(value, dt.datetime):
        return value.tzinfo is not None
    return isinstance(value, dt.time | list | tuple | dict)


def exact_times_needed(batch: Sequence[Sequence[Any]]) -> bool:
    """Whether a batch of rows needs ``EXACT_TIMES``: a column whose first non-null value
    is a time, a datetime with an offset, or a container (which may hold either).

    A database column holds one Python type, so one value per column decides; a batch of
    dates and naive datetimes keeps orjson's own writer, which is exact for them and
    several times faster.
    """
    if not batch:
        return False
    for index in range(len(batch[0])):
        for row in batch:
            value = row[index]
            if value is not None:
                if _inexact_natively(value):
                    return True
                break
    return False


def _records_need_exact(records: Sequence[dict[str, Any]]) -> bool:
    for key in records[0]:
        for record in records:
            value = record.get(key)
            if value is not None:
                if _inexact_natively(value):
                    return True
                break
    return False


def exact_times_in(value: Any, depth: int = 0) -> bool:
    """Whether ``value`` (a body) may hold a value orjson writes wrongly: rows (a list of
    sequences or of records) are judged by column, as ``exact_times_needed`` does; any
    other list, dict or value by what it holds (past a few levels of dicts, it may)."""
    if isinstance(value, dict):
        if depth > 8:
            return True
        return any(exact_times_in(inner, depth + 1) for inner in value.values())
    if isinstance(value, list | tuple):
        if not value:
            return False
        first = value[0]
        try:
            if isinstance(first, list | tuple):
                return exact_times_needed(value)
            if isinstance(first, dict):
                return _records_need_exact(value)
        except (TypeError, IndexError, AttributeError):
            return True  # not rows after all (a JSON value of mixed lists): judge nothing
        return any(_inexact_natively(inner) for inner in value)
    return _inexact_natively(value)


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
        return decimal_text(value) if value.is_finite() else ""
    if isinstance(value, dt.datetime | dt.date | dt.time):
        return value.isoformat()
    if isinstance(value, dict | list):
        return dumps(value).decode()
    if isinstance(value, int):
        return int(value)
    return json_default(value)


CsvConverter = Callable[[Any], Any]


def csv_lines(rows: Sequence[Sequence[Any]]) -> str:
    """Rows of CSV cells (``csv_value``) as text, each line ending in ``\\n``: the one
    CSV writer of every export path, and what the native paths are checked against.

    Python 3.11's writer quotes a field for the line terminator's characters only, so a
    text holding ``\\r`` would go out unquoted and a reader would break the row there;
    such rows are written with ``\\r\\n`` (which quotes them) and ended with ``\\n`` again.
    """
    buffer = io.StringIO()
    csv.writer(buffer, lineterminator="\n").writerows(rows)
    text = buffer.getvalue()
    if "\r" not in text:
        return text
    lines = []
    writer = csv.writer(buffer, lineterminator="\r\n")
    for row in rows:
        buffer.seek(0)
        buffer.truncate()
        writer.writerow(row)
        lines.append(buffer.getvalue()[:-2] + "\n")
    return "".join(lines)
