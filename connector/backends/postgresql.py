"""PostgreSQL through psycopg 3 (the ``postgresql`` extra).

Read-only connections are read-only in the server twice over: the login sets
``default_transaction_read_only=on`` and each query runs in a ``BEGIN READ ONLY``
transaction, which is rolled back and followed by what ``DISCARD ALL`` does (``RESET_SQL``),
so no prepared statement, advisory lock or setting reaches the next request. The guard
(``GUARD``) refuses what the transaction lets through and a reset would come too late for:
signalling other sessions, advisory locks, server files, SQL passed as text, xid and WAL
side effects, and every statement that does not only read. The user's statement is always
sent with the extended query protocol, which carries exactly one statement, so
``SELECT 1; DROP ...`` is refused by the server itself; only the connector's own fixed
statements go several to a message (the simple protocol). The
timeout is ``SET LOCAL statement_timeout`` (gone with the transaction); the cancel hook is
libpq's cancel request (``connection.cancel_safe()``), the same as ``pg_cancel_backend``.
Exports and row-limited queries read through a named (server-side) cursor, ``FETCH``-ing
one batch at a time, so a ``limit`` of 50 on a big table reads 51 rows.

Round trips of a row-limited read on a read-only session: three. ``BEGIN READ ONLY; SET
LOCAL statement_timeout`` in one message; the ``DECLARE`` of the statement (extended
protocol, its parameters bound by the server); ``FETCH FORWARD limit + 1`` with the
rollback and the reset after it in one message, so the session is clean when the rows
arrive. A statement that fails leaves the rest of that message unrun, and the session's
end sends the rollback and the reset itself. The connection runs in psycopg's autocommit
mode during a session, so psycopg adds no ``BEGIN`` of its own, and never prepares
statements by itself (``prepare_threshold`` None): the reset deallocates them behind its
back.

Values, where the contract leaves a choice:

- ``numeric`` is an exact ``Decimal``; ``NaN`` and ``±Infinity`` (numeric or float) -> null.
- ``date`` / ``timestamp`` / ``timestamptz`` ``infinity`` and ``-infinity``, and dates
  Python cannot hold (BC, after 9999), stay the text PostgreSQL prints, e.g. ``"infinity"``:
  null would be mistaken for NULL.
- ``interval`` -> an ISO 8601 duration string (``"P1Y2M3DT04:05:06"``, type ``string``);
  the session uses ``IntervalStyle=iso_8601`` so months are never turned into 30 days.
- ``uuid``, ``inet``, ``cidr``, ``macaddr``, ``money`` -> strings.
- ``json`` / ``jsonb`` -> the parsed value; arrays -> JSON arrays (type ``json``) whose
  elements follow the same rules; ``bytea`` -> base64.

Must not import FastAPI.
"""

from __future__ import annotations

import math
import re
import secrets
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, Any, Literal

import orjson
import psycopg
import psycopg.errors
from psycopg.adapt import Loader
from psycopg.postgres import types as pg_types
from psycopg.pq import Format
from psycopg.types.json import set_json_loads
from pydantic import Field
from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.pool import NullPool
from sqlglot.tokenizer_core import TokenType

from connector.backends import postgresql_native
from connector.backends.base import DBAPIConnection, DBAPICursor, gather_comments
from connector.backends.funnel import ErrorRule, ErrorTable, first_sentence
from connector.backends.network import (
    POOL_OVERFLOW,
    POOL_RECYCLE_S,
    POOL_SIZE,
    NetworkBackend,
    NetworkOptions,
    SessionGuard,
    connect_rule,
    discard_later,
    mark_clean,
    pool_rules,
)
from connector.errors import (
    DatabaseUnavailableError,
    QueryCancelledError,
    QueryTimeoutError,
    ReadOnlyError,
    SqlError,
)
from connector.fastpath import NativePlan
from connector.models import (
    Capabilities,
    ColumnInfo,
    Comments,
    ConnectionSpec,
    SchemaInfo,
    TableInfo,
)
from connector.running import QueryControl
from connector.statements import BoundStatement
from connector.values import infer_column_types

if TYPE_CHECKING:
    from sqlglot import expressions as exp
    from sqlglot.tokenizer_core import Token

CANCEL_TIMEOUT_S = 5.0
# COPY-written exports (see ``native_export``); off only to measure the exact path.
COPY_EXPORTS = True
SslMode = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]

