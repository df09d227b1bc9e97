"""Running a query: check out a connection, let the backend prepare the session, execute,
fetch ``limit + 1`` rows (or stream every row), and give back one result type.

``run_quick`` is ``run_query`` through the backend's quick session (``Backend.quick_session``)
on the caller's own thread, for a small read the backend can bound; None means run it the
usual way.

Rows come straight from the DBAPI cursor of the connection SQLAlchemy's pool hands out:
SQLAlchemy ``Row`` objects would cost about twice the time. Any failure is translated by
the backend's error table into ``connector.errors`` with bound values scrubbed from the
message; a query that was stopped (cancelled, or past its deadline) fails with the error
its ``QueryControl`` gives, whatever the driver said. A connection that failed for a reason
other than the user's SQL is dropped from the pool.

Must not import FastAPI.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine

from connector.backends.base import Backend, QuickFallback
from connector.errors import ConnectorError, DatabaseUnavailableError, QueryTimeoutError
from connector.models import Column, ConnectionSpec, QueryResult
from connector.running import QueryControl
from connector.statements import BoundStatement

STREAM_BATCH_ROWS = 5000
# A batch is kept near this size: wide rows (long texts, blobs) come fewer at a time, so
# the few batches an export holds at once (read, encoded, waiting to be sent) stay within
# its memory bound. 5,000 rows of 10 KB were 50 MB a batch and +324 MB at the peak.
STREAM_BATCH_BYTES = 1 << 21


def row_bytes(row: Sequence[Any]) -> int:
    """A row's size as its texts and bytes count it, any other value a word."""
    return 16 + sum(
        len(value) if isinstance(value, str | bytes | bytearray | memoryview) else 8
        for value in row
    )


