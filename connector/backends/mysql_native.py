"""MariaDB writes NDJSON exports itself: each row one JSON object built by ``CONCAT`` (the
keys written by orjson in Python, the values by MariaDB), fetched as one binary string
per row and joined per batch.

The result's columns are read first (``SELECT * FROM (<the user's SQL>) AS _dc LIMIT 0``
on a buffered cursor of the session; a MariaDB error leaves the transaction as it was).
Each column of a type below gets an expression whose text is exactly what the exact path
writes; any other type (TIME, YEAR, BIT, JSON, geometry, NULL), a table read with a
MariaDB JSON column, parameters, duplicate names, MySQL (whose float text differs), a
statement the wrapping refuses, or one with an ``ORDER BY`` at its top (MariaDB ignores the
order of a derived table without ``LIMIT``, so the rows could come in another order)
means no plan, and so does a row whose longest JSON line would not fit MariaDB's
``max_allowed_packet`` (a MEDIUMTEXT or LONGTEXT column: ``CONCAT`` would give NULL).

- integers as they are; text through ``JSON_QUOTE`` (which escapes as orjson does, except
  that it writes ``\\u001F`` where orjson writes ``\\u001f``: lines holding ``\\u00`` are
  written again in Python); binary strings as base64 without line breaks;
- DOUBLE and FLOAT: MariaDB sends the shortest digits, the text PyMySQL parses in the
  exact path; in fixed notation it is orjson's text (with ``.0`` added to whole numbers)
  except below 1e-5, where orjson writes an exponent: those and MariaDB's own exponents
  (a DOUBLE's from 1e15 up) are marked. One with a fixed number of decimals (``DOUBLE(10,2)``,
  ``ROUND(c, 2)``, the ``SUM`` of such a column) means no plan: MariaDB sends ``12.50``,
  and wrapped in a derived table that is materialized (a ``GROUP BY``) the value can even
  change (an ``AVG`` over ``DOUBLE(30,2)`` came back as 1e17 where the statement alone
  gives 3.3e27);
- DECIMAL: MariaDB's text is the exact path's unless it is below 1e-6 (where ``Decimal``
  alone would write ``1.00E-8``): those are marked and written by the exact path;
- DATE, DATETIME and TIMESTAMP as ``2024-05-01T13:45:00`` (six digits of microseconds only
  when there are some, as orjson writes them), quotes and all by one ``DATE_FORMAT``;
  dates with a zero year, month or day are null, as PyMySQL cannot read them.

A marked value is a one-string JSON array (``["1e20"]``), which no other value can become;
the lines holding one are parsed (numbers as ``Decimal``, so unmarked numbers keep their
text) and written again by the exact rules.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import orjson
import sqlglot
from pymysql.constants import FIELD_TYPE
from sqlglot import expressions as exp
from sqlglot.errors import SqlglotError

from connector.errors import SqlError
from connector.fastpath import JSON_REAL_MARK, Batches, NativePlan, has_marked_real
from connector.models import Column
from connector.statements import BoundStatement
from connector.values import dumps

BINARY_CHARSET = 63
# A DOUBLE's or FLOAT's scale when it has no fixed number of decimals (MariaDB's
# NOT_FIXED_DEC): its text has the shortest digits; any other scale means no plan.
NOT_FIXED_DECIMALS = 31
_INTEGERS = frozenset(
    {FIELD_TYPE.TINY, FIELD_TYPE.SHORT, FIELD_TYPE.LONG, FIELD_TYPE.LONGLONG, FIELD_TYPE.INT24}
)
_FLOATS = frozenset({FIELD_TYPE.DOUBLE, FIELD_TYPE.FLOAT})
_DECIMALS = frozenset({FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL})
_STRINGS = frozenset(
    {
        FIELD_TYPE.VAR_STRING,
        FIELD_TYPE.STRING,
        FIELD_TYPE.VARCHAR,
        FIELD_TYPE.BLOB,
        FIELD_TYPE.TINY_BLOB,
        FIELD_TYPE.MEDIUM_BLOB,
        FIELD_TYPE.LONG_BLOB,
    }
)
_DATES = frozenset({FIELD_TYPE.DATE, FIELD_TYPE.NEWDATE})
_DATETIMES = frozenset({FIELD_TYPE.DATETIME, FIELD_TYPE.TIMESTAMP})


def _name(name: str) -> str:
    return "`" + name.replace("`", "``") + "`"


def _zero_date(c: str) -> str:
    return f"YEAR({c}) = 0 OR MONTH({c}) = 0 OR DAYOFMONTH({c}) = 0"


def _float(c: str, single: bool) -> str:
    # A DOUBLE's text is made once: MariaDB does not share a repeated expression, and
    # each CAST to text cost about a fifth of a second a million rows. Its text is in
    # fixed notation exactly from 1e-5 up to 1e15 (the exponent is a matter of the decimal
    # exponent, not of the digits), so exponents and whole numbers are told by value. A
    # FLOAT's text has a float's six digits (-703655.5 is written "-703656", 1e15 stored
    # is 999999986991104 read as a double and written "1e15"): its text is looked at.
    text = f"CAST({c} AS CHAR)"
    exponent = f"LOCATE('e', {text}) > 0" if single else f"ABS({c}) >= 1e15"
    fraction = f"LOCATE('.', {text}) > 0" if single else f"{c} <> FLOOR({c})"
    return (
        f"CASE WHEN {c} IS NULL THEN 'null' "
        f"WHEN {exponent} OR ({c} <> 0 AND ABS({c}) < 0.00001) "
        f"THEN CONCAT('[\"', {text}, '\"]') "
        f"WHEN {fraction} THEN {text} ELSE CONCAT({text}, '.0') END"
    )


def _expression(field: Any, c: str) -> str | None:
    """The JSON text MariaDB should write for the value of ``field`` in column ``c``."""
    kind = field.type_code
    if kind in _INTEGERS:
        return f"COALESCE(CAST({c} AS CHAR), 'null')"
    if kind in _FLOATS:
        if field.scale != NOT_FIXED_DECIMALS:
            return None
        return _float(c, single=kind == FIELD_TYPE.FLOAT)
    if kind in _DECIMALS:
        text = f"CAST({c} AS CHAR)"
        return (
            f"CASE WHEN {c} IS NULL THEN 'null' "
            f"WHEN ABS({c}) < 0.000001 THEN CONCAT('[\"', {text}, '\"]') ELSE {text} END"
        )
    if kind in _STRINGS:
        if field.charsetnr == BINARY_CHARSET:
            # CASE, not COALESCE: under sql_mode ORACLE, CONCAT skips a NULL.
            return (
                f"CASE WHEN {c} IS NULL THEN 'null' "
                f"ELSE CONCAT('\"', REPLACE(TO_BASE64({c}), CHAR(10), ''), '\"') END"
            )
        return f"COALESCE(JSON_QUOTE({c}), 'null')"
    if kind in _DATES:
        return (
            f"CASE WHEN {c} IS NULL OR {_zero_date(c)} THEN 'null' "
            f"ELSE DATE_FORMAT({c}, '\"%Y-%m-%d\"') END"
        )
    if kind in _DATETIMES:
        # One DATE_FORMAT a value, quotes included: half the cost of formatting the
        # fraction apart and joining the pieces.
        return (
            f"CASE WHEN {c} IS NULL OR {_zero_date(c)} THEN 'null' "
            f"WHEN MICROSECOND({c}) = 0 THEN DATE_FORMAT({c}, '\"%Y-%m-%dT%H:%i:%s\"') "
            f"ELSE DATE_FORMAT({c}, '\"%Y-%m-%dT%H:%i:%s.%f\"') END"
        )
    return None


def _ordered(sql: str) -> bool:
    """True when the statement orders its rows at the top, or cannot be read: MariaDB drops
    the ORDER BY of a derived table without LIMIT, so the wrapping would lose the order."""
    try:
        tree = sqlglot.parse_one(sql, read="mysql")
    except SqlglotError:
        return True
    while isinstance(tree, exp.Subquery | exp.Paren):
        tree = tree.this
    return tree is None or tree.args.get("order") is not None


def _describe(connection: Any, statement: BoundStatement) -> list[Any] | None:
    """The result's fields, or None when MariaDB refuses the wrapping."""
    probe = connection.cursor()
    try:
        probe.execute(f"SELECT * FROM (\n{statement.sql}\n) AS _dc LIMIT 0")
        fields = list(getattr(probe._result, "fields", None) or [])
    except Exception:
        return None
    finally:
        probe.close()
    return fields


