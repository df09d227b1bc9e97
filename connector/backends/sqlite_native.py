"""SQLite writes an export's text itself: NDJSON lines with ``json_object``, CSV rows by
concatenation, one string per row (a BLOB, so bytes: no decoding into ``str``), joined per batch.

The statement is ``WITH _dc_rows(c0, c1, ...) AS (<the user's SQL>) SELECT <text> FROM
_dc_rows`` (the column list renames by position, so any names work), in a read
transaction the export holds to its end. Whether SQLite's text is exactly the contract's
is decided twice:

- per column, before running: the result columns' declared types are read from a
  temporary view of the statement on a private read-only connection. A column whose
  declared type has a converter (``DATE``, ``DATETIME``, ``BOOLEAN``, ``JSON``...) becomes
  a Python value in the exact path, so any such column, a statement with parameters (a
  view cannot hold them), duplicate names, or a SQLite without math functions or that
  keeps JSON subtypes through the wrapping means no plan: the export runs as before.
- per value, while running (SQLite columns hold any type): integers, NULL and text are
  written as they are (SQLite escapes strings as orjson does); a REAL only when its
  15-digit text reads back as the same double and needs no exponent (then the digits are
  the shortest ones orjson and ``repr`` write), else as a marker (NDJSON: a one-string
  JSON array holding its 17 digits, which no text value can become; CSV: ``\x01`` and the
  digits, text starting with ``\x01``-``\x03`` then getting a ``\x03`` in front) and the
  few rows holding one are redone in Python by the exact rules. A column declared with
  TEXT affinity and read straight from a table holds only text, BLOB or NULL, so its
  values are not looked at (not when the statement has a compound SELECT or names a
  view, whose declared types come from one arm). A BLOB makes ``json_object`` fail: the
  export then goes on by the exact path from that row (``NativePlan.resume``).
"""

from __future__ import annotations

import functools
import re
import sqlite3
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from connector.backends.sqlite_ranges import RangeExport, csv_from_arrays, range_plan
from connector.errors import SqlError
from connector.fastpath import Batches, NativePlan, redo_csv, redo_ndjson
from connector.models import Column
from connector.statements import BoundStatement
from connector.values import csv_lines

ROWS_CTE = "_dc_rows"
# Opens another read-only connection to a file (its path), stopping when asked (the callable).
Second = Callable[[str, Callable[[], bool]], sqlite3.Connection | None]
PROBE_VIEW = "_dc_probe"
_COMPOUND = re.compile(r"\b(?:union|intersect|except)\b", re.I)
_DEDUPLICATED = re.compile(r":\d+$")
_STARTS = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*(?:select|with|values)\b", re.I | re.S
)


