"""SQLite exports of one table read in rowid order: range by range, each batch's text one
string that SQLite writes (``group_concat`` of ``json_object``/``json_array`` per row), and
on two connections at once where the file's locking lets both read the same data.

Python's ``sqlite3`` makes a tuple per fetched row and hands the GIL over around every
step; a batch fetched as one string costs Python one object and one GIL hand-over per
5,000 rows, and SQLite runs the whole batch with the GIL released, so a second thread on a
second connection runs on the other core.

Only a statement that scans one rowid table in rowid order gets this plan: ``SELECT
<list> FROM <table> [WHERE <condition>] [ORDER BY <one column>]`` (checked on its tokens),
whose query plan is one ``SCAN`` of the table with no index (so an ``ORDER BY`` is the
rowid's, which the scan gives without sorting) and whose program has no aggregate, sorter,
ephemeral table or limit (checked on SQLite's own ``EXPLAIN``). Its rows then come in rowid order,
so reading ``rowid`` ranges in order (``WHERE (<condition>) AND rowid BETWEEN ? AND ?
ORDER BY rowid LIMIT ?``, which SQLite runs as a seek on the table's b-tree) gives the same
rows in the same order. Anything else keeps the row-by-row plan (``sqlite_native``).

Exactness, per batch: a batch SQLite cannot write (a BLOB: ``json_object`` refuses it), or
whose text holds a value written differently from the contract (a marked REAL; for CSV,
any escape or a comma inside a text), is read again as values for the same rowids and
written by the exact path. CSV is made from the JSON arrays by removing their quotes and
brackets, which is exact when the batch holds no escape (so no quote, newline or control
character in any text) and exactly ``columns - 1`` commas per row (so none inside a text).

Two connections see the same data only when no commit can land between their two read
transactions: in rollback-journal mode the session's read transaction holds a SHARED lock,
which keeps every writer from committing, so a second read-only connection that starts
while it is held reads the same database. In WAL mode, or when the second connection
cannot start at once, the session reads every range alone.
"""

from __future__ import annotations

import queue
import sqlite3
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import suppress
from dataclasses import dataclass
from typing import Any, cast

import sqlglot
import sqlglot.errors
from sqlglot.tokenizer_core import TokenType

from connector.export import ExportFormat, encode_rest
from connector.models import Column

RANGE_ROWS = 5000
# A span's text is kept near this size: wide rows get spans of fewer rows, so the spans
# held at once (each reader's, the second reader's queue, the channel's) stay within the
# export's memory bound. Three samples of PROBE_ROWS rows (start, middle, end) tell the
# width; a table whose rows are much wider elsewhere still gets larger spans there.
SPAN_BYTES = 1 << 20
PROBE_ROWS = 32
# Tokens that end a plain scan at the top level of a statement: anything after them
# changes which rows come or in which order.
_ENDS_A_SCAN = frozenset(
    {
        TokenType.GROUP_BY, TokenType.ORDER_BY, TokenType.LIMIT, TokenType.HAVING,
        TokenType.WINDOW, TokenType.UNION, TokenType.EXCEPT, TokenType.INTERSECT,
        TokenType.OFFSET, TokenType.FETCH, TokenType.SEMICOLON, TokenType.COMMA,
        TokenType.JOIN,
    }
)  # fmt: skip
# What the table part (``FROM <name> [AS <alias>]``) may be made of.
_TABLE_TOKENS = frozenset({TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT, TokenType.ALIAS})
# What a trailing ``ORDER BY`` may name: one column (or its number), ascending.
_ORDER_TOKENS = frozenset(
    {TokenType.VAR, TokenType.IDENTIFIER, TokenType.DOT, TokenType.NUMBER, TokenType.ASC}
)
# Opcodes of a program that does more than hand out the scanned rows one by one.
_NOT_ROW_BY_ROW = frozenset(
    {
        "AggStep", "AggStep1", "AggFinal", "AggValue", "AggInverse", "Count", "SorterOpen",
        "SorterSort", "OpenEphemeral", "OpenAutoindex", "DecrJumpZero", "IfPos", "OffsetLimit",
    }
)  # fmt: skip
_ROWS = "_dc_rows"
_ROWID = "_dc_r"


@dataclass(frozen=True)
class Scan:
    """A statement's parts, as the user wrote them."""

    columns: str
    table: str
    condition: str | None


