"""SQLite: a file on this machine, opened through the standard ``sqlite3`` module.

Read-only is enforced by the session, not only by the statement guard: the file is opened
``mode=ro``, ``PRAGMA query_only`` is set, ``SQLITE_LIMIT_ATTACHED`` is 0 (so neither
``ATTACH`` nor ``VACUUM INTO`` can reach another file) and an authorizer refuses writes
and pragma changes. A read-only session on a read-write connection (a widget, an export)
turns the same three on for that query only. On a read-write session a statement that
succeeded is committed before its result is handed back, and anything else is rolled back,
so what a statement reports written is in the file for every other reader. Timeouts and
cancel use a progress handler and ``interrupt()``.

Small reads take a quick session (``quick_session``): each pooled engine of a read-only
connection has one more connection, opened the same way but with no busy wait, on which a query runs on the calling
thread (the server's event loop) for at most ``QUICK_PROGRESS_CALLS`` progress calls
(``PROGRESS_STEPS`` VM instructions each, a few milliseconds). Python's ``sqlite3``
hands the GIL over around every ``sqlite3_step``, once per row: on a worker thread each
row of a small query waited for the GIL behind the event loop and the other workers, so
four threads on one file served fewer requests than one. On the loop's own thread nobody
else wants the GIL. A query that runs longer, meets a lock, writes, or finds the lane in
use is given back (``QuickFallback``) and runs on a worker thread as before, from the
start: the quick attempt only read, and its result was never shown.

The path must name a regular file (``files``): a FIFO or a device never hangs a worker
thread, neither when the options are checked nor when a connection opens later.

Declared column types become Python values through converters (``DATE`` -> date,
``BOOLEAN`` -> bool, ``JSON`` -> parsed value, ...), so a column declared ``DATE`` is
typed ``date`` in results; anything a converter cannot read stays text. ``DECIMAL`` and
``NUMERIC`` get no converter: SQLite stores such values as REAL or INTEGER, and a
converter would only see SQLite's 15-digit text of the double, losing precision that the
float itself keeps.
"""

from __future__ import annotations

import datetime as dt
import functools
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from typing import Any

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.pool import NullPool, QueuePool
from sqlglot import expressions as exp
from sqlglot.tokenizer_core import Token

from connector.backends import sqlite_native
from connector.backends.base import Backend, DBAPIConnection, DBAPICursor, QuickFallback
from connector.backends.files import is_regular_file, local_database, not_regular, shown
from connector.backends.funnel import ErrorRule, ErrorTable
from connector.errors import (
    BadParamError,
    DatabaseUnavailableError,
    QueryCancelledError,
    ReadOnlyError,
    SqlError,
)
from connector.fastpath import NativePlan
from connector.models import Capabilities, ColumnInfo, ConnectionSpec, SchemaInfo, TableInfo
from connector.running import QueryControl
from connector.statements import READ_ONLY_REFUSAL, BoundStatement, GuardRules

SQLITE_HEADER = b"SQLite format 3\x00"
# Pragmas that take an argument yet only read.
READ_PRAGMAS = frozenset(
    {
        "table_info", "table_xinfo", "table_list", "index_list", "index_info", "index_xinfo",
        "foreign_key_list", "foreign_key_check", "integrity_check", "quick_check",
        "function_list", "pragma_list", "collation_list", "module_list", "compile_options",
        "database_list",
    }
)  # fmt: skip
PROGRESS_STEPS = 1000
# An export's session checks less often (a millisecond or so apart): each check takes the
# GIL, which the other reader and the event loop want, thousands of times a second.
EXPORT_PROGRESS_STEPS = 20_000
# A quick session's budget in progress calls: 20,000 VM instructions, about 1-3 ms here.
QUICK_PROGRESS_CALLS = 20
# What a quick session gives back rather than reports: the usual path waits for locks,
# opens the file anew and writes where the connection allows, and says what went wrong.
_QUICK_GIVE_UP = (
    "locked", "busy", "unable to open", "disk i/o error", "malformed", "not a database",
    "readonly database", "not authorized", "authorization denied", "attached databases",
)  # fmt: skip