def _longest(field: Any) -> int:
    """The most bytes ``_expression`` can write for a value of ``field``: each byte of a
    text as a six-byte escape (``\\u0001``), a binary string in base64, anything else in
    its display width and a margin."""
    length = int(field.length)
    if field.type_code in _STRINGS:
        if field.charsetnr == BINARY_CHARSET:
            return (length + 2) // 3 * 4 + 2
        return length * 6 + 2
    return length + 32


def _packet_limit(connection: Any) -> int:
    probe = connection.cursor()
    try:
        probe.execute("SELECT @@max_allowed_packet")
        return int(probe.fetchone()[0])
    finally:
        probe.close()


def plan(
    cursor: Any, statement: BoundStatement, fmt: str, json_columns: set[Any]
) -> NativePlan | None:
    """The plan for an NDJSON export of ``statement`` on the session ``cursor``, or None.
    ``json_columns`` are the MariaDB JSON columns of the tables the statement reads."""
    if fmt != "ndjson" or statement.params or json_columns or _ordered(statement.sql):
        return None
    fields = _describe(cursor.connection, statement)
    if not fields:
        return None
    names = [str(field.name) for field in fields]
    if len({name.lower() for name in names}) != len(names):
        return None
    found = [_expression(field, f"_dc.{_name(field.name)}") for field in fields]
    if any(expression is None for expression in found):
        return None
    # MariaDB's CONCAT gives NULL (and a warning) for a result past max_allowed_packet,
    # where the exact path would read the values and write the long line itself: only
    # rows whose longest line fits get a plan (so no MEDIUMTEXT or LONGTEXT column).
    longest = sum(
        _longest(field) + 6 * len(name.encode()) + 8
        for name, field in zip(names, fields, strict=True)
    )
    if longest >= _packet_limit(cursor.connection):
        return None
    parts = []
    for index, (name, expression) in enumerate(zip(names, found, strict=True)):
        key = ("{" if index == 0 else ",") + orjson.dumps(name).decode() + ":"
        # Hex, so no sql_mode (NO_BACKSLASH_ESCAPES) changes how the key reads.
        parts.append(f"CONVERT(X'{key.encode().hex()}' USING utf8mb4)")
        parts.append(str(expression))
    text = f"CAST(CONVERT(CONCAT({', '.join(parts)}, '}}') USING utf8mb4) AS BINARY)"
    kinds = {name: field.type_code for name, field in zip(names, fields, strict=True)}
    return NativePlan(
        BoundStatement(f"SELECT {text} FROM (\n{statement.sql}\n) AS _dc", None, statement.tables),
        [Column(name=name, type="unknown") for name in names],
        lambda batches: encode_ndjson(batches, kinds),
        retry_on_error=True,
    )


def _fixed(line: bytes, kinds: dict[str, int]) -> bytes:
    record = json.loads(line, parse_float=Decimal)
    for key, value in record.items():
        if isinstance(value, list):
            record[key] = float(value[0]) if kinds[key] in _FLOATS else Decimal(value[0])
    return dumps(record)


def encode_ndjson(batches: Batches, kinds: dict[str, int]) -> Iterator[bytes]:
    """The NDJSON body from rows of one JSON line each."""
    for batch in batches:
        lines = [row[0] for row in batch]
        if None in lines:  # a line past max_allowed_packet, which the plan rules out
            raise SqlError("A row of this export was too long for MariaDB to write as JSON.")
        data = b"\n".join(lines)
        if has_marked_real(data) or (b"\\" in data and b"\\u00" in data):
            data = b"\n".join(
                [
                    _fixed(line, kinds) if JSON_REAL_MARK in line or b"\\u00" in line else line
                    for line in data.split(b"\n")
                ]
            )
        yield data + b"\n"