# SQLSTATE classes that mean the database, not the SQL, failed.
_UNAVAILABLE_CLASSES = ("08", "28", "3D", "53", "57P", "58", "XX")

_TYPE_NAMES: dict[str, str] = {
    "int2": "integer",
    "int4": "integer",
    "int8": "integer",
    "oid": "integer",
    "numeric": "decimal",
    "float4": "float",
    "float8": "float",
    "bool": "boolean",
    "date": "date",
    "time": "time",
    "timetz": "time",
    "timestamp": "datetime",
    "timestamptz": "datetime",
    "bytea": "binary",
    "json": "json",
    "jsonb": "json",
}
_TYPE_BY_OID: dict[int, str] = {}
for _info in pg_types:
    if _info.name in _TYPE_NAMES:
        _TYPE_BY_OID[_info.oid] = _TYPE_NAMES[_info.name]
    if _info.array_oid:
        _TYPE_BY_OID[_info.array_oid] = "json"
_TEXT_OIDS = frozenset(
    info.oid
    for info in pg_types
    if info.name
    in ("text", "varchar", "bpchar", "name", "char", "uuid", "inet", "cidr", "macaddr",
        "interval", "money", "xml", "citext")
)  # fmt: skip


def _as_text(data: Any) -> str:
    return bytes(data).decode("utf-8", "replace")


class _LenientLoader(Loader):
    """psycopg's own (C, where installed) loader for the type; the text PostgreSQL printed
    for values Python cannot hold (``infinity``, BC dates, years past 9999)."""

    type_name: str = ""

    def __init__(self, oid: int, context: Any = None) -> None:
        super().__init__(oid, context)
        base = psycopg.adapters.get_loader(pg_types[self.type_name].oid, Format.TEXT)
        assert base is not None
        self._load = base(oid, context).load

    def load(self, data: Any) -> Any:
        try:
            return self._load(data)
        except psycopg.DataError:
            return _as_text(data)


class _LenientDateLoader(_LenientLoader):
    type_name = "date"


class _LenientTimestampLoader(_LenientLoader):
    type_name = "timestamp"


class _LenientTimestamptzLoader(_LenientLoader):
    type_name = "timestamptz"


class _TextLoader(Loader):
    def load(self, data: Any) -> str:
        return _as_text(data)


class OneStatementCursor(psycopg.Cursor[Any]):
    """Always the extended query protocol: one statement per execute, even without params."""

    def _execute_send(
        self, query: Any, *, force_extended: bool = False, binary: bool | None = None
    ) -> None:
        super()._execute_send(query, force_extended=True, binary=binary)


# Statements ``DECLARE ... CURSOR FOR`` accepts, after any leading comments or parentheses.
_DECLARABLE = re.compile(
    r"^(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*(?:select|with|values|table)\b",
    re.IGNORECASE | re.DOTALL,
)


# Words that make a statement write; one that names any (even in a string) is not declared
# as a cursor: DECLARE refuses a data-modifying WITH, which must fail as the write it is.
_WRITES = re.compile(r"\b(?:insert|update|delete|merge)\b", re.IGNORECASE)