_DENIED_ACTIONS = frozenset(
    getattr(sqlite3, name)
    for name in (
        "SQLITE_INSERT", "SQLITE_UPDATE", "SQLITE_DELETE", "SQLITE_ALTER_TABLE",
        "SQLITE_ATTACH", "SQLITE_DETACH", "SQLITE_REINDEX", "SQLITE_ANALYZE",
        "SQLITE_CREATE_INDEX", "SQLITE_CREATE_TABLE", "SQLITE_CREATE_TEMP_INDEX",
        "SQLITE_CREATE_TEMP_TABLE", "SQLITE_CREATE_TEMP_TRIGGER", "SQLITE_CREATE_TEMP_VIEW",
        "SQLITE_CREATE_TRIGGER", "SQLITE_CREATE_VIEW", "SQLITE_CREATE_VTABLE",
        "SQLITE_DROP_INDEX", "SQLITE_DROP_TABLE", "SQLITE_DROP_TEMP_INDEX",
        "SQLITE_DROP_TEMP_TABLE", "SQLITE_DROP_TEMP_TRIGGER", "SQLITE_DROP_TEMP_VIEW",
        "SQLITE_DROP_TRIGGER", "SQLITE_DROP_VIEW", "SQLITE_DROP_VTABLE",
    )
)  # fmt: skip
_SCHEMA_TABLES = frozenset({"sqlite_master", "sqlite_temp_master", "sqlite_schema"})
# The longest string or BLOB a query may make or read: 64 MiB.
MAX_VALUE_BYTES = 64 * 1024 * 1024
ERRORS = ErrorTable(
    label="SQLite",
    rules=(
        ErrorRule(
            BadParamError,
            "A parameter is an integer too large for SQLite (64-bit).",
            classes=("OverflowError",),
        ),
        ErrorRule(
            ReadOnlyError,
            f"{READ_ONLY_REFUSAL}SQLite refused the write.",
            phrases=("readonly database", "not authorized", "authorization denied"),
        ),
        ErrorRule(
            ReadOnlyError,
            f"{READ_ONLY_REFUSAL}refuses ATTACH and VACUUM INTO.",
            phrases=("too many attached databases",),
        ),
        ErrorRule(
            SqlError,
            f"A value in the query is over {MAX_VALUE_BYTES >> 20} MiB, the longest string or "
            "blob a query may make.",
            phrases=("string or blob too big",),
        ),
        # interrupt() from outside a stop the runner knows of (another thread's cancel).
        ErrorRule(QueryCancelledError, "The query was interrupted.", phrases=("interrupted",)),
        ErrorRule(
            DatabaseUnavailableError,
            classes=("Error",),
            phrases=(
                "unable to open database",
                "file is not a database",
                "disk i/o error",
                "database is locked",
                "database disk image is malformed",
            ),
            prefix="SQLite could not use the file: ",
        ),
        # Anything else sqlite3 raises about a statement is the SQL's problem.
        ErrorRule(SqlError, classes=("Error", "Warning")),
    ),
)


def _pragma_name(tree: exp.Pragma) -> str | None:
    """The name of a pragma that is given an argument (a write unless it only reads)."""
    target = tree.this
    if not isinstance(target, exp.EQ | exp.Property):
        return None
    name = target.this
    name = name.expression if isinstance(name, exp.Dot) else name
    return str(name.name if isinstance(name, exp.Expression) else name).lower()


def _check_pragmas(_tokens: Sequence[Token], trees: Sequence[exp.Expression]) -> None:
    for tree in trees:
        if isinstance(tree, exp.Pragma):
            name = _pragma_name(tree)
            if name is not None and name not in READ_PRAGMAS:
                raise ReadOnlyError(f"{READ_ONLY_REFUSAL}refuses PRAGMA writes.")


def _read_only_authorizer(
    action: int, arg1: str | None, arg2: str | None, _db: str | None, _trigger: str | None
) -> int:
    if action == sqlite3.SQLITE_UPDATE and arg1 in _SCHEMA_TABLES:
        # SQLite asks this while loading the schema for a pragma table function; the file
        # is open read-only and query_only is on, so no write can follow from it.
        return sqlite3.SQLITE_OK
    if action in _DENIED_ACTIONS:
        return sqlite3.SQLITE_DENY
    if action == sqlite3.SQLITE_PRAGMA and arg2 is not None and arg1 not in READ_PRAGMAS:
        return sqlite3.SQLITE_DENY
    return sqlite3.SQLITE_OK


