"""The connector's operations, shared by the HTTP routers and the CLI.

``Connector`` ties the store, the secret store, the backends and the running-query registry
together: create, test and remove connections (a connection's row and its secret are written
in an order a crash cannot split, see ``connector.keychain``, and a saved secret is only reused where it was saved
for: a test or update that points elsewhere must carry it again), run and stream queries with history, and cancel them.
A query can be run read-only whatever its connection allows (saved queries, widgets), and
an export always is.
It raises ``connector.errors`` and knows no HTTP.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine

from connector.backends import get_backend
from connector.backends.base import Backend
from connector.columnar import require_pyarrow
from connector.config import Settings
from connector.errors import (
    ConflictError,
    ConnectorError,
    DatabaseUnavailableError,
    InvalidRequestError,
    NotFoundError,
    ReadOnlyError,
)
from connector.export import ExportFormat
from connector.fastpath import ExportStream
from connector.history import HistoryWriter
from connector.keychain import SecretStore, promote_secret, row_digest, stage_secret
from connector.models import (
    Comments,
    ConnectionInput,
    ConnectionSpec,
    HistoryEntry,
    ProbeResult,
    QueryRequest,
    QueryResult,
    RunningQueryInfo,
    SchemaInfo,
)
from connector.query import QueryJob, RowStream, run_query, run_quick, scrub
from connector.running import QueryControl, RunningQueries, new_query_id
from connector.statements import prepare, reads_only_refusal
from connector.store import Store

log = logging.getLogger(__name__)
T = TypeVar("T")

SPEC_CACHE_S = 2.0
# A quick run (``run_quick``) takes only short statements (parsing a long one is work
# enough to leave to a worker thread) and results of at most this many rows.
QUICK_SQL_CHARS = 4000
QUICK_ROWS = 1000
EXPORT = "An export"


def _scrub_secret(error: ConnectorError, secret: str | None) -> ConnectorError:
    if secret:
        return scrub(error, {"secret": secret})
    return error


class Connector:
    """Connections, queries and history: the operations behind every entry point."""

    def __init__(
        self,
        settings: Settings,
        store: Store,
        secrets: SecretStore,
        running: RunningQueries | None = None,
    ) -> None:
        self.settings = settings
        self.store = store
        self.secrets = secrets
        self.running = running if running is not None else RunningQueries()
        self.history_writer = HistoryWriter(store, enabled=settings.history_size > 0)
        self._specs: dict[str, tuple[float, ConnectionSpec]] = {}
        self._engines: dict[str, tuple[ConnectionSpec, Engine]] = {}
        self._engines_lock = threading.Lock()
        # One save of a connection at a time: two at once could interleave their rows and
        # secrets (the row of one with the secret of the other), or reuse a secret another
        # save had just moved elsewhere.
        self._saving: dict[str, threading.Lock] = {}
        self._saving_lock = threading.Lock()

    def close(self) -> None:
        self.running.close()
        self.history_writer.close()
        with self._engines_lock:
            engines = [engine for _, engine in self._engines.values()]
            self._engines.clear()
        for engine in engines:
            engine.dispose()

    # connections ------------------------------------------------------------------------

    def _validated(self, payload: ConnectionInput, name: str) -> tuple[Backend, ConnectionSpec]:
        """The backend and the spec with its options checked and normalised."""
        backend = get_backend(payload.kind)
        try:
            options = backend.validate_options(payload.options)
        except ValueError as exc:
            raise InvalidRequestError(_validation_sentence(exc, payload.kind)) from exc
        return backend, payload.spec(name).model_copy(update={"options": options})

    @staticmethod
    def _check_secret(backend: Backend, spec: ConnectionSpec, secret: str | None) -> None:
        try:
            backend.validate_secret(spec.options, secret)
        except ValueError as exc:
            raise InvalidRequestError(f"{backend.label} secret: {exc}.") from None
        if backend.secret_use == "required" and not secret:
            raise InvalidRequestError(
                f"A {backend.label} connection needs a secret (password or key)."
            )

    def _checked(self, payload: ConnectionInput, name: str) -> tuple[Backend, ConnectionSpec]:
        backend, spec = self._validated(payload, name)
        self._check_secret(backend, spec, payload.secret)
        return backend, spec

    def _saved_secret(
        self, backend: Backend, spec: ConnectionSpec, saved: ConnectionSpec
    ) -> str | None:
        """The secret saved for ``saved``, to use with ``spec``, which must point where it
        did: a secret is only ever sent to the place (and as the user) it was saved for."""
        secret = self.secrets.get(saved.name)
        if secret is None:
            return None
        moved = (
            ["kind"]
            if saved.kind != spec.kind
            else backend.secret_moves(saved.options, spec.options)
        )
        if moved:
            what = backend.secret_label.lower() if saved.kind == spec.kind else "secret"
            raise InvalidRequestError(
                f"Give the {what} again: the {_and(moved)} changed, and a saved secret is "
                "only sent where it was saved for."
            )
        return secret

    def list_connections(self) -> list[ConnectionSpec]:
        return self.store.list_connections()

    def get_connection(self, name: str) -> ConnectionSpec:
        return self.store.get_connection(name)

    def test_connection(self, payload: ConnectionInput) -> ProbeResult:
        """Connect with ``payload`` (not saved) and report latency and server version.

        Without a secret, a saved connection of that name lends its own, but only when
        ``payload`` points where it did (``_saved_secret``)."""
        backend, spec = self._validated(payload, payload.name or "test")
        secret = payload.secret
        if secret is None and payload.name and self.store.has_connection(payload.name):
            saved = self.store.get_connection(payload.name)
            secret = self._saved_secret(backend, spec, saved)
        self._check_secret(backend, spec, secret)
        return self._probe(backend, spec, secret)

    def _probe(self, backend: Backend, spec: ConnectionSpec, secret: str | None) -> ProbeResult:
        engine = None
        try:
            engine = backend.create_engine(spec, secret, pooled=False)
            return backend.probe(engine)
        except ConnectorError as error:
            raise _scrub_secret(error, secret) from None
        except Exception as exc:
            translated = _as_unavailable(backend.translate_error(exc))
            raise _scrub_secret(translated, secret) from exc
        finally:
            if engine is not None:
                engine.dispose()

    @contextmanager
    def _saving_connection(self, name: str) -> Iterator[None]:
        with self._saving_lock:
            lock = self._saving.setdefault(name, threading.Lock())
        with lock:
            yield

    def create_connection(self, payload: ConnectionInput, *, test: bool = True) -> ConnectionSpec:
        if payload.name is None:
            raise InvalidRequestError("A connection needs a name.")
        with self._saving_connection(payload.name):
            return self._create_connection(payload, test=test)

    def _create_connection(self, payload: ConnectionInput, *, test: bool) -> ConnectionSpec:
        assert payload.name is not None
        backend, spec = self._checked(payload, payload.name)
        if self.store.has_connection(spec.name):
            raise ConflictError(f"A connection named {spec.name!r} already exists.")
        if test:
            self._probe(backend, spec, payload.secret)
        # Secret first, row committed after: a crash between leaves a secret with no row,
        # which ``keychain.settle_secrets`` drops at start; without a secret, one left by
        # such a crash under this name is dropped before the row exists.
        with self.store.adding_connection(spec):
            if payload.secret:
                self.secrets.set(spec.name, payload.secret)
            else:
                self.secrets.delete(spec.name)
        return spec

    def update_connection(
        self, name: str, payload: ConnectionInput, *, test: bool = True
    ) -> ConnectionSpec:
        with self._saving_connection(name):
            return self._update_connection(name, payload, test=test)

    def _update_connection(
        self, name: str, payload: ConnectionInput, *, test: bool
    ) -> ConnectionSpec:
        current = self.store.get_connection(name)
        backend, spec = self._validated(payload, name)
        secret = payload.secret
        if secret is None:
            secret = self._saved_secret(backend, spec, current)
        self._check_secret(backend, spec, secret)
        if test:
            self._probe(backend, spec, secret)
        # A new secret is staged with the row it goes with before the row commits, and
        # promoted after: a crash between leaves the old pair or (settled at start) the new.
        if payload.secret is not None:
            digest = row_digest(spec.kind, spec.options, spec.read_only)
            stage_secret(self.secrets, name, digest, payload.secret)
        with self.store.updating_connection(spec):
            pass
        if payload.secret is not None:
            promote_secret(self.secrets, name, payload.secret)
        self._drop_engine(name)
        log.info("connection %s updated (%s -> %s)", name, current.kind, spec.kind)
        return spec

    def remove_connection(self, name: str) -> None:
        with self._saving_connection(name):
            self._remove_connection(name)

    def _remove_connection(self, name: str) -> None:
        self.running.cancel_connection(name)
        # The row goes first: a crash before the secret is deleted leaves a secret with no
        # row, dropped at start, never a row without its secret.
        with self.store.removing_connection(name):
            pass
        self.secrets.delete(name)
        self._drop_engine(name)

    def _on_connection(self, name: str, work: Callable[[Backend, Any], T]) -> T:
        """``work(backend, driver connection)`` on a pooled connection of ``name``, its
        failures as our errors (failing to connect is the database's failure)."""
        _, backend, engine = self._resolve(name)
        try:
            raw = engine.raw_connection()
        except Exception as exc:
            raise _as_unavailable(backend.translate_error(exc)) from exc
        try:
            return work(backend, raw.driver_connection)
        except ConnectorError:
            raise
        except Exception as exc:
            raise backend.translate_error(exc) from exc
        finally:
            raw.close()

    def describe_schema(self, name: str) -> list[SchemaInfo]:
        return self._on_connection(name, lambda backend, raw: backend.describe_schema(raw))

    def describe_comments(self, name: str) -> dict[tuple[str, str], Comments]:
        """The database's comments on tables and columns, keyed by (schema, table)."""
        return self._on_connection(name, lambda backend, raw: backend.describe_comments(raw))

    # engines ----------------------------------------------------------------------------

    def _spec(self, name: str) -> ConnectionSpec:
        """The saved connection, from a cache that lives ``SPEC_CACHE_S``.

        Changes made through this process drop the cache at once; changes made by another
        process on the same data folder (the CLI) are seen within ``SPEC_CACHE_S``.
        """
        now = time.monotonic()
        cached = self._specs.get(name)
        if cached is not None and now - cached[0] < SPEC_CACHE_S:
            return cached[1]
        spec = self.store.get_connection(name)
        self._specs[name] = (now, spec)
        return spec

    def _cached(self, name: str) -> tuple[ConnectionSpec, Backend, Engine] | None:
        """What ``_resolve`` gives, if it is all in the caches and fresh; else None."""
        cached = self._specs.get(name)
        if cached is None or time.monotonic() - cached[0] >= SPEC_CACHE_S:
            return None
        with self._engines_lock:
            engine = self._engines.get(name)
        if engine is None or engine[0] != cached[1]:
            return None
        return cached[1], get_backend(cached[1].kind), engine[1]

    def _resolve(self, name: str) -> tuple[ConnectionSpec, Backend, Engine]:
        spec = self._spec(name)
        backend = get_backend(spec.kind)
        with self._engines_lock:
            cached = self._engines.get(name)
            if cached is not None and cached[0] == spec:
                return spec, backend, cached[1]
        secret = self.secrets.get(name) if backend.secret_use != "none" else None
        engine = backend.create_engine(spec, secret)
        with self._engines_lock:
            old = self._engines.get(name)
            self._engines[name] = (spec, engine)
        if old is not None:
            old[1].dispose()
        return spec, backend, engine

    def _drop_engine(self, name: str) -> None:
        self._specs.pop(name, None)
        with self._engines_lock:
            cached = self._engines.pop(name, None)
        if cached is not None:
            cached[1].dispose()

    # queries ----------------------------------------------------------------------------

    def _job(
        self,
        name: str,
        request: QueryRequest,
        *,
        timeout_s: float,
        client: str | None,
        reads_only: str | None,
        resolve: Callable[[str], tuple[ConnectionSpec, Backend, Engine]] | None = None,
    ) -> QueryJob:
        spec, backend, engine = (resolve or self._resolve)(name)
        try:
            statement = prepare(
                request.sql,
                request.params,
                dialect=backend.dialect,
                paramstyle=backend.paramstyle,
                read_only=spec.read_only or reads_only is not None,
                session_enforced=backend.enforces_read_only,
                rules=backend.guard_rules,
            )
        except ReadOnlyError as error:
            raise _only_reads(error, spec, reads_only) from None
        control = QueryControl(new_query_id(), name, request.sql, timeout_s, client)
        return QueryJob(
            backend,
            engine,
            spec,
            statement,
            control,
            request.params,
            reads_only=reads_only is not None,
        )

    def _timeout(self, request: QueryRequest, default: float) -> float:
        wanted = request.timeout_s if request.timeout_s is not None else default
        return min(wanted, max(self.settings.max_timeout_s, default))

    def run(
        self,
        name: str,
        request: QueryRequest,
        client: str | None = None,
        *,
        reads_only: str | None = None,
    ) -> QueryResult:
        """Run ``request`` on connection ``name``, capped at its limit and timeout.

        On a read-write connection what the statement wrote is committed before this
        returns. ``reads_only`` names what may only read ("A saved query"): given, the
        statement runs read-only (guard and session) whatever the connection allows.
        """
        limit = min(request.limit or self.settings.row_limit, self.settings.max_row_limit)
        started = time.time()
        job = self._run_job(name, request, client, reads_only, started, self._resolve)
        self.running.add(job.control)
        try:
            result = self._ran(job, started, reads_only, lambda: run_query(job, limit))
        finally:
            self.running.remove(job.control)
        assert result is not None
        return result

    def may_run_quick(self, name: str, request: QueryRequest) -> bool:
        """Whether ``run_quick`` could run ``request``: a short statement with a small
        limit on a cached connection whose kind has a quick session (no I/O)."""
        return self._quick(name, request) is not None

    def _quick(
        self, name: str, request: QueryRequest
    ) -> tuple[tuple[ConnectionSpec, Backend, Engine], int] | None:
        """The cached connection and the row limit ``run_quick`` would use, or None."""
        if len(request.sql) > QUICK_SQL_CHARS:
            return None
        limit = min(request.limit or self.settings.row_limit, self.settings.max_row_limit)
        if limit > QUICK_ROWS:
            return None
        resolved = self._cached(name)
        if resolved is None or not resolved[1].has_quick_session:
            return None
        return resolved, limit

    def run_quick(
        self, name: str, request: QueryRequest, client: str | None = None
    ) -> QueryResult | None:
        """``run`` on the calling thread (the server's event loop) where the connection's
        kind can bound a small read (``Backend.quick_session``), else None: call ``run``.

        Only with everything at hand (the spec and engine cached, a short SQL text), so
        nothing here waits on the metadata store. The query is not listed among the
        running ones: it ends before this thread could answer a list or a cancel.
        """
        quick = self._quick(name, request)
        if quick is None:
            return None
        resolved, limit = quick
        started = time.time()
        job = self._run_job(name, request, client, None, started, lambda _name: resolved)
        return self._ran(job, started, None, lambda: run_quick(job, limit))

    def _run_job(
        self,
        name: str,
        request: QueryRequest,
        client: str | None,
        reads_only: str | None,
        started: float,
        resolve: Callable[[str], tuple[ConnectionSpec, Backend, Engine]],
    ) -> QueryJob:
        try:
            return self._job(
                name,
                request,
                timeout_s=self._timeout(request, self.settings.timeout_s),
                client=client,
                reads_only=reads_only,
                resolve=resolve,
            )
        except ConnectorError as error:
            self.record_refusal(name, request.sql, error, client, started)
            raise

    def _ran(
        self,
        job: QueryJob,
        started: float,
        reads_only: str | None,
        runner: Callable[[], QueryResult | None],
    ) -> QueryResult | None:
        """``runner``'s result, with its history entry written (none when it gave up)."""
        try:
            result = runner()
        except ReadOnlyError as error:
            reworded = _only_reads(error, job.spec, reads_only)
            self._record(job.control, started, None, reworded)
            raise reworded from None
        except ConnectorError as error:
            self._record(job.control, started, None, error)
            raise
        if result is not None:
            self._record(job.control, started, len(result.rows), None)
        return result

    def open_stream(
        self,
        name: str,
        request: QueryRequest,
        client: str | None = None,
        fmt: ExportFormat = "ndjson",
    ) -> ManagedStream:
        """Start an export: the query runs until every row is read or the stream closes.

        An export only reads, on every connection: its 200 and first rows leave before the
        statement ends, so a write's commit could fail after success was reported.
        """
        started = time.time()
        require_pyarrow(fmt)
        try:
            job = self._job(
                name,
                request,
                timeout_s=self._timeout(request, self.settings.export_timeout_s),
                client=client,
                reads_only=EXPORT,
            )
        except ConnectorError as error:
            self.record_refusal(name, request.sql, error, client, started)
            raise
        self.running.add(job.control)
        stream = ExportStream(job, fmt, native=self.settings.native_export)
        try:
            stream.open()
        except ConnectorError as error:
            if isinstance(error, ReadOnlyError):
                error = _only_reads(error, job.spec, EXPORT)
            self.running.remove(job.control)
            self._record(job.control, started, None, error)
            raise error from None
        return ManagedStream(stream, lambda error: self._finish_stream(stream, started, error))

    def _finish_stream(
        self, stream: RowStream, started: float, error: ConnectorError | None
    ) -> None:
        self.running.remove(stream.job.control)
        self._record(stream.job.control, started, stream.row_count, error)

    def cancel(self, query_id: str) -> None:
        if not self.running.cancel(query_id):
            raise NotFoundError(f"No running query with id {query_id!r}.")

    def running_queries(self) -> list[RunningQueryInfo]:
        return self.running.list()

    def history(self, limit: int = 50, connection: str | None = None) -> list[HistoryEntry]:
        self.history_writer.flush()
        return self.store.list_history(limit=limit, connection_name=connection)

    # history ----------------------------------------------------------------------------

    def _record(
        self,
        control: QueryControl,
        started: float,
        row_count: int | None,
        error: ConnectorError | None,
    ) -> None:
        entry = HistoryEntry(
            query_id=control.query_id,
            connection=control.connection,
            sql=control.sql,
            started_at=control.started_at.isoformat(timespec="milliseconds"),
            duration_ms=round((time.time() - started) * 1000, 2),
            row_count=row_count,
            outcome="ok" if error is None else error.code,
            error_code=None if error is None else error.code,
            client=control.client,
            caller=control.caller,
        )
        self._write_history(entry)
        # The log's line of the query: its fields, never its SQL or values.
        log.info(
            "query %s on %s: %s",
            entry.query_id,
            entry.connection,
            entry.outcome,
            extra={
                "query_id": entry.query_id,
                "connection": entry.connection,
                "duration_ms": entry.duration_ms,
                "rows": entry.row_count,
                "outcome": entry.outcome,
                "caller": entry.caller,
                "client": entry.client,
            },
        )

    def record_refusal(
        self,
        name: str,
        sql: str,
        error: ConnectorError,
        client: str | None,
        started: float | None = None,
    ) -> None:
        """History for a query refused before it ran (a bad parameter, the guard): its SQL
        as written, never the values. An unknown connection or saved query is not a query."""
        if isinstance(error, NotFoundError):
            return
        started = time.time() if started is None else started
        control = QueryControl(new_query_id(), name, sql, 0.0, client)
        self._record(control, started, None, error)

    def _write_history(self, entry: HistoryEntry) -> None:
        self.history_writer.record(entry)


class ManagedStream:
    """An ``ExportStream`` plus what to do when it ends, however it ends."""

    def __init__(
        self, stream: ExportStream, on_finish: Callable[[ConnectorError | None], None]
    ) -> None:
        self.stream = stream
        self.columns = stream.columns
        self._on_finish = on_finish
        self._closed = False
        self._error: ConnectorError | None = None

    def batches(self) -> Any:
        try:
            yield from self.stream.batches()
        except ConnectorError as error:
            self._error = error
            raise

    def chunks(self) -> Iterator[bytes]:
        """The export's bytes in the format it was opened for, one chunk per batch."""
        try:
            yield from self.stream.chunks()
        except ConnectorError as error:
            self._error = error
            raise

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self.stream.close()
        error = self._error
        if error is None and not self.stream.finished:
            error = self.stream.job.control.stopped_error()
        self._on_finish(error)


def _validation_sentence(exc: ValueError, kind: str) -> str:
    errors = getattr(exc, "errors", None)
    if callable(errors):
        items = errors()
        if items:
            first = items[0]
            where = ".".join(str(part) for part in first.get("loc", ()))
            message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
            return f"{kind} option {where!r}: {message}." if where else f"{message}."
    return f"The {kind} options are not valid: {exc}."


def _only_reads(
    error: ReadOnlyError, spec: ConnectionSpec, reads_only: str | None
) -> ReadOnlyError:
    """A refusal that says what only reads, when it is not the connection that does."""
    if reads_only is None or spec.read_only:
        return error
    return reads_only_refusal(error, reads_only)


def _and(names: list[str]) -> str:
    """``host``, ``host and port``, ``host, port and user``."""
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} and {names[-1]}"


def _as_unavailable(error: ConnectorError) -> ConnectorError:
    """Failing to connect is the database's failure, whatever the driver called it."""
    if isinstance(error, DatabaseUnavailableError | InvalidRequestError):
        return error
    return DatabaseUnavailableError(error.detail)