def scan_of(sql: str) -> Scan | None:
    """``SELECT <list> FROM <table> [WHERE <condition>] [ORDER BY <one column> [ASC]]``,
    split where its top-level keywords are; None for any other shape. (Whether the order
    is the rowid's is for SQLite's plan to say: ``range_plan``.)"""
    try:
        tokens = list(sqlglot.tokenize(sql, read="sqlite"))
    except sqlglot.errors.SqlglotError:
        return None
    while tokens and tokens[-1].token_type == TokenType.SEMICOLON:
        tokens.pop()
    if len(tokens) < 4 or tokens[0].token_type != TokenType.SELECT:
        return None
    order, depth = None, 0
    for index, token in enumerate(tokens):
        depth += {TokenType.L_PAREN: 1, TokenType.R_PAREN: -1}.get(token.token_type, 0)
        if depth == 0 and token.token_type == TokenType.ORDER_BY:
            order = index
    if order is not None:
        key = tokens[order + 1 :]
        if not key or any(token.token_type not in _ORDER_TOKENS for token in key):
            return None
        tokens = tokens[:order]
    depth = 0
    found: dict[TokenType, int] = {}
    for index, token in enumerate(tokens):
        kind = token.token_type
        if kind == TokenType.L_PAREN:
            depth += 1
        elif kind == TokenType.R_PAREN:
            depth -= 1
        elif depth == 0 and kind in (TokenType.FROM, TokenType.WHERE, TokenType.SELECT):
            if kind in found:
                return None
            found[kind] = index
        elif depth == 0 and (
            kind == TokenType.DISTINCT or (kind in _ENDS_A_SCAN and TokenType.FROM in found)
        ):
            return None
    start = found.get(TokenType.FROM)
    if start is None or start < 2 or depth != 0:
        return None
    where = found.get(TokenType.WHERE)
    table = tokens[start + 1 : where if where is not None else len(tokens)]
    if not table or any(token.token_type not in _TABLE_TOKENS for token in table):
        return None
    last = tokens[-1]
    condition = None
    if where is not None:
        if where + 1 >= len(tokens):
            return None
        condition = sql[tokens[where].end + 1 : last.end + 1]
    return Scan(
        columns=sql[tokens[0].end + 1 : tokens[start].start],
        table=sql[table[0].start : table[-1].end + 1],
        condition=condition,
    )


@dataclass(frozen=True)
class RangePlan:
    """The statements of a range export, checked against SQLite's own plan."""

    # (first rowid, last rowid) -> (text,): a span of rowids, a line per row (JSON has no
    # raw newline in it, so the lines are counted rather than SQLite counting the rows).
    span: str
    # (first rowid, last rowid, most rows) -> the same, for the first rows of a span.
    limited: str
    values: str  # (first, last, most rows) -> the same rows as values, the rowid last
    bounds: str  # the table's lowest and highest rowid and its row count


def range_plan(
    connection: sqlite3.Connection, sql: str, names: Sequence[str], text: str
) -> RangePlan | None:
    """The plan for ``sql`` (result columns ``names``) with ``text`` (an expression over
    ``c0``, ``c1``, ...) as each row's text, or None when the statement is not a plain scan
    in rowid order. (A table column named ``rowid`` makes the seek below a scan: no plan.)"""
    scan = scan_of(sql)
    if scan is None or any(name.lower().startswith("_dc_") for name in names):
        return None
    rowid = "rowid"
    try:
        steps = connection.execute(f"EXPLAIN QUERY PLAN {sql}").fetchall()
        opcodes = {str(row[1]) for row in connection.execute(f"EXPLAIN {sql}")}
    except sqlite3.Error:
        return None
    if len(steps) != 1:
        return None
    detail = str(steps[0][3])
    if not detail.startswith("SCAN ") or "INDEX" in detail or "VIRTUAL" in detail:
        return None
    if opcodes & _NOT_ROW_BY_ROW:
        return None
    condition = f"(\n{scan.condition}\n) AND " if scan.condition is not None else ""
    rows = (
        f"SELECT {scan.columns}\n, {rowid} AS {_ROWID} FROM {scan.table}\n"
        f"WHERE {condition}{rowid} BETWEEN ? AND ?"
    )
    aliases = ", ".join(f"c{index}" for index in range(len(names)))
    lines = f"CAST(group_concat({text}, char(10)) AS BLOB)"
    ordered = f"{rows} ORDER BY {_ROWID} LIMIT ?"
    plan = RangePlan(
        span=f"WITH {_ROWS}({aliases}, {_ROWID}) AS (\n{rows}\n) SELECT {lines} FROM {_ROWS}",
        limited=(
            f"WITH {_ROWS}({aliases}, {_ROWID}) AS (\n{ordered}\n) "
            f"SELECT {lines}, count(*), max({_ROWID}) FROM {_ROWS}"
        ),
        values=ordered,
        # Three subqueries: each alone is a seek or a count of the b-tree's cells, while
        # the three in one SELECT scan every row (a tenth of a second a million rows).
        bounds=(
            f"SELECT (SELECT min({rowid}) FROM {scan.table}), "
            f"(SELECT max({rowid}) FROM {scan.table}), (SELECT count(*) FROM {scan.table})"
        ),
    )
    for statement, params in ((plan.span, (0, 0)), (plan.limited, (0, 0, 1))):
        try:
            seek = " ".join(
                str(row[3]) for row in connection.execute(f"EXPLAIN QUERY PLAN {statement}", params)
            )
        except sqlite3.Error:  # no rowid (WITHOUT ROWID), or the parts do not fit together
            return None
        if "USING INTEGER PRIMARY KEY" not in seek or "TEMP B-TREE" in seek:
            return None
    return plan