def _text(raw: bytes) -> str:
    return raw.decode("utf-8", "replace")


# Dates and times repeat across rows and queries (a day per row of prices): their text is
# converted once. The values are immutable, so sharing them is safe; strings that are not
# dates come back as themselves.
@functools.lru_cache(maxsize=8192)
def _to_date(raw: bytes) -> Any:
    text = _text(raw)
    try:
        return dt.date.fromisoformat(text)
    except ValueError:
        try:
            return dt.datetime.fromisoformat(text)
        except ValueError:
            return text


@functools.lru_cache(maxsize=8192)
def _to_datetime(raw: bytes) -> Any:
    text = _text(raw)
    try:
        return dt.datetime.fromisoformat(text)
    except ValueError:
        return text


def _to_time(raw: bytes) -> Any:
    text = _text(raw)
    try:
        return dt.time.fromisoformat(text)
    except ValueError:
        return text


def _to_bool(raw: bytes) -> Any:
    text = _text(raw).strip().lower()
    if text in ("1", "true", "t", "yes"):
        return True
    if text in ("0", "false", "f", "no"):
        return False
    return text


def _to_json(raw: bytes) -> Any:
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return _text(raw)


_CONVERTERS: dict[str, Callable[[bytes], Any]] = {
    "DATE": _to_date,
    "DATETIME": _to_datetime,
    "TIMESTAMP": _to_datetime,
    "TIME": _to_time,
    "BOOLEAN": _to_bool,
    "BOOL": _to_bool,
    "JSON": _to_json,
    "JSONB": _to_json,
}


def register_converters() -> None:
    """Teach ``sqlite3`` our declared-type converters (idempotent, process-wide)."""
    for name, converter in _CONVERTERS.items():
        sqlite3.register_converter(name, converter)


class SqliteOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str = Field(
        title="Database file",
        description="The SQLite database file; it must exist.",
        json_schema_extra={"format": "path"},
    )

    @field_validator("path")
    @classmethod
    def _existing_database(cls, value: str) -> str:
        path, header = local_database(value, "SQLite database file", len(SQLITE_HEADER))
        if header and header != SQLITE_HEADER:
            raise ValueError(f"{shown(value)} is not a SQLite database")
        return str(path)


class SqliteConnection(sqlite3.Connection):
    """A ``sqlite3`` connection that remembers whether its file was opened read-only, and
    (during a session) the session's progress check, which stops its query."""

    opened_read_only = False
    progress: Callable[[], int] | None = None


def refuse_writes(connection: sqlite3.Connection) -> int:
    """Make SQLite itself refuse writes on ``connection``; gives the ATTACH limit it had."""
    connection.execute("PRAGMA query_only = 1")
    attached = connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, 0)
    connection.set_authorizer(_read_only_authorizer)
    return attached


def allow_writes(connection: sqlite3.Connection, attached: int) -> None:
    """Undo ``refuse_writes`` on a connection whose file is open for writing."""
    connection.set_authorizer(None)
    connection.execute("PRAGMA query_only = 0")
    connection.setlimit(sqlite3.SQLITE_LIMIT_ATTACHED, attached)


def connect_sqlite(path: str, *, read_only: bool, busy_s: float = 5.0) -> sqlite3.Connection:
    """A DBAPI connection to ``path``; read-only ones refuse writes in SQLite itself.
    ``busy_s``: how long a statement waits for another process's lock on the file."""
    register_converters()
    if not is_regular_file(path):
        # As SQLite says of a file it cannot open; a FIFO would hang the first read.
        raise sqlite3.OperationalError(f"unable to open database file: {not_regular(path)}")
    uri = Path(path).as_uri() + ("?mode=ro" if read_only else "?mode=rw")
    connection = sqlite3.connect(
        uri,
        uri=True,
        check_same_thread=False,
        detect_types=sqlite3.PARSE_DECLTYPES,
        timeout=busy_s,
        factory=SqliteConnection,
    )
    # A value SQLite makes may not outgrow this (its own limit is 1 GB): one
    # `SELECT randomblob(1000000000)` would otherwise hold gigabytes of the server's memory
    # as bytes, base64 and JSON.
    connection.setlimit(sqlite3.SQLITE_LIMIT_LENGTH, MAX_VALUE_BYTES)
    if read_only:
        refuse_writes(connection)
        connection.opened_read_only = True
    return connection