class StreamCursor:
    """The cursor a query runs on. With ``server_side`` (exports, and ``/query`` once its
    rows are capped) a statement ``DECLARE`` accepts runs as a named (server-side) cursor,
    so each ``fetchmany`` is one ``FETCH`` and nothing past the rows read is sent; anything
    else (``SHOW``, ``EXPLAIN``, writes) runs on a client-side cursor, chosen at execute.

    With ``cap`` (``cap_rows``) the one ``FETCH`` of ``cap`` rows is sent at execute, and
    ``end_sql`` (the session's rollback and reset, on a read-only session) in the same
    message: ``ended`` then says the session has nothing left to do."""

    def __init__(
        self,
        connection: psycopg.Connection[Any],
        *,
        server_side: bool,
        end_sql: str | None = None,
    ) -> None:
        self._connection = connection
        self._cursor: Any = None
        self.server_side = server_side
        self.cap: int | None = None
        self.end_sql = end_sql
        self.ended = False

    def __getattr__(self, name: str) -> Any:
        if self._cursor is None:
            raise AttributeError(name)
        return getattr(self._cursor, name)

    @property
    def connection(self) -> psycopg.Connection[Any]:
        return self._connection

    @staticmethod
    def declarable(query: str) -> bool:
        """True for a statement ``DECLARE`` (and a subquery) takes: one that only reads."""
        return _DECLARABLE.match(query) is not None and _WRITES.search(query) is None

    def execute(self, query: str, params: Any = None) -> None:
        declared = self.server_side and self.declarable(query)
        if declared and self.cap is not None:
            self._capped(f"dc_{secrets.token_hex(6)}", query, params, self.cap)
            return
        if declared:
            self._cursor = self._connection.cursor(name=f"dc_{secrets.token_hex(6)}")
        else:
            self._cursor = self._connection.cursor()
        self._cursor.execute(query, params)

    def _capped(self, name: str, query: str, params: Any, rows: int) -> None:
        """``DECLARE`` (one statement, extended protocol), then one message of our own:
        ``FETCH FORWARD rows`` and, when given, the session's end after it."""
        with self._connection.cursor() as declare:
            declare.execute(f"DECLARE {name} NO SCROLL CURSOR FOR {query}", params)
        fetch = f"FETCH FORWARD {int(rows)} FROM {name}"
        self._cursor = psycopg.Cursor(self._connection)
        self._cursor.execute(fetch if self.end_sql is None else f"{fetch}; {self.end_sql}")
        self.ended = self.end_sql is not None

    @property
    def description(self) -> Any:
        return None if self._cursor is None else self._cursor.description

    def fetchmany(self, size: int) -> list[Any]:
        return list(self._cursor.fetchmany(size))

    def close(self) -> None:
        if self._cursor is not None:
            self._cursor.close()


def prepare_connection(connection: psycopg.Connection[Any]) -> None:
    """Our loaders on a fresh connection, and no statements prepared behind the session's
    reset (see the module docstring)."""
    connection.prepare_threshold = None
    adapters = connection.adapters
    adapters.register_loader("date", _LenientDateLoader)
    adapters.register_loader("timestamp", _LenientTimestampLoader)
    adapters.register_loader("timestamptz", _LenientTimestamptzLoader)
    adapters.register_loader("interval", _TextLoader)
    adapters.register_loader("money", _TextLoader)
    set_json_loads(orjson.loads, connection)


# Statements a read-only connection may run: they only read (see ``SessionGuard``).
# ``EXPLAIN ANALYZE`` runs its statement, inside the same read-only transaction.
READ_STATEMENTS = frozenset({"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN"})
_SIGNAL = "it signals another server process"
_FILE = "it reaches the database server's files"
_TEXT_SQL = "it runs SQL given as text, which the guard cannot read"
_XID = "it assigns a transaction id, which outlasts the rollback"
_REPLICATION = "it changes replication or WAL state, which a rollback does not undo"
DENIED_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("PG_TERMINATE_BACKEND", _SIGNAL),
    ("PG_CANCEL_BACKEND", _SIGNAL),
    ("PG_LOG_BACKEND_MEMORY_CONTEXTS", _SIGNAL),
    ("PG_RELOAD_CONF", _SIGNAL),
    ("PG_ROTATE_LOGFILE", _SIGNAL),
    ("PG_PROMOTE", _SIGNAL),
    ("LO_IMPORT", _FILE),
    ("LO_EXPORT", _FILE),
    ("PG_STAT_FILE", _FILE),
    ("QUERY_TO_XML", _TEXT_SQL),
    ("QUERY_TO_XMLSCHEMA", _TEXT_SQL),
    ("QUERY_TO_XML_AND_XMLSCHEMA", _TEXT_SQL),
    ("TS_STAT", _TEXT_SQL),
    ("TS_REWRITE", _TEXT_SQL),
    ("CONNECTBY", _TEXT_SQL),  # tablefunc
    ("XPATH_TABLE", _TEXT_SQL),  # xml2
    ("PG_STAT_STATEMENTS_RESET", "it resets statistics for everyone"),
    ("SET_CONFIG", "it changes a session setting, as SET does"),
    ("TXID_CURRENT", _XID),
    ("PG_CURRENT_XACT_ID", _XID),
    ("PG_SWITCH_WAL", _REPLICATION),
    ("PG_IMPORT_SYSTEM_COLLATIONS", "it writes the catalog outside the transaction"),
)
DENIED_PREFIXES: tuple[tuple[str, str], ...] = (
    ("PG_ADVISORY_", "an advisory lock can belong to the session, not to the request"),
    ("PG_TRY_ADVISORY_", "an advisory lock can belong to the session, not to the request"),
    ("PG_READ_", _FILE),
    ("PG_LS_", _FILE),
    ("PG_FILE_", _FILE),  # adminpack
    ("DBLINK", "it opens another session, outside this read-only one"),
    ("CROSSTAB", _TEXT_SQL),  # tablefunc
    ("PG_STAT_RESET", "it resets statistics for everyone"),
    ("PG_LOGICAL_", _REPLICATION),
    ("PG_REPLICATION_", _REPLICATION),
    ("PG_CREATE_", _REPLICATION),
    ("PG_DROP_", _REPLICATION),
    ("PG_COPY_", _REPLICATION),
    ("PG_WAL_REPLAY_", _REPLICATION),
    ("PG_BACKUP_", _REPLICATION),
    ("PG_START_BACKUP", _REPLICATION),
    ("PG_STOP_BACKUP", _REPLICATION),
)


