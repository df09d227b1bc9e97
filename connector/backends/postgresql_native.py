"""PostgreSQL writes CSV and NDJSON exports itself: ``COPY (SELECT <text per column> FROM
(<the user's SQL>) AS _dc(c0, c1, ...)) TO STDOUT (FORMAT csv)``, or for NDJSON each row
one JSON object built by concatenation (``to_json`` for text, numbers as below) in
COPY's text format, streamed as it arrives.

The result's column types are read first (the statement wrapped in ``LIMIT 0``, inside a
savepoint). Each column of a type below gets an expression that makes PostgreSQL print
exactly what the exact path writes; any other type (numeric, json, arrays, timestamptz,
time...), parameters, one column only (Python's csv writes an empty one-field row as
``""``), or a statement ``COPY`` cannot wrap means no plan.

- integers as they are; booleans ``true``/``false``; ``uuid`` as text; ``bytea`` as
  base64 without line breaks; dates in ISO style (BC, infinity and years past 9999 stay
  the text PostgreSQL prints, as the exact path keeps it);
- ``timestamp`` as ``2024-05-01T13:45:00`` (microseconds only when there are some, six
  digits, as Python's ``isoformat``);
- ``float8`` (and ``float4`` through its text) as Python's ``repr``: the shortest digits
  (``extra_float_digits = 1``), which PostgreSQL prints in fixed notation from 1e-4 to
  1e15, with ``.0`` for whole numbers; NaN and infinities as an empty field; other
  magnitudes are marked;
- text: an empty string as an empty field (PostgreSQL would quote it to tell it from
  NULL); a value the two writers would quote differently (``\\r``, ``\\.``) or that starts
  with a mark character is marked.

Marked values (``\\x01`` + a float's text, ``\\x03`` + text) make the rows of that chunk be
parsed and written again by the exact rules (``connector.fastpath.redo_csv``).
"""

from __future__ import annotations

import select
from collections.abc import Iterator
from typing import Any

import orjson
from psycopg import errors as pg_errors
from psycopg import pq
from psycopg.postgres import types as pg_types

from connector.fastpath import NativePlan, redo_csv, redo_ndjson
from connector.models import Column
from connector.statements import BoundStatement
from connector.values import csv_lines

_OIDS = {info.name: info.oid for info in pg_types}
CHUNK_BYTES = 1 << 18


def _csv_quotes_cr() -> bool:
    return csv_lines([["a\rb", "x"]]).startswith('"')


_PYTHON_QUOTES_CR = _csv_quotes_cr()


def _float8(c: str) -> str:
    # PostgreSQL prints the shortest digits, in fixed notation from 1e-4 up to 1e15.
    return (
        f"CASE WHEN {c} = 0 THEN CASE WHEN {c}::text = '-0' THEN '-0.0' ELSE '0.0' END "
        f"WHEN abs({c}) >= 1e-4 AND abs({c}) < 1e15 THEN "
        f"CASE WHEN {c} = trunc({c}) THEN {c}::text || '.0' ELSE {c}::text END "
        f"WHEN {c} = 'NaN'::float8 OR {c} IN ('Infinity'::float8, '-Infinity'::float8) THEN NULL "
        f"ELSE chr(1) || {c}::text END"
    )


def _text(c: str) -> str:
    # PostgreSQL quotes a field holding \r; Python's csv (3.11) does not: redo those.
    cr = "" if _PYTHON_QUOTES_CR else f" OR strpos({c}, chr(13)) > 0"
    return (
        f"CASE WHEN {c} = '' THEN NULL "
        f"WHEN ascii({c}) BETWEEN 1 AND 3 OR {c} = E'\\\\.'{cr} "
        f"THEN chr(3) || {c} ELSE {c} END"
    )


def _timestamp(c: str) -> str:
    # ISO text with a T and, when there is a fraction, the six digits isoformat writes.
    # The text is made once per value (a test for the fraction that does not make it:
    # measured, half the cost of looking for the point in the text). The range leaves
    # out the infinities (and years PostgreSQL writes otherwise) without isfinite(). The
    # fraction PostgreSQL writes (1 to 6 digits) is padded by appending zeros and cutting
    # at 26 characters with an explicit varchar(26) cast, which SQL defines to truncate:
    # 0.06 s a million rows, against 0.17 s for rpad().
    text = f"replace({c}::text, ' ', 'T')"
    return (
        f"CASE WHEN {c} >= '0001-01-01' AND {c} < '10000-01-01' THEN "
        f"CASE WHEN date_trunc('second', {c}) = {c} THEN {text} "
        f"ELSE ({text} || '00000')::varchar(26) END "
        f"ELSE {c}::text END"
    )