def _second_reader(cursor: DBAPICursor) -> sqlite_native.Second | None:
    """What opens a second read-only connection for an export's session: stopped with
    the session's query (its progress check) or when the export says so; it never waits
    for a lock (a writer waiting for one means no second reader)."""
    session = cursor.connection
    progress = getattr(session, "progress", None)
    if progress is None:
        return None

    def second(path: str, stopped: Callable[[], bool]) -> sqlite3.Connection | None:
        try:
            connection = connect_sqlite(path, read_only=True, busy_s=0)
        except sqlite3.Error:
            return None
        connection.set_progress_handler(
            lambda: 1 if stopped() else progress(), EXPORT_PROGRESS_STEPS
        )
        return connection

    return second


def _end_transaction(connection: sqlite3.Connection, *, commit: bool) -> None:
    """Commit what the statement wrote, or roll it back; never leave a transaction open.

    A commit that fails (another process holds the file) is rolled back and raised, so the
    request reports the failure rather than rows that were never written.
    """
    if not connection.in_transaction:
        return
    try:
        if commit:
            connection.commit()
    finally:
        if connection.in_transaction:
            connection.rollback()


class _QuickLane:
    """One engine's quick connection: read-only, no busy wait, one query at a time."""

    def __init__(self, path: str) -> None:
        self.path = path
        self.lock = threading.Lock()
        self.connection: sqlite3.Connection | None = None

    def open(self) -> sqlite3.Connection:
        if self.connection is None:
            self.connection = connect_sqlite(self.path, read_only=True, busy_s=0.0)
        return self.connection

    def drop(self) -> None:
        connection, self.connection = self.connection, None
        if connection is not None:
            connection.close()

    def close(self, *_args: Any) -> None:
        with self.lock:
            self.drop()


# Each pooled engine's lane, kept beside the engine rather than on a backend instance
# (the registry may make more than one when the first requests arrive together).
_LANES: weakref.WeakKeyDictionary[Engine, _QuickLane] = weakref.WeakKeyDictionary()