def check_unicode_names(tokens: Sequence[Token], _trees: Sequence[exp.Expression]) -> None:
    """Refuse ``U&"..."`` names: their escapes could spell a denied function's name."""
    for first, second, third in zip(tokens, tokens[1:], tokens[2:], strict=False):
        if (
            first.text.upper() == "U"
            and second.token_type == TokenType.AMP
            and third.token_type == TokenType.IDENTIFIER
            and first.end + 1 == second.start
            and second.end + 1 == third.start
        ):
            raise ReadOnlyError(
                'This connection is read-only and refuses U&"..." names with escapes in them.'
            )


GUARD = SessionGuard(
    "postgres", READ_STATEMENTS, DENIED_FUNCTIONS, DENIED_PREFIXES, extra=check_unicode_names
)


# What ``DISCARD ALL`` does, statement by statement (its documented equivalent), after the
# request's ``ROLLBACK``: ``DISCARD ALL`` itself cannot share a message with another
# statement (it refuses to run in a transaction block, and a message of several is one).
# A rollback undoes ``SET`` and ``set_config``, but not ``PREPARE`` or a session advisory
# lock. Settings go back to what the login set (read-only, ``IntervalStyle``).
RESET_SQL = (
    "CLOSE ALL; SET SESSION AUTHORIZATION DEFAULT; RESET ALL; DEALLOCATE ALL; UNLISTEN *; "
    "SELECT pg_advisory_unlock_all(); DISCARD PLANS; DISCARD TEMP; DISCARD SEQUENCES"
)


def run_own(connection: psycopg.Connection[Any], sql: str) -> None:
    """The connector's own statements, several to one message (the simple protocol)."""
    with psycopg.Cursor(connection) as cursor:
        cursor.execute(sql)


def end_session(connection: psycopg.Connection[Any], *, commit: bool, reset: bool) -> None:
    """End the session's transaction and, with ``reset``, clear what it left, in one
    message. A session that could not be reset is dropped by the pool when it comes back;
    a failed commit raises."""
    if not reset:
        run_own(connection, "COMMIT" if commit else "ROLLBACK")
        return
    try:
        run_own(connection, f"ROLLBACK; {RESET_SQL}")
    except psycopg.Error as exc:
        discard_later(connection, f"{type(exc).__name__}: {first_sentence(exc)}")


class PostgresqlOptions(NetworkOptions):
    port: int = Field(
        default=5432, ge=1, le=65535, title="Port", description="The server's TCP port."
    )
    sslmode: SslMode | None = Field(
        default=None,
        title="SSL mode",
        description="libpq's sslmode; none means libpq's default (prefer).",
    )
    sslrootcert: str | None = Field(
        default=None,
        title="CA certificate",
        description="The CA file that verify-ca and verify-full check the server against.",
        json_schema_extra={"format": "path", "advanced": True},
    )
    sslcert: str | None = Field(
        default=None,
        title="Client certificate",
        description="A client certificate file, for servers that ask for one.",
        json_schema_extra={"format": "path", "advanced": True},
    )
    sslkey: str | None = Field(
        default=None,
        title="Client key",
        description="The client certificate's key file.",
        json_schema_extra={"format": "path", "advanced": True},
    )


def _sqlstate(exc: BaseException) -> str | None:
    state = getattr(exc, "sqlstate", None) if isinstance(exc, psycopg.Error) else None
    return state if isinstance(state, str) else None


