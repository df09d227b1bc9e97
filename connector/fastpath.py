"""Exports the database writes itself: a backend may answer an export with a ``NativePlan``
(a statement that makes the database produce the format's text, and the encoder that
turns what it fetches into the response's bytes) instead of rows for ``connector.export``.

A backend makes a plan only where the database's own formatting is, value for value, what
the contract's exact path writes; otherwise (a column type it cannot vouch for, a driver
without what the plan needs) it answers ``None`` and the export runs as before. A plan may
also name a ``resume`` statement: when fetching fails in a way the plan knows (SQLite
refusing a BLOB inside ``json_object``), the rows already written are skipped on that
statement, which yields the same rows as plain values in the same order in the same
transaction, and the export goes on by the exact path. Each plan is checked byte for byte
against the exact path in ``tests/test_fastpath.py``.

``ExportStream`` is the ``RowStream`` an export runs on: it asks the backend for a plan,
runs the plan's statement if there is one, and gives ``chunks()``, the encoded bytes.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import csv
import io
import itertools
from collections.abc import Callable, Iterable, Iterator
from contextlib import suppress
from dataclasses import dataclass
from typing import Any

import orjson

from connector.columnar import COLUMNAR_FORMATS
from connector.errors import ConnectorError
from connector.export import ExportFormat, encode, encode_rest
from connector.models import Column
from connector.query import (
    STREAM_BATCH_ROWS,
    QueryJob,
    RowStream,
    _fail,
    fetch_fitted,
    fitted_batch,
)
from connector.statements import BoundStatement
from connector.values import csv_lines, csv_value, dumps

# Marks a plan's statement puts in front of a value the database would write differently
# from the exact path: a float's exact text, a BLOB's hex, or text that starts with a mark.
REAL_MARK, BLOB_MARK, TEXT_MARK = "\x01", "\x02", "\x03"

Batches = Iterable[list[tuple[Any, ...]]]


@dataclass
class NativePlan:
    """A statement whose rows are already (mostly) the format's text, and its encoder."""

    statement: BoundStatement
    columns: list[Column]
    encode: Callable[[Batches], Iterator[bytes]]
    # The statement may fail where the user's own would not (SQLite: the wrapping), and
    # the session is still usable after a failure: run the exact path instead.
    retry_on_error: bool = False
    # Same rows as values, same order, same snapshot; run from where a ``resumable``
    # failure stopped the plan's statement.
    resume: BoundStatement | None = None
    resumable: Callable[[BaseException], bool] | None = None
    # Instead of a statement to fetch from: the database streams the text itself
    # (PostgreSQL ``COPY ... TO STDOUT``), as (bytes, rows in them) from the session cursor.
    stream: Callable[[Any], Iterator[tuple[bytes, int]]] | None = None
    # Puts the session back as it was before the plan, when ``retry_on_error`` retries.
    recover: Callable[[Any], None] | None = None


def unmark(value: Any) -> Any:
    """The value a marked field stands for; any other value as it is."""
    if isinstance(value, str) and value and value[0] in "\x01\x02\x03":
        mark, rest = value[0], value[1:]
        if mark == REAL_MARK:
            return float(rest)
        if mark == BLOB_MARK:
            return bytes.fromhex(rest)
        return rest
    return value


# In a JSON line, a float the database would write differently: a one-string JSON array
# holding its digits (no text value can become this: a string's quotes are escaped).
JSON_REAL_MARK = b'":["'


def has_marked_real(data: bytes) -> bool:
    """Whether NDJSON ``data`` may hold a marked float. A bracket alone is looked for
    first: one byte is found at memory speed, and most chunks hold none, while the whole
    mark (which starts with a quote, found after every key) took 0.065 s a million rows."""
    return b"[" in data and JSON_REAL_MARK in data


def redo_ndjson(data: bytes) -> bytes:
    """NDJSON lines (joined by newlines) with every line that holds a marked float written
    again by the exact rules, the float read from its digits."""
    if not has_marked_real(data):
        return data
    lines = data.split(b"\n")
    return b"\n".join([_unmarked_line(line) if JSON_REAL_MARK in line else line for line in lines])


def _unmarked_line(line: bytes) -> bytes:
    record = orjson.loads(line)
    for key, value in record.items():
        if isinstance(value, list):
            record[key] = float(value[0])
    return dumps(record)


def redo_csv(text: str) -> str:
    """CSV rows holding marked fields, written again by the exact path's rules."""
    rows = csv.reader(io.StringIO(text, newline=""))
    return csv_lines([[csv_value(unmark(value)) for value in row] for row in rows])