class SqliteBackend(Backend):
    kind = "sqlite"
    label = "SQLite"
    dialect = "sqlite"
    paramstyle = "named"
    options_model = SqliteOptions
    secret_use = "none"
    capabilities = Capabilities(
        session_read_only=True,
        cancel=True,
        server_timeout=True,
        schema_browsing=True,
        streaming_export=True,
    )
    errors = ERRORS
    guard_rules = GuardRules(check=_check_pragmas, read_roots=(exp.Pragma,))

    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        path = str(spec.options["path"])
        read_only = spec.read_only

        def creator() -> sqlite3.Connection:
            return connect_sqlite(path, read_only=read_only)

        if pooled:
            engine = create_engine(
                "sqlite://",
                creator=creator,
                poolclass=QueuePool,
                pool_size=5,
                max_overflow=10,
                hide_parameters=True,
            )
            if read_only:
                # Only a read-only connection's: there the quick connection is what every
                # pooled one is (a read-write one could hold temporary tables or writes).
                lane = _QuickLane(path)
                _LANES[engine] = lane
                event.listen(engine, "engine_disposed", lane.close)
            return engine
        return create_engine("sqlite://", creator=creator, poolclass=NullPool, hide_parameters=True)

    @contextmanager
    def session(
        self,
        connection: DBAPIConnection,
        control: QueryControl,
        *,
        read_only: bool,
        stream: bool,
    ) -> Iterator[DBAPICursor]:
        def progress() -> int:
            if control.stopped:
                return 1
            if time.monotonic() >= control.deadline:
                control.expire(run_hook=False)  # the session's own timeout: mark, stop here
                return 1
            return 0

        # A read-only query on a connection whose file is open for writing.
        attached = (
            refuse_writes(connection)
            if read_only and not getattr(connection, "opened_read_only", False)
            else None
        )
        connection.set_progress_handler(progress, PROGRESS_STEPS)
        if isinstance(connection, SqliteConnection):
            connection.progress = progress
        control.set_cancel_hook(connection.interrupt)
        cursor = connection.cursor()
        succeeded = False
        try:
            yield cursor
            succeeded = True
        finally:
            control.set_cancel_hook(None)
            connection.set_progress_handler(None, 0)
            if isinstance(connection, SqliteConnection):
                connection.progress = None
            cursor.close()
            try:
                _end_transaction(connection, commit=succeeded and not read_only)
            finally:
                if attached is not None:
                    allow_writes(connection, attached)

    def quick_session(
        self, engine: Engine, control: QueryControl
    ) -> AbstractContextManager[DBAPICursor] | None:
        lane = _LANES.get(engine)
        if lane is None or not lane.lock.acquire(blocking=False):
            return None
        return self._quick(lane, control)

    @contextmanager
    def _quick(self, lane: _QuickLane, control: QueryControl) -> Iterator[DBAPICursor]:
        try:
            try:
                connection = lane.open()
            except sqlite3.Error as exc:
                raise QuickFallback from exc
            calls = 0

            def progress() -> int:
                nonlocal calls
                if control.stopped:
                    return 1
                if time.monotonic() >= control.deadline:
                    control.expire(run_hook=False)
                    return 1
                calls += 1
                return 1 if calls > QUICK_PROGRESS_CALLS else 0

            connection.set_progress_handler(progress, PROGRESS_STEPS)
            cursor = connection.cursor()
            broken = False
            try:
                yield cursor
            except sqlite3.Error as exc:
                if calls > QUICK_PROGRESS_CALLS and not control.stopped:
                    raise QuickFallback from exc
                message = str(exc).lower()
                if any(phrase in message for phrase in _QUICK_GIVE_UP):
                    broken = True
                    raise QuickFallback from exc
                raise
            finally:
                cursor.close()
                connection.set_progress_handler(None, 0)
                if connection.in_transaction:
                    connection.rollback()
                if broken:
                    lane.drop()  # opened anew next time, as the pool's connections are
        finally:
            lane.lock.release()

    def native_export(
        self, cursor: DBAPICursor, statement: BoundStatement, fmt: str
    ) -> NativePlan | None:
        """SQLite writes NDJSON, JSON and CSV itself where its text is the contract's
        (``sqlite_native``)."""
        progress = getattr(cursor.connection, "progress", None)
        if progress is not None:
            cursor.connection.set_progress_handler(progress, EXPORT_PROGRESS_STEPS)
        return sqlite_native.plan(cursor.connection, statement, fmt, _second_reader(cursor))

    def server_version(self, connection: DBAPIConnection) -> str:
        # Counting sqlite_master makes SQLite read the file header, so a file that is not
        # a database fails here rather than on the first query.
        row = connection.execute(
            "SELECT sqlite_version(), (SELECT count(*) FROM sqlite_master)"
        ).fetchone()
        return f"SQLite {row[0]}"

    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        rows = connection.execute(
            'SELECT m.name, m.type, p.name, p.type, p."notnull", p.pk '
            "FROM sqlite_master AS m JOIN pragma_table_info(m.name) AS p "
            "WHERE m.type IN ('table', 'view') AND m.name NOT LIKE 'sqlite\\_%' ESCAPE '\\' "
            "ORDER BY m.name, p.cid"
        ).fetchall()
        tables: dict[str, TableInfo] = {}
        for table, kind, column, column_type, notnull, pk in rows:
            info = tables.setdefault(table, TableInfo(name=table, kind=kind))
            info.columns.append(
                ColumnInfo(
                    name=column,
                    type=(column_type or "").lower() or "any",
                    nullable=not notnull and not pk,
                )
            )
        return [SchemaInfo(name="main", tables=list(tables.values()))]