def _too_big(exc: BaseException) -> bool:
    return "too big" in str(exc).lower()


def _blob(exc: BaseException) -> bool:
    """SQLite's JSON functions refuse BLOBs."""
    return "blob" in str(exc).lower()


class _Stop(Exception):
    """The export ended: the second reader stops."""


_END_OF_RANGE = object()


@dataclass
class RangeExport:
    """Runs a ``RangePlan``: the batches' bytes in rowid order, as (bytes, rows).

    ``finish`` turns a batch's text (rows joined by newlines) into the format's bytes, or
    None when the batch must be written from its values; ``exact`` writes values."""

    plan: RangePlan
    columns: list[Column]
    fmt: str  # ndjson or csv
    finish: Callable[[bytes, int], bytes | None]
    header: bytes = b""
    # A second read-only connection to the file that stops when the given callable says
    # so (None when it cannot be had at once).
    second: Callable[[Callable[[], bool]], sqlite3.Connection | None] | None = None
    # Rows a span holds at most: RANGE_ROWS, fewer for wide rows (``stream`` sets it).
    span_rows: int = RANGE_ROWS

    def stream(self, cursor: Any) -> Iterator[tuple[bytes, int]]:
        connection: sqlite3.Connection = cursor.connection
        # Read first: the session's read transaction now holds its lock (rollback mode).
        low, high, count = connection.execute(self.plan.bounds).fetchone()
        if self.header:
            yield self.header, 0
        if not count:
            return
        self.span_rows = self._rows_per_span(connection, low, high)
        span = self.span_rows
        step = -(-(high - low + 1) * span // count)
        if step <= 2 * span:  # dense enough: spans of ``span`` rowids, no LIMIT
            step = span
        ranges = [(first, min(high, first + step - 1)) for first in range(low, high + 1, step)]
        helper = self._second_reader(connection, ranges[1::2]) if len(ranges) > 1 else None
        try:
            for index, (first, last) in enumerate(ranges):
                if helper is None or index % 2 == 0:
                    yield from self._range(connection, first, last)
                else:
                    yield from helper.range()
        finally:
            if helper is not None:
                helper.stop()

    def _rows_per_span(self, connection: sqlite3.Connection, low: int, high: int) -> int:
        """RANGE_ROWS, or fewer where the widest of three samples of the rows' text
        would make a span's text past SPAN_BYTES."""
        widest = 0.0
        for start in (low, (low + high) // 2, max(low, high - PROBE_ROWS)):
            try:
                text, rows, _ = connection.execute(
                    self.plan.limited, (start, high, PROBE_ROWS)
                ).fetchone()
            except sqlite3.Error:  # a BLOB or a text too big: the spans will say
                continue
            if rows and text is not None:
                widest = max(widest, len(text) / rows)
        if not widest:
            return RANGE_ROWS
        return max(1, min(RANGE_ROWS, int(SPAN_BYTES // widest)))

    def _second_reader(
        self, connection: sqlite3.Connection, ranges: list[tuple[int, int]]
    ) -> _SecondReader | None:
        if self.second is None:
            return None
        mode = connection.execute("PRAGMA journal_mode").fetchone()
        if mode is None or str(mode[0]).lower() == "wal":
            return None
        stopped = threading.Event()
        other = self.second(stopped.is_set)
        if other is None:
            return None
        try:
            other.execute("BEGIN")
            other.execute("SELECT count(*) FROM sqlite_master").fetchone()  # its lock
        except sqlite3.Error:
            other.close()
            return None
        reader = _SecondReader(self, other, ranges, stopped)
        reader.start()
        return reader

    def _range(
        self, connection: sqlite3.Connection, first: int, last: int
    ) -> Iterator[tuple[bytes, int]]:
        """The rows of rowids ``first``..``last``: in one string when the span holds at
        most ``span_rows`` rowids (so rows), else ``span_rows`` rows at a time."""
        if last - first < self.span_rows:
            yield from self._span(connection, first, last)
            return
        limit = self.span_rows
        while first <= last:
            try:
                text, rows, highest = connection.execute(
                    self.plan.limited, (first, last, limit)
                ).fetchone()
            except sqlite3.Error as exc:
                if _too_big(exc) and limit > 1:
                    limit = max(1, limit // 8)  # wide rows: fewer per string
                    continue
                if not _too_big(exc) and not _blob(exc):
                    raise
                data, rows, highest = self._exact(connection, first, last, limit)
            else:
                data, rows, highest = self._written(connection, text, rows, first, highest)
            if rows:
                yield data, rows
            if rows < limit:
                return
            first = highest + 1

    def _span(
        self, connection: sqlite3.Connection, first: int, last: int
    ) -> Iterator[tuple[bytes, int]]:
        try:
            (text,) = connection.execute(self.plan.span, (first, last)).fetchone()
        except sqlite3.Error as exc:
            if _too_big(exc) and first < last:  # wide rows: halves
                middle = (first + last) // 2
                yield from self._span(connection, first, middle)
                yield from self._span(connection, middle + 1, last)
                return
            if not _too_big(exc) and not _blob(exc):
                raise
            data, rows, _ = self._exact(connection, first, last, last - first + 1)
        else:
            rows = 0 if text is None else text.count(b"\n") + 1
            data, rows, _ = self._written(connection, text, rows, first, last)
        if rows:
            yield data, rows

    def _written(
        self, connection: sqlite3.Connection, text: bytes | None, rows: int, first: int, last: int
    ) -> tuple[bytes, int, int]:
        """A batch's bytes from its text, or from its values where the text will not do."""
        if not rows or text is None:
            return b"", 0, last
        finished = self.finish(text, rows)
        if finished is None:
            return self._exact(connection, first, last, rows)
        return finished, rows, last

    def _exact(
        self, connection: sqlite3.Connection, first: int, last: int, limit: int
    ) -> tuple[bytes, int, int]:
        """The rows of rowids ``first``..``last`` (at most ``limit``) by the exact path."""
        batch = connection.execute(self.plan.values, (first, last, limit)).fetchall()
        if not batch:
            return b"", 0, last
        fmt = cast(ExportFormat, self.fmt)
        data = b"".join(encode_rest(fmt, self.columns, [[row[:-1] for row in batch]]))
        return data, len(batch), int(batch[-1][-1])


class _SecondReader:
    """Every other range, on a second connection and thread, handed over in order."""

    def __init__(
        self,
        export: RangeExport,
        connection: sqlite3.Connection,
        ranges: list[tuple[int, int]],
        stopped: threading.Event,
    ) -> None:
        self._export = export
        self._connection = connection
        self._ranges = ranges
        self._items: queue.Queue[Any] = queue.Queue(maxsize=4)
        self._stopped = stopped
        self._thread = threading.Thread(target=self._run, name="export-second", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def range(self) -> Iterator[tuple[bytes, int]]:
        """The next range's batches; raises what stopped the reader."""
        while True:
            item = self._items.get()
            if item is _END_OF_RANGE:
                return
            if isinstance(item, BaseException):
                raise item
            yield item

    def stop(self) -> None:
        self._stopped.set()
        while self._thread.is_alive():
            with suppress(queue.Empty):  # unblock a reader waiting for room
                self._items.get(timeout=0.05)

    def _put(self, item: Any) -> None:
        while True:
            if self._stopped.is_set():
                raise _Stop
            try:
                self._items.put(item, timeout=0.05)
                return
            except queue.Full:
                continue

    def _run(self) -> None:
        connection = self._connection
        try:
            for first, last in self._ranges:
                for item in self._export._range(connection, first, last):
                    self._put(item)
                self._put(_END_OF_RANGE)
        except _Stop:
            pass
        except BaseException as exc:  # handed to the reading side, which raises it
            with suppress(_Stop):
                self._put(exc)
        finally:
            try:
                connection.rollback()
            finally:
                connection.close()


def csv_from_arrays(text: bytes, rows: int, width: int) -> bytes | None:
    """CSV lines from JSON arrays (one per line, no NULL in them), or None when a text
    in them would need the exact path (an escape, or a comma inside a text)."""
    if b"\\" in text or text.count(b",") != (width - 1) * rows:
        return None
    return text[1:-1].replace(b"]\n[", b"\n").replace(b'"', b"") + b"\n"