class ExportStream(RowStream):
    """Every row of an export as bytes of ``fmt``, the database writing the text where the
    backend's plan lets it."""

    def __init__(
        self,
        job: QueryJob,
        fmt: ExportFormat,
        batch_size: int = STREAM_BATCH_ROWS,
        *,
        native: bool = True,
    ) -> None:
        super().__init__(job, batch_size)
        self.fmt = fmt
        self.native = native
        self.plan: NativePlan | None = None

    def _start(self) -> None:
        self._stream: Iterator[tuple[bytes, int]] | None = None
        self._native: Iterator[bytes] | None = None
        self._head: list[bytes] = []
        job = self.job
        plan = (
            job.backend.native_export(self._cursor, job.statement, self.fmt)
            if self.native
            else None
        )
        if job.control.stopped:
            # Stopped while the plan was made (its probe ran the statement's first steps,
            # as MariaDB's LIMIT 0 wrapping does for SLEEP): never run it again the exact way.
            raise job.control.stopped_error()
        if plan is None:
            super()._start()
            return
        try:
            if plan.stream is not None:
                # Started here, so a failing statement fails before the response starts.
                self._stream = plan.stream(self._cursor)
                # Up to the first item holding rows (a CSV header is one of its own), so a
                # statement failing in its first rows is an error answer.
                self._head = [data for data, _ in self._counted(self._take_to_rows())]
            else:
                job.backend.execute(self._cursor, plan.statement)
                self._first, self.batch_size = fetch_fitted(self._cursor, self.most_rows)
                # The first chunk is written here too: a batch the plan refuses (text that
                # is not UTF-8, a line MariaDB could not write) sends the export the exact
                # way, before the response starts.
                self._native = self._native_chunks(plan)
                self._head = list(itertools.islice(self._native, 1))
        except Exception:
            if not plan.retry_on_error or job.control.stopped:
                raise
            self._stream = self._native = None
            self._head = []
            self.row_count = 0
            if plan.recover is not None:
                plan.recover(self._cursor)
            super()._start()
            return
        self.plan = plan
        self.columns = plan.columns

    def chunks(self) -> Iterator[bytes]:
        """The response body, one chunk per batch."""
        if self.plan is None:
            return encode(self.fmt, self.columns, self.batches(), self._decimal_shapes())
        if self._stream is not None:
            return self._streamed()
        assert self._native is not None
        return itertools.chain(self._head, self._native)

    def _decimal_shapes(self) -> list[tuple[int, int] | None] | None:
        """What the columnar formats keep of the declared decimal columns."""
        if self.fmt not in COLUMNAR_FORMATS or not self.columns:
            return None
        return self.job.backend.decimal_shapes(self._cursor.description)

    def close(self) -> None:
        """As ``RowStream.close``; a database stream left mid-way (PostgreSQL's COPY holds
        its connection's lock, so nothing else can run on it) is stopped, then closed."""
        stream = getattr(self, "_stream", None)
        if stream is not None and self._raw is not None:
            self._stream = None
            if not self.finished and not self.job.control.stopped:
                self.job.control.cancel()
            # psycopg ends the COPY (cancel, then what was already sent); on a failure the
            # connection is dropped below, since the query was stopped.
            with suppress(Exception):
                stream.close()
        super().close()

    def _take_to_rows(self) -> Iterator[tuple[bytes, int]]:
        """The stream's items up to and including the first that holds rows."""
        for data, rows in self._take(None):
            yield data, rows
            if rows:
                return

    def _take(self, count: int | None) -> Iterator[tuple[bytes, int]]:
        assert self._stream is not None
        for index, item in enumerate(self._stream):
            yield item
            if count is not None and index + 1 >= count:
                return

    def _counted(self, items: Iterator[tuple[bytes, int]]) -> Iterator[tuple[bytes, int]]:
        for data, rows in items:
            self.row_count += rows
            yield data, rows

    def _streamed(self) -> Iterator[bytes]:
        job = self.job
        yield from self._head
        try:
            for data, _ in self._counted(self._take(None)):
                yield data
                if job.control.stopped:
                    raise job.control.stopped_error()
        except ConnectorError:
            raise
        except Exception as exc:
            raise _fail(job, exc) from exc
        self.finished = True

    def _native_chunks(self, plan: NativePlan) -> Iterator[bytes]:
        resumed: list[bool] = []
        yield from plan.encode(self._native_batches(plan, resumed))
        if resumed:
            yield from encode_rest(self.fmt, self.columns, self._resumed(plan))

    def _native_batches(self, plan: NativePlan, resumed: list[bool]) -> Batches:
        job = self.job
        batch, self._first = self._first, []
        while batch:
            self.row_count += len(batch)
            yield batch
            if job.control.stopped:
                raise job.control.stopped_error()
            self.batch_size = fitted_batch(batch, self.most_rows)
            try:
                batch = self._cursor.fetchmany(self.batch_size)
            except Exception as exc:
                if plan.resumable is None or plan.resume is None or not plan.resumable(exc):
                    raise _fail(job, exc) from exc
                resumed.append(True)
                return
        self.finished = True

    def _resumed(self, plan: NativePlan) -> Iterator[list[tuple[Any, ...]]]:
        job = self.job
        assert plan.resume is not None
        try:
            job.backend.execute(self._cursor, plan.resume)
            skip = self.row_count
            rest: list[tuple[Any, ...]] = []
            while skip > 0:
                batch = self._cursor.fetchmany(min(skip, self.batch_size))
                if not batch:
                    break
                skip -= len(batch)
            rest, self.batch_size = fetch_fitted(self._cursor, self.most_rows)
        except ConnectorError:
            raise
        except Exception as exc:
            raise _fail(job, exc) from exc
        self._first = rest
        yield from self.batches()