def _expression(oid: int, c: str) -> str | None:
    """The text PostgreSQL should print for column ``c`` of type ``oid``, or None."""
    if oid in (_OIDS["int2"], _OIDS["int4"], _OIDS["int8"], _OIDS["oid"], _OIDS["date"]):
        return c
    if oid in (_OIDS["text"], _OIDS["varchar"], _OIDS["bpchar"], _OIDS["name"]):
        return _text(c)
    if oid == _OIDS["float8"]:
        return _float8(c)
    if oid == _OIDS["float4"]:
        return _float8(f"({c})::text::float8")
    if oid == _OIDS["bool"]:
        return f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' END"
    if oid == _OIDS["timestamp"]:
        return _timestamp(c)
    if oid == _OIDS["bytea"]:
        return f"NULLIF(replace(encode({c}, 'base64'), chr(10), ''), '')"
    if oid == _OIDS["uuid"]:
        return f"{c}::text"
    return None


def _json_float8(c: str) -> str:
    number = (
        f"CASE WHEN {c} = 0 THEN CASE WHEN {c}::text = '-0' THEN '-0.0' ELSE '0.0' END "
        f"WHEN abs({c}) >= 1e-4 AND abs({c}) < 1e15 THEN "
        f"CASE WHEN {c} = trunc({c}) THEN {c}::text || '.0' ELSE {c}::text END "
        f"WHEN {c} = 'NaN'::float8 OR {c} IN ('Infinity'::float8, '-Infinity'::float8) "
        f"THEN 'null' ELSE '[\"' || {c}::text || '\"]' END"
    )
    return f"COALESCE({number}, 'null')"


def _quoted(text: str) -> str:
    return f"COALESCE('\"' || {text} || '\"', 'null')"


def _json_expression(oid: int, c: str) -> str | None:
    """The JSON text PostgreSQL should print for column ``c`` of type ``oid``, or None."""
    if oid in (_OIDS["int2"], _OIDS["int4"], _OIDS["int8"], _OIDS["oid"]):
        return f"COALESCE({c}::text, 'null')"
    if oid in (_OIDS["text"], _OIDS["varchar"], _OIDS["bpchar"], _OIDS["name"]):
        return f"COALESCE(to_json({c})::text, 'null')"
    if oid == _OIDS["float8"]:
        return _json_float8(c)
    if oid == _OIDS["float4"]:
        return _json_float8(f"({c})::text::float8")
    if oid == _OIDS["bool"]:
        return f"CASE WHEN {c} THEN 'true' WHEN NOT {c} THEN 'false' ELSE 'null' END"
    if oid in (_OIDS["date"], _OIDS["uuid"]):
        return _quoted(f"{c}::text")
    if oid == _OIDS["timestamp"]:
        return _quoted(_timestamp(c))
    if oid == _OIDS["bytea"]:
        return _quoted(f"replace(encode({c}, 'base64'), chr(10), '')")
    return None


def _literal(text: str) -> str:
    # An escape string: it reads the same whatever standard_conforming_strings says (a
    # database or role may turn it off, and a plain literal's backslashes then escape).
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


def _header(names: list[str]) -> bytes:
    return csv_lines([names]).encode()


def _describe(connection: Any, statement: BoundStatement) -> list[Any] | None:
    """The result columns of ``statement`` (wrapped in ``LIMIT 0``), inside a savepoint
    that a failure rolls back to, so the session goes on as if nothing had run."""
    probe = connection.cursor()
    try:
        probe.execute("SAVEPOINT dc_native")
        probe.execute(f"SELECT * FROM (\n{statement.sql}\n) AS _dc LIMIT 0")
        return list(probe.description or [])
    except Exception:
        probe.execute("ROLLBACK TO SAVEPOINT dc_native")
        return None
    finally:
        probe.close()