ERRORS = ErrorTable(
    label="PostgreSQL",
    code_of=_sqlstate,
    rules=(
        ErrorRule(
            QueryTimeoutError,
            "The query ran past its timeout and PostgreSQL stopped it.",
            classes=("QueryCanceled",),
            phrases=("statement timeout",),
        ),
        ErrorRule(
            QueryCancelledError,
            "The query was cancelled in the database.",
            classes=("QueryCanceled",),
        ),
        ErrorRule(
            ReadOnlyError,
            classes=("ReadOnlySqlTransaction",),
            prefix="This connection is read-only and PostgreSQL refused the write: ",
        ),
        connect_rule("PostgreSQL", prefixes=_UNAVAILABLE_CLASSES),
        ErrorRule(
            DatabaseUnavailableError, prefixes=_UNAVAILABLE_CLASSES, prefix="PostgreSQL failed: "
        ),
        # Any other SQLSTATE: the server read the statement and refused it.
        ErrorRule(SqlError, classes=("Error",), coded=True),
        connect_rule("PostgreSQL", classes=("Error", "OSError")),
        ErrorRule(
            DatabaseUnavailableError, classes=("Error", "OSError"), prefix="PostgreSQL failed: "
        ),
    ),
)


def connect_args(options: PostgresqlOptions, *, read_only: bool) -> dict[str, Any]:
    settings = ["-c IntervalStyle=iso_8601"]
    if read_only:
        settings.append("-c default_transaction_read_only=on")
    args: dict[str, Any] = {
        "connect_timeout": options.connect_timeout_s,
        "application_name": "data-connector",
        # Every session speaks UTF-8, as the JSON and CSV we write do: a LATIN1
        # database's would speak LATIN1, and a SQL_ASCII one's hands psycopg bytes it
        # cannot decode (creating such a connection failed on its first text).
        "client_encoding": "UTF8",
        "options": " ".join(settings),
        "cursor_factory": OneStatementCursor,
    }
    for name in ("sslmode", "sslrootcert", "sslcert", "sslkey"):
        value = getattr(options, name)
        if value is not None:
            args[name] = value
    return args