def _literal(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def _clean_real(c: str) -> str:
    """True for a REAL whose SQLite text is the text orjson and ``repr`` write (-0.0 loses
    its sign in SQLite's text; atan2 tells the two zeros apart).

    First without making text: a REAL that is the nearest double to a decimal with at most
    six places and 15 digits (``m / 1e6`` for the whole number ``m`` that ``round`` makes
    of it times a million) is written with that decimal's digits at 15 digits (DBL_DIG),
    as prices are; only other values pay for writing their 15-digit text and reading it
    back. (Rounding rather than truncating: a million times 0.29 is a hair under 290,000.
    ``+c`` has no affinity: a column of TEXT affinity, as a view's can be, would make SQLite
    compare the two as their 15-digit texts.)"""
    quick = f"(round({c} * 1e6) / 1e6 = +{c} AND abs({c}) BETWEEN 0.0001 AND 999999999.0)"
    return (
        f"{quick} OR (abs({c}) BETWEEN 0.0001 AND 999999999999999.0 "
        f"AND {c} = CAST(CAST({c} AS TEXT) AS REAL)) OR ({c} = 0 AND atan2({c}, -1) > 0)"
    )


def _real(c: str) -> str:
    """CSV: a REAL as SQLite writes it, or marked with its 17 digits."""
    marked = f"char(1) || iif({c} = 0, '-0.0', printf('%!.17g', {c}))"
    return f"iif({_clean_real(c)}, {c}, {marked})"


def _text(c: str) -> str:
    return f"iif({c} >= char(1) AND {c} < char(4), char(3) || {c}, {c})"


def _json_value(c: str, text_only: bool) -> str:
    """NDJSON: the value as is, a REAL that SQLite would write differently as a marker."""
    if text_only:
        return c
    marked = f"json_array(iif({c} = 0, '-0.0', printf('%!.17g', {c})))"
    return f"iif(typeof({c}) = 'real', iif({_clean_real(c)}, {c}, {marked}), {c})"


def _csv_quotes() -> str:
    """The characters that make Python's csv writer (as the exact path sets it up) quote a
    field, found by asking it."""
    found = []
    for char in ',"\n\r':
        if csv_lines([["a" + char + "b", "x"]]).startswith('"'):
            found.append(char)
    return "".join(found)


_CSV_QUOTES = _csv_quotes()


def _csv_value(c: str, alone: bool) -> str:
    needs = " OR ".join(f"instr({c}, char({ord(char)}))" for char in _CSV_QUOTES)
    quoted = f"'\"' || replace({_text(c)}, '\"', '\"\"') || '\"'"
    text = f"iif({needs}, {quoted}, {_text(c)})"
    if alone:  # one column: csv writes an empty field as "" so the line is not blank
        text = f"iif({c} = '', '\"\"', {text})"
    empty = "'\"\"'" if alone else "''"
    return (
        f"CASE typeof({c}) WHEN 'real' THEN {_real(c)} WHEN 'blob' THEN char(2) || hex({c}) "
        f"WHEN 'text' THEN {text} WHEN 'null' THEN {empty} ELSE {c} END"
    )


def valid_utf8(data: bytes) -> bool:
    """Whether SQLite's text is UTF-8: a TEXT value may hold any bytes, which SQLite copies
    into its JSON and CSV as they are, where the exact path refuses them (``sqlite3``
    cannot decode them). Most text is ASCII, which is checked at memory speed."""
    if data.isascii():
        return True
    try:
        data.decode()
    except UnicodeDecodeError:
        return False
    return True


def _refuse_unless_utf8(data: bytes) -> bytes:
    if not valid_utf8(data):
        raise SqlError("A text value of this result is not valid UTF-8, so it cannot be exported.")
    return data


def encode_ndjson(batches: Batches) -> Iterator[bytes]:
    """The NDJSON body from rows of one JSON line each, as bytes (a BLOB: no UTF-8 decoding
    into ``str`` and encoding back)."""
    for batch in batches:
        data = _refuse_unless_utf8(b"\n".join([row[0] for row in batch]))
        yield redo_ndjson(data) + b"\n"


def csv_encoder(header: bytes) -> Any:
    def encode_csv(batches: Batches) -> Iterator[bytes]:
        # The header goes with the first batch, so the first chunk is the first rows.
        pending = header
        for batch in batches:
            lines = [row[0] for row in batch]
            data = _refuse_unless_utf8(b"\n".join(lines))
            if b"\x01" in data or b"\x02" in data or b"\x03" in data:
                data = b"\n".join(
                    redo_csv(line.decode())[:-1].encode()
                    if any(m in line for m in (b"\x01", b"\x02", b"\x03"))
                    else line
                    for line in lines
                )
            yield pending + data + b"\n"
            pending = b""
        if pending:
            yield pending

    return encode_csv


def _header(names: Sequence[str]) -> bytes:
    return csv_lines([list(names)]).encode()


@dataclass
class Probe:
    """What the private connection found out about a statement."""

    columns: list[tuple[str, str]]  # (name, declared type)
    names_views: bool  # the statement reads a view


# Does this SQLite carry a JSON subtype through the wrapping? (3.40 does not.) Then a
# value made by a JSON function would be nested in the plan's text but a string in the
# exact path, so no plan is made.
_SUBTYPE_CHECK = "WITH t(c0) AS (SELECT json_object('a', 1)) SELECT json_object('k', c0) FROM t"


def probe(path: str, statement: BoundStatement) -> Probe | None:
    """The result columns of ``statement``, from a temporary view on a private read-only
    connection to ``path``; None when SQLite cannot make the view or lacks what the plan
    needs."""
    connection = sqlite3.connect(Path(path).as_uri() + "?mode=ro", uri=True)
    try:
        connection.execute(f"CREATE TEMP VIEW {PROBE_VIEW} AS\n{statement.sql}\n")
        rows = connection.execute(f"PRAGMA temp.table_info({PROBE_VIEW})").fetchall()
        connection.execute("SELECT atan2(0, -1)")
        if connection.execute(_SUBTYPE_CHECK).fetchone()[0] != '{"k":"{\\"a\\":1}"}':
            return None
        views = {
            str(name).lower()
            for (name,) in connection.execute("SELECT name FROM sqlite_master WHERE type = 'view'")
        }
    except sqlite3.Error:
        return None
    finally:
        connection.close()
    names_views = any(table.lower() in views for _, table in statement.tables)
    return Probe([(str(row[1]), str(row[2] or "")) for row in rows], names_views)


def _converted(declared: str) -> bool:
    """True when ``sqlite3`` turns values of this declared type into Python values."""
    word = re.split(r"[\s(]", declared.strip(), maxsplit=1)[0].upper()
    return bool(word) and word in sqlite3.converters


def _text_affinity(declared: str) -> bool:
    upper = declared.upper()
    return "INT" not in upper and any(word in upper for word in ("CHAR", "CLOB", "TEXT"))


def _blob_refused(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.Error) and "cannot hold blob" in str(exc).lower()


def _ndjson_batch(text: bytes, _rows: int) -> bytes | None:
    """NDJSON lines of a batch SQLite wrote, marked REALs redone; None (the exact path,
    which refuses it as it refuses any such batch) for text that is not UTF-8."""
    if not valid_utf8(text):
        return None
    return redo_ndjson(text) + b"\n"


def _csv_batch(text: bytes, rows: int, width: int) -> bytes | None:
    """CSV lines from a batch of JSON arrays SQLite wrote, or None for the exact path."""
    if not valid_utf8(text):
        return None
    return csv_from_arrays(text, rows, width)


def _csv_json_value(c: str, text_only: bool) -> str:
    """CSV by way of a JSON array: NULL as an empty text, a REAL SQLite would write
    differently as a control character (escaped in JSON, so the batch is redone); a column
    that holds only text (or a BLOB, which the JSON functions refuse) is not looked at."""
    if text_only:
        return f"ifnull({c}, '')"
    return f"iif(typeof({c}) = 'real', iif({_clean_real(c)}, {c}, char(1)), ifnull({c}, ''))"


def _ranged(
    connection: Any,
    statement: BoundStatement,
    fmt: str,
    found: Probe,
    trust_declared: bool,
    second: Callable[[Callable[[], bool]], sqlite3.Connection | None] | None,
) -> NativePlan | None:
    """The plan reading a plain table scan in rowid ranges (``sqlite_ranges``), or None."""
    names = [name for name, _ in found.columns]
    aliases = [f"c{index}" for index in range(len(names))]
    columns = [Column(name=name, type="unknown") for name in names]
    finish: Callable[[bytes, int], bytes | None]
    if fmt == "csv":
        if len(names) < 2:  # one column: an empty text is written "" (csv_lines)
            return None
        values = (
            _csv_json_value(c, trust_declared and _text_affinity(declared))
            for (_, declared), c in zip(found.columns, aliases, strict=True)
        )
        text = f"json_array({', '.join(values)})"
        finish = functools.partial(_csv_batch, width=len(names))
        header = _header(names)
    else:
        pairs = ", ".join(
            f"{_literal(name)}, {_json_value(c, trust_declared and _text_affinity(declared))}"
            for (name, declared), c in zip(found.columns, aliases, strict=True)
        )
        text, finish, header = f"json_object({pairs})", _ndjson_batch, b""
    ranges = range_plan(connection, statement.sql, names, text)
    if ranges is None:
        return None
    export = RangeExport(ranges, columns, fmt, finish, header, second)
    return NativePlan(
        BoundStatement(ranges.span, None, statement.tables),
        columns,
        lambda _batches: iter(()),
        retry_on_error=True,
        stream=export.stream,
    )


def plan(
    connection: Any, statement: BoundStatement, fmt: str, second: Second | None = None
) -> NativePlan | None:
    """The plan for export ``fmt`` of ``statement`` on ``connection``, or None; ``second``
    opens another read-only connection to the same file, for a range export."""
    if fmt not in ("ndjson", "csv") or statement.params:
        return None
    if not _STARTS.match(statement.sql):
        return None
    row = connection.execute("PRAGMA database_list").fetchone()
    path = str(row[2]) if row is not None else ""
    found = probe(path, statement) if path else None
    if not found or not found.columns:
        return None
    names = [name for name, _ in found.columns]
    if len(set(names)) != len(names) or any(_DEDUPLICATED.search(name) for name in names):
        return None
    if any(_converted(declared) for _, declared in found.columns):
        return None
    trust_declared = not found.names_views and not _COMPOUND.search(statement.sql)
    if not connection.in_transaction:
        # One snapshot for the plan's statements and, after a BLOB, the exact path's.
        connection.execute("BEGIN")
    if not found.names_views:
        opener = None if second is None else functools.partial(second, path)
        ranged = _ranged(connection, statement, fmt, found, trust_declared, opener)
        if ranged is not None:
            return ranged
    aliases = [f"c{index}" for index in range(len(names))]
    if fmt == "csv":
        alone = len(aliases) == 1
        # Concatenated, so each row is one string, also with one column.
        text = (
            "CAST('' || "
            + " || ',' || ".join(f"({_csv_value(c, alone)})" for c in aliases)
            + " AS BLOB)"
        )
        encoder: Any = csv_encoder(_header(names))
    else:
        pairs = ", ".join(
            f"{_literal(name)}, {_json_value(c, trust_declared and _text_affinity(declared))}"
            for (name, declared), c in zip(found.columns, aliases, strict=True)
        )
        text = f"CAST(json_object({pairs}) AS BLOB)"
        encoder = encode_ndjson
    head = f"WITH {ROWS_CTE}({', '.join(aliases)}) AS (\n{statement.sql}\n) SELECT"
    return NativePlan(
        BoundStatement(f"{head} {text} FROM {ROWS_CTE}", None, statement.tables),
        [Column(name=name, type="unknown") for name in names],
        encoder,
        retry_on_error=True,
        resume=BoundStatement(f"{head} * FROM {ROWS_CTE}", None, statement.tables),
        resumable=_blob_refused,
    )