def plan(cursor: Any, statement: BoundStatement, fmt: str) -> NativePlan | None:
    """The COPY plan for a CSV or NDJSON export of ``statement`` on the session
    ``cursor``, or None."""
    if fmt not in ("csv", "ndjson") or statement.params or not cursor.declarable(statement.sql):
        return None
    connection = cursor.connection
    if connection.info.parameter_status("server_encoding") == "SQL_ASCII":
        return None  # bytes in no declared encoding: the exact path decides what they are
    description = _describe(connection, statement)
    if description is None or len(description) < (2 if fmt == "csv" else 1):
        return None
    aliases = [f"c{index}" for index in range(len(description))]
    names = [str(item.name) for item in description]
    if fmt == "csv":
        found = [
            _expression(item.type_code, c) for item, c in zip(description, aliases, strict=True)
        ]
        if any(expression is None for expression in found):
            return None
        select, options, first = ", ".join(str(e) for e in found), "(FORMAT csv)", _header(names)
        finish = _chunk
    else:
        found = [
            _json_expression(item.type_code, c)
            for item, c in zip(description, aliases, strict=True)
        ]
        if any(expression is None for expression in found) or len(set(names)) != len(names):
            return None
        keys = [orjson.dumps(name).decode() + ":" for name in names]
        parts = [
            _literal(("{" if index == 0 else ",") + key) + f" || {expression}"
            for index, (key, expression) in enumerate(zip(keys, found, strict=True))
        ]
        select, options, first = " || ".join(parts) + " || '}'", "", b""
        finish = _ndjson_chunk
    sql = (
        f"COPY (SELECT {select} FROM (\n{statement.sql}\n) AS _dc({', '.join(aliases)})) "
        f"TO STDOUT {options}"
    )

    def stream(_: Any) -> Iterator[tuple[bytes, int]]:
        with connection.cursor() as setup:
            setup.execute("SET LOCAL extra_float_digits = 1")
            setup.execute("SET LOCAL DateStyle = 'ISO, MDY'")
            # The body is UTF-8; a LATIN1 database's session speaks LATIN1 by default.
            setup.execute("SET LOCAL client_encoding = 'UTF8'")
        if first:
            yield first, 0
        with connection.cursor() as copier, copier.copy(sql):
            for data, rows in _copied_chunks(connection.pgconn, connection.info.encoding):
                yield finish(data), rows

    def recover(_: Any) -> None:
        with connection.cursor() as undo:
            undo.execute("ROLLBACK TO SAVEPOINT dc_native")

    return NativePlan(
        statement,
        [Column(name=name, type="unknown") for name in names],
        lambda batches: iter(()),
        retry_on_error=True,
        stream=stream,
        recover=recover,
    )


def _copied_chunks(pgconn: Any, encoding: str) -> Iterator[tuple[bytes, int]]:
    """The rows of the ``COPY ... TO STDOUT`` running on ``pgconn``, about ``CHUNK_BYTES``
    at a time as (bytes, rows), read with libpq's own calls (psycopg's ``pq``): a row per
    call, without psycopg's wait machinery around each row, which cost half the export's
    time. Each row is copied into the chunk at once and its libpq buffer freed: keeping a
    chunk's rows as buffers and joining them took this thread 1.3 s of CPU a million rows
    against 0.5 s (measured in process; the export's time is PostgreSQL's own process
    writing the rows, so the gain is CPU left for other work, not a faster export).
    Waits for the socket with the GIL released; ends with the COPY's result, raising the
    error that stopped it (a cancel)."""
    get_copy_data = pgconn.get_copy_data
    chunk = bytearray()
    rows = 0
    while True:
        length, data = get_copy_data(1)  # 1: never blocks
        if length > 0:
            chunk += data
            rows += 1
            if len(chunk) >= CHUNK_BYTES:
                yield bytes(chunk), rows
                chunk.clear()
                rows = 0
        elif length == 0:  # nothing buffered yet
            _readable(pgconn)
            pgconn.consume_input()
        else:  # -1: the COPY ended
            break
    while pgconn.is_busy():
        _readable(pgconn)
        pgconn.consume_input()
    failed = None
    while (result := pgconn.get_result()) is not None:
        if result.status != pq.ExecStatus.COMMAND_OK and failed is None:
            failed = pg_errors.error_from_result(result, encoding=encoding)
    # The last rows only once the COPY has ended well: a statement that fails within its
    # first chunk (a division by zero at row 3,000) is then an error answer, as the exact
    # path gives, not a 200 cut short.
    if failed is not None:
        raise failed
    if rows:
        yield bytes(chunk), rows


def _readable(pgconn: Any) -> None:
    select.select([pgconn.socket], [], [], 1.0)


def _chunk(data: bytes) -> bytes:
    if b"\x01" in data or b"\x03" in data:
        return redo_csv(data.decode()).encode()
    return data


def _ndjson_chunk(data: bytes) -> bytes:
    # COPY's text format doubles each backslash; a JSON line holds no other character it
    # escapes (PostgreSQL's JSON escapes control characters itself). Most chunks hold no
    # backslash, and replace() copies the chunk even then.
    if b"\\" in data:
        data = data.replace(b"\\\\", b"\\")
    return redo_ndjson(data)