class PostgresqlBackend(NetworkBackend):
    kind = "postgresql"
    label = "PostgreSQL"
    dialect = "postgres"
    paramstyle = "pyformat"
    options_model = PostgresqlOptions
    secret_use = "optional"
    capabilities = Capabilities(
        session_read_only=True,
        cancel=True,
        server_timeout=True,
        schema_browsing=True,
        streaming_export=True,
    )
    errors = ERRORS
    guard_rules = GUARD.rules()

    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        options = PostgresqlOptions.model_validate(spec.options)
        url = URL.create(
            "postgresql+psycopg",
            username=options.user,
            password=secret or None,
            host=options.host,
            port=options.port,
            database=options.database or options.user,
        )
        pool: dict[str, Any] = (
            {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_recycle": POOL_RECYCLE_S}
            if pooled
            else {"poolclass": NullPool}
        )
        engine = create_engine(
            url,
            connect_args=connect_args(options, read_only=spec.read_only),
            pool_pre_ping=False,
            pool_reset_on_return=None,
            hide_parameters=True,
            **pool,
        )
        pool_rules(engine, lambda dbapi_connection: dbapi_connection.pgconn.socket)
        event.listen(
            engine,
            "connect",
            lambda dbapi_connection, _record: prepare_connection(dbapi_connection),
        )
        return engine

    @contextmanager
    def session(
        self,
        connection: DBAPIConnection,
        control: QueryControl,
        *,
        read_only: bool,
        stream: bool,
    ) -> Iterator[DBAPICursor]:
        if connection.info.transaction_status != psycopg.pq.TransactionStatus.IDLE:
            connection.rollback()
        # Our own BEGIN, folded with the timeout into one message (see the module docstring).
        connection.autocommit = True
        timeout_ms = max(1, math.ceil(control.remaining_s() * 1000))
        begin = "BEGIN READ ONLY" if read_only else "BEGIN READ WRITE"
        try:
            run_own(connection, f"{begin}; SET LOCAL statement_timeout = {timeout_ms}")
        except BaseException:
            with suppress(psycopg.Error):
                connection.rollback()
                connection.autocommit = False
            raise
        control.set_cancel_hook(lambda: connection.cancel_safe(timeout=CANCEL_TIMEOUT_S))
        cursor = StreamCursor(
            connection,
            server_side=stream,
            end_sql=f"ROLLBACK; {RESET_SQL}" if read_only else None,
        )
        succeeded = False
        try:
            yield cursor
            succeeded = True
        finally:
            control.set_cancel_hook(None)
            try:
                with suppress(psycopg.Error):
                    cursor.close()
                if not cursor.ended:
                    end_session(connection, commit=succeeded and not read_only, reset=read_only)
            finally:
                with suppress(psycopg.Error):
                    connection.autocommit = False
                    mark_clean(connection)

    def native_export(
        self, cursor: DBAPICursor, statement: BoundStatement, fmt: str
    ) -> NativePlan | None:
        """CSV and NDJSON through ``COPY ... TO STDOUT`` where its text is the contract's
        (``postgresql_native``). A client that goes away mid-COPY stops the statement:
        the query is cancelled, then the COPY ended (``ExportStream.close``) before the
        session is rolled back (``test_postgresql_export_client_disconnect_stops_the
        _query``, ``tests/test_client_disconnect.py``)."""
        if not COPY_EXPORTS or not isinstance(cursor, StreamCursor):
            return None
        return postgresql_native.plan(cursor, statement, fmt)

    def cap_rows(self, cursor: DBAPICursor, rows: int) -> None:
        """A row-limited query reads through a named cursor: one ``FETCH`` of ``rows``."""
        if isinstance(cursor, StreamCursor):
            cursor.server_side = True
            cursor.cap = rows

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        inferred = infer_column_types(len(description), rows)
        types: list[str] = []
        for item, guess in zip(description, inferred, strict=True):
            oid = item[1]
            if oid in _TYPE_BY_OID:
                types.append(_TYPE_BY_OID[oid])
            elif oid in _TEXT_OIDS:
                types.append("string")
            else:
                types.append(guess)
        return types

    def server_version(self, connection: DBAPIConnection) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            row = cursor.fetchone()
        connection.rollback()
        return f"PostgreSQL {row[0]}"

    def describe_comments(self, connection: DBAPIConnection) -> dict[tuple[str, str], Comments]:
        """``COMMENT ON TABLE/VIEW/COLUMN``, from pg_description in one query."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n.nspname, c.relname, a.attname, d.description "
                "FROM pg_description AS d "
                "JOIN pg_class AS c ON c.oid = d.objoid "
                "AND d.classoid = 'pg_catalog.pg_class'::regclass "
                "JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_attribute AS a ON a.attrelid = c.oid AND a.attnum = d.objsubid "
                "AND d.objsubid > 0 "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND has_schema_privilege(n.oid, 'USAGE')"
            )
            rows = cursor.fetchall()
        connection.rollback()
        return gather_comments(rows)

    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT n.nspname FROM pg_namespace AS n "
                "WHERE n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
                "AND has_schema_privilege(n.oid, 'USAGE') ORDER BY n.nspname"
            )
            names = [row[0] for row in cursor.fetchall()]
            cursor.execute(
                "SELECT n.nspname, c.relname, c.relkind, a.attname, "
                "format_type(a.atttypid, a.atttypmod), NOT a.attnotnull "
                "FROM pg_class AS c JOIN pg_namespace AS n ON n.oid = c.relnamespace "
                "LEFT JOIN pg_attribute AS a "
                "ON a.attrelid = c.oid AND a.attnum > 0 AND NOT a.attisdropped "
                "WHERE c.relkind IN ('r', 'p', 'v', 'm', 'f') "
                "AND n.nspname NOT IN ('pg_catalog', 'information_schema') "
                "AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp\\_%' "
                "AND has_schema_privilege(n.oid, 'USAGE') "
                "ORDER BY n.nspname, c.relname, a.attnum"
            )
            rows = cursor.fetchall()
        connection.rollback()
        schemas: dict[str, dict[str, TableInfo]] = {name: {} for name in names}
        for schema, table, relkind, column, column_type, nullable in rows:
            tables = schemas.setdefault(schema, {})
            kind: Literal["table", "view"] = "view" if relkind in ("v", "m") else "table"
            info = tables.setdefault(table, TableInfo(name=table, kind=kind))
            if column is not None:
                info.columns.append(
                    ColumnInfo(name=column, type=str(column_type), nullable=bool(nullable))
                )
        return [
            SchemaInfo(name=name, tables=list(tables.values())) for name, tables in schemas.items()
        ]