def fitted_batch(rows: Sequence[Sequence[Any]], most: int) -> int:
    """Rows a batch should hold so that rows as wide as the widest of ``rows``' first and
    last make about ``STREAM_BATCH_BYTES``; at most ``most``."""
    widest = max(row_bytes(rows[0]), row_bytes(rows[-1]))
    return max(1, min(most, STREAM_BATCH_BYTES // widest))


def fetch_fitted(cursor: Any, most: int) -> tuple[list[Any], int]:
    """The first batch of ``cursor``'s rows, sized by its first row's width, and the size
    for the batches after it."""
    rows = list(cursor.fetchmany(1))
    if not rows:
        return rows, most
    size = fitted_batch(rows, most)
    if size > 1:
        rows += cursor.fetchmany(size - 1)
    return rows, fitted_batch(rows, most)


@dataclass
class QueryJob:
    """Everything needed to run one statement on one connection.

    ``reads_only`` runs it read-only even on a read-write connection (widgets, exports).
    """

    backend: Backend
    engine: Engine
    spec: ConnectionSpec
    statement: BoundStatement
    control: QueryControl
    params: Mapping[str, Any]
    reads_only: bool = False

    @property
    def read_only(self) -> bool:
        return self.spec.read_only or self.reads_only


def scrub(error: ConnectorError, params: Mapping[str, Any]) -> ConnectorError:
    """Remove bound parameter values from an error's message."""
    detail = error.detail
    values: list[Any] = []
    for value in params.values():
        values.extend(value if isinstance(value, list | tuple) else [value])
    for value in values:
        text = str(value) if value is not None and not isinstance(value, bool) else ""
        if len(text) >= 2 and text in detail:
            detail = detail.replace(text, "…")
    if detail != error.detail:
        error.detail = detail
    return error


def _fail(job: QueryJob, exc: BaseException) -> ConnectorError:
    """Our error for a failure while running ``job``."""
    error = job.backend.translate_error(exc)
    if isinstance(error, QueryTimeoutError):
        # The database stopped it at its own timeout: the query is over, nothing to fire.
        job.control.expire(run_hook=False)
    if job.control.stopped:
        return job.control.stopped_error()
    return scrub(error, job.params)


def _columns(job: QueryJob, description: Any, rows: list[tuple[Any, ...]]) -> list[Column]:
    if not description:
        return []
    types = job.backend.column_types(description, rows)
    return [
        Column(name=str(item[0]), type=kind) for item, kind in zip(description, types, strict=True)
    ]


def _checkout(job: QueryJob) -> Any:
    try:
        return job.engine.raw_connection()
    except Exception as exc:
        error = _fail(job, exc)
        if not isinstance(error, DatabaseUnavailableError):
            error = DatabaseUnavailableError(f"Could not connect: {error.detail}")
        raise error from exc


def _read(job: QueryJob, cursor: Any, limit: int) -> tuple[list[Column], list[Any], bool]:
    """Execute on an open session and fetch at most ``limit`` rows (and one more, to know)."""
    job.backend.cap_rows(cursor, limit + 1)
    job.backend.execute(cursor, job.statement)
    description = cursor.description
    rows = list(cursor.fetchmany(limit + 1)) if description else []
    if job.control.expired():
        # Done past its deadline: some databases end a statement at their timeout
        # with a result instead of an error (MariaDB's BENCHMARK answers 0).
        job.control.expire(run_hook=False)
    if job.control.stopped:
        raise job.control.stopped_error()
    truncated = len(rows) > limit
    del rows[limit:]
    return _columns(job, description, rows), rows, truncated


def _result(
    job: QueryJob, started: float, read: tuple[list[Column], list[Any], bool]
) -> QueryResult:
    columns, rows, truncated = read
    return QueryResult(
        query_id=job.control.query_id,
        columns=columns,
        rows=rows,
        truncated=truncated,
        elapsed_ms=round((time.perf_counter() - started) * 1000, 2),
    )


def run_query(job: QueryJob, limit: int) -> QueryResult:
    """Execute and fetch at most ``limit`` rows, noting whether more existed."""
    started = time.perf_counter()
    raw = _checkout(job)
    healthy = True
    try:
        with job.backend.session(
            raw.driver_connection, job.control, read_only=job.read_only, stream=False
        ) as cursor:
            read = _read(job, cursor, limit)
    except Exception as exc:
        error = _fail(job, exc)
        healthy = not isinstance(error, DatabaseUnavailableError)
        raise error from exc
    finally:
        if healthy:
            raw.close()
        else:
            raw.invalidate()
    return _result(job, started, read)


def run_quick(job: QueryJob, limit: int) -> QueryResult | None:
    """``run_query`` on the calling thread through the backend's quick session, or None
    when the backend has none or gave up (the caller then runs ``run_query``)."""
    started = time.perf_counter()
    session = job.backend.quick_session(job.engine, job.control)
    if session is None:
        return None
    try:
        with session as cursor:
            read = _read(job, cursor, limit)
    except QuickFallback:
        return None
    except Exception as exc:
        raise _fail(job, exc) from exc
    return _result(job, started, read)


class RowStream:
    """Every row of a query, batch by batch, for exports.

    ``open()`` executes and reads the first batch, so errors in the SQL surface before any
    byte of the response is sent. ``close()`` always releases the connection, and stops the
    query in the database if it has not finished (a client that went away).
    """

    def __init__(self, job: QueryJob, batch_size: int = STREAM_BATCH_ROWS) -> None:
        self.job = job
        self.most_rows = batch_size
        self.batch_size = batch_size  # fitted to the rows' width as they come
        self.columns: list[Column] = []
        self.row_count = 0
        self.finished = False
        self._raw: Any = None
        self._session: Any = None
        self._cursor: Any = None
        self._first: list[tuple[Any, ...]] = []

    def open(self) -> RowStream:
        job = self.job
        self._raw = _checkout(job)
        try:
            self._session = job.backend.session(
                self._raw.driver_connection, job.control, read_only=job.read_only, stream=True
            )
            self._cursor = self._session.__enter__()
            self._start()
        except BaseException as exc:
            self._release(exc)
            if isinstance(exc, Exception):
                raise _fail(job, exc) from exc
            raise
        return self

    def _start(self) -> None:
        """Execute on the open session and read the first batch and the columns."""
        job = self.job
        job.backend.execute(self._cursor, job.statement)
        description = self._cursor.description
        if description:
            self._first, self.batch_size = fetch_fitted(self._cursor, self.most_rows)
        self.columns = _columns(job, description, self._first)

    def batches(self) -> Iterator[list[tuple[Any, ...]]]:
        """Yield batches until the result is exhausted; raises if the query is stopped."""
        job = self.job
        try:
            batch = self._first
            self._first = []
            while batch:
                self.row_count += len(batch)
                yield batch
                if job.control.stopped:
                    raise job.control.stopped_error()
                self.batch_size = fitted_batch(batch, self.most_rows)
                batch = self._cursor.fetchmany(self.batch_size)
            self.finished = True
        except ConnectorError:
            raise
        except Exception as exc:
            raise _fail(job, exc) from exc

    def close(self) -> None:
        """Release the connection; stop the query first if it did not run to its end."""
        if self._raw is None:
            return
        if not self.finished and not self.job.control.stopped:
            self.job.control.cancel()
        self._release(None)

    def _release(self, exc: BaseException | None) -> None:
        raw, self._raw = self._raw, None
        if raw is None:
            return
        healthy = True
        try:
            if self._session is not None:
                session, self._session = self._session, None
                session.__exit__(None if exc is None else type(exc), exc, None)
        except Exception:
            healthy = False
        if exc is not None and not isinstance(exc, ConnectorError):
            healthy = not isinstance(_fail(self.job, exc), DatabaseUnavailableError)
        if healthy and not self.job.control.stopped:
            raw.close()
        else:
            raw.invalidate()
