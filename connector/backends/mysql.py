"""MySQL and MariaDB through PyMySQL (the ``mysql`` extra), as OpenBB's own integration did.

Each query runs in its own transaction. On read-only connections the session access mode
is ``READ ONLY`` from the login on (``init_command``) and again for every query, so the
transaction the statement opens (no autocommit) is read-only and the server refuses writes
and DDL (whose implicit commit would otherwise end a read-only transaction) whatever the
statement guard let through. After every read-only request the session is reset
(``COM_RESET_CONNECTION``, see ``reset_session``), so no user variable, prepared statement,
named lock, ``HANDLER``, temporary table, setting or other current database reaches the
next request; the guard
(``GUARD``) refuses what a reset would come too late for: ``KILL``, lock and server-file
functions, executable comments and every statement that does not only read. The
server enforces the timeout (MariaDB ``max_statement_time``, MySQL ``MAX_EXECUTION_TIME``,
which MySQL applies to SELECT only), and a statement that comes back past it anyway
(MariaDB's ``BENCHMARK()`` does) is a timeout too; the cancel hook is ``KILL QUERY <thread
id>`` sent on a separate short connection. Exports read through PyMySQL's unbuffered
``SSCursor``. PyMySQL never enables multi-statements, so ``SELECT 1; DROP ...`` is a syntax
error on the server.

Round trips of a row-limited read on a read-only session: three. One ``SET SESSION`` of
the timeout, the access mode and ``sql_select_limit`` (sent with the statement, once
``cap_rows`` has said the cap); the statement, which opens the transaction itself (the
``SET``'s answer says none is open and autocommit is off, so ``START TRANSACTION`` would
add nothing; it is sent when that is not so); and the reset, whose three commands go out
together and are answered in order (``reset_session``).

Values: DECIMAL is an exact ``Decimal``; TIME is a ``timedelta`` (``"-838:59:59"``);
zero and partly zero dates (``0000-00-00``) are ``None``; BIT is an integer; JSON (MySQL's
JSON type) is parsed; ENUM is its label and SET its comma-separated labels; binary strings
and BLOBs are bytes (base64). MariaDB's JSON is an alias of LONGTEXT with a
``json_valid(col)`` check, and its wire protocol does not say "JSON" to PyMySQL; so on
MariaDB the tables a statement reads are looked up in ``information_schema.CHECK_CONSTRAINTS``
before it runs (cached for a minute), and result columns that come from such a column are
typed ``json`` and parsed, as on MySQL. A read-only login should still lack the FILE
privilege: the guard refuses ``INTO OUTFILE`` and ``LOAD_FILE``, but a stored function
written by someone else could still call ``LOAD_FILE`` inside a read-only transaction.

Must not import FastAPI.
"""

from __future__ import annotations

import math
import re
import ssl
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, Literal

import orjson
import pymysql
import pymysql.converters
import pymysql.cursors
from pydantic import BaseModel, ConfigDict, Field
from pymysql.constants import COMMAND, FIELD_TYPE, SERVER_STATUS
from sqlalchemy import URL, Engine, create_engine, event
from sqlalchemy.pool import NullPool

from connector.backends import mysql_native
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
from connector.statements import BoundStatement, TableRef
from connector.values import infer_column_types

if TYPE_CHECKING:
    from sqlglot import expressions as exp
    from sqlglot.tokenizer_core import Token

KILL_TIMEOUT_S = 5
# Server error codes.
_TIMEOUT_CODES: frozenset[int | str] = frozenset(
    {1969, 3024}
)  # MariaDB max_statement_time, MySQL MAX_EXECUTION_TIME
_INTERRUPTED = 1317
_READ_ONLY_CODES = frozenset({1792, 1290, 1836})  # read-only transaction / --read-only server
# Server-side codes that mean the database, not the SQL, failed.
_UNAVAILABLE_CODES = frozenset(
    {1040, 1042, 1043, 1044, 1045, 1047, 1049, 1053, 1077, 1081, 1129, 1130, 1152, 1153,
     1154, 1155, 1156, 1157, 1158, 1159, 1160, 1161, 1203, 1226, 1251, 1927}
)  # fmt: skip
# Codes the server itself sends about a statement (client-side codes are 2000-2999).
_SERVER_CODES = frozenset(range(1000, 2000)) | frozenset(range(3000, 20000))
_CLIENT_CODES = frozenset(range(2000, 3000))
_SYSTEM_SCHEMAS = ("information_schema", "mysql", "performance_schema", "sys")

_TYPE_NAMES: dict[int, str] = {
    FIELD_TYPE.TINY: "integer",
    FIELD_TYPE.SHORT: "integer",
    FIELD_TYPE.LONG: "integer",
    FIELD_TYPE.LONGLONG: "integer",
    FIELD_TYPE.INT24: "integer",
    FIELD_TYPE.YEAR: "integer",
    FIELD_TYPE.BIT: "integer",
    FIELD_TYPE.DECIMAL: "decimal",
    FIELD_TYPE.NEWDECIMAL: "decimal",
    FIELD_TYPE.FLOAT: "float",
    FIELD_TYPE.DOUBLE: "float",
    FIELD_TYPE.DATE: "date",
    FIELD_TYPE.NEWDATE: "date",
    FIELD_TYPE.DATETIME: "datetime",
    FIELD_TYPE.TIMESTAMP: "datetime",
    FIELD_TYPE.TIME: "time",
    FIELD_TYPE.JSON: "json",
}


def _none_if_text(convert: Callable[[str], Any]) -> Callable[[str], Any]:
    """PyMySQL hands back the raw text of a date it cannot read (zero dates): use None."""

    def load(text: str) -> Any:
        value = convert(text)
        return None if isinstance(value, str) else value

    return load


def _load_bit(raw: bytes) -> int:
    return int.from_bytes(raw, "big")


def _load_json(text: str | bytes) -> Any:
    try:
        return orjson.loads(text)
    except orjson.JSONDecodeError:
        return text


CONVERSIONS: dict[Any, Any] = dict(pymysql.converters.conversions)
CONVERSIONS.update(
    {
        FIELD_TYPE.DATE: _none_if_text(pymysql.converters.convert_date),
        FIELD_TYPE.DATETIME: _none_if_text(pymysql.converters.convert_datetime),
        FIELD_TYPE.TIMESTAMP: _none_if_text(pymysql.converters.convert_datetime),
        FIELD_TYPE.BIT: _load_bit,
        FIELD_TYPE.JSON: _load_json,
    }
)


# Statements a read-only connection may run: they only read (see ``SessionGuard``).
READ_STATEMENTS = frozenset(
    {"SELECT", "WITH", "VALUES", "TABLE", "SHOW", "EXPLAIN", "DESCRIBE", "DESC", "HELP"}
)
_LOCK = "a named lock belongs to the session, not to the request"
_FILE = "it reads a file on the database server"
_PROGRAM = "it runs a program on the database server"
DENIED_FUNCTIONS: tuple[tuple[str, str], ...] = (
    ("GET_LOCK", _LOCK),
    ("RELEASE_LOCK", _LOCK),
    ("RELEASE_ALL_LOCKS", _LOCK),
    ("LOAD_FILE", _FILE),
    # lib_mysqludf_sys, where someone installed it.
    ("SYS_EXEC", _PROGRAM),
    ("SYS_EVAL", _PROGRAM),
    ("SYS_BINEVAL", _PROGRAM),
)
# What MySQL and MariaDB run inside /*! ... */, /*!50700 ... */ and /*M! ... */.
_EXECUTABLE_COMMENT = re.compile(r"^m?!", re.IGNORECASE)
_EXECUTABLE_MARKER = re.compile(r"/\*m?!", re.IGNORECASE)


def check_executable_comments(tokens: Sequence[Token], _trees: Sequence[exp.Expression]) -> None:
    """Refuse executable comments: the server runs them, sqlglot drops them as comments.

    A marker anywhere in a comment or a string literal counts too, so a server whose
    ``sql_mode`` reads quotes or backslashes differently from sqlglot cannot hide one.
    """
    for token in tokens:
        if any(_EXECUTABLE_COMMENT.match(text) for text in token.comments) or any(
            _EXECUTABLE_MARKER.search(text) for text in (token.text, *token.comments)
        ):
            raise ReadOnlyError(
                "This connection is read-only and refuses executable comments (/*! ... */ "
                "and /*M! ... */), since the server runs what is in them."
            )


GUARD = SessionGuard("mysql", READ_STATEMENTS, DENIED_FUNCTIONS, extra=check_executable_comments)


class MysqlSsl(BaseModel):
    """TLS for the connection; an empty object means "encrypt, verify nothing"."""

    model_config = ConfigDict(extra="forbid")

    ca: str | None = None
    cert: str | None = None
    key: str | None = None
    verify_cert: bool | None = None
    verify_identity: bool = False


class MysqlOptions(NetworkOptions):
    port: int = Field(
        default=3306, ge=1, le=65535, title="Port", description="The server's TCP port."
    )
    ssl: MysqlSsl | None = Field(
        default=None,
        title="TLS",
        description='TLS settings as JSON: {} encrypts without verifying; {"ca": "ca.pem"} '
        'verifies the server; also "cert", "key", "verify_cert", "verify_identity".',
        json_schema_extra={"advanced": True},
    )


def ssl_context(options: MysqlSsl) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=options.ca)
    verify = options.verify_cert if options.verify_cert is not None else options.ca is not None
    context.check_hostname = bool(options.verify_identity and verify)
    context.verify_mode = ssl.CERT_REQUIRED if verify else ssl.CERT_NONE
    if options.cert:
        context.load_cert_chain(options.cert, options.key)
    return context


def connect_args(options: MysqlOptions, *, read_only: bool) -> dict[str, Any]:
    """PyMySQL arguments besides what the URL carries."""
    args: dict[str, Any] = {
        "connect_timeout": options.connect_timeout_s,
        "conv": CONVERSIONS,
        "autocommit": False,
    }
    if read_only:
        args["init_command"] = "SET SESSION TRANSACTION READ ONLY"
    if options.ssl is not None:
        args["ssl"] = ssl_context(options.ssl)
    return args


def _killer(params: dict[str, Any]) -> Callable[[int], None]:
    """``KILL QUERY`` for a thread, sent on its own short-lived connection."""

    def kill(thread_id: int) -> None:
        connection = pymysql.connect(**{**params, "connect_timeout": KILL_TIMEOUT_S})
        try:
            with connection.cursor() as cursor:
                cursor.execute(f"KILL QUERY {int(thread_id)}")
        finally:
            connection.close()

    return kill


def _more_results(cursor: DBAPICursor) -> bool:
    """Whether a stored procedure sent further result sets with rows (CALL can)."""
    extra = False
    while cursor.nextset():
        extra = extra or cursor.description is not None
    return extra


MARIADB_JSON_CACHE_S = 60.0


class MariadbJsonColumns:
    """Which columns of which tables are MariaDB JSON columns, cached per server."""

    def __init__(self) -> None:
        self._cache: dict[tuple[str, int, str, str], tuple[float, frozenset[str]]] = {}

    def lookup(
        self, connection: DBAPIConnection, tables: Sequence[tuple[str | None, str]]
    ) -> set[tuple[str, str, str]]:
        """(schema, table, column) of the JSON columns of ``tables``."""
        server = (str(connection.host), int(connection.port))
        current = connection.db.decode() if isinstance(connection.db, bytes) else connection.db
        now = time.monotonic()
        wanted: list[tuple[str, str]] = []
        found: set[tuple[str, str, str]] = set()
        for schema, table in tables:
            schema = schema or current
            if not schema:
                continue
            cached = self._cache.get((*server, schema, table))
            if cached is not None and now - cached[0] < MARIADB_JSON_CACHE_S:
                found.update((schema, table, column) for column in cached[1])
            else:
                wanted.append((schema, table))
        if wanted:
            columns: dict[tuple[str, str], set[str]] = {key: set() for key in wanted}
            condition = " OR ".join(["(CONSTRAINT_SCHEMA = %s AND TABLE_NAME = %s)"] * len(wanted))
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME "
                    "FROM information_schema.CHECK_CONSTRAINTS "
                    f"WHERE CHECK_CLAUSE LIKE 'json\\_valid(%%' AND ({condition})",
                    [part for key in wanted for part in key],
                )
                for schema, table, column in cursor.fetchall():
                    columns.setdefault((schema, table), set()).add(column)
            for (schema, table), names in columns.items():
                self._cache[(*server, schema, table)] = (now, frozenset(names))
                found.update((schema, table, column) for column in names)
        return found


class MariadbJsonCursor:
    """A PyMySQL cursor whose MariaDB JSON columns are typed ``json`` and parsed."""

    def __init__(self, cursor: DBAPICursor, columns: MariadbJsonColumns) -> None:
        self._cursor = cursor
        self._columns = columns
        self._json: frozenset[int] = frozenset()
        # The tables the next statement names, from the statement guard's parse.
        self.tables: Sequence[TableRef] = ()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        tables = self.tables
        # Looked up before the statement runs: an unbuffered result blocks the connection.
        known = self._columns.lookup(self._cursor.connection, tables) if tables else set()
        result = self._cursor.execute(sql, params)
        fields = getattr(getattr(self._cursor, "_result", None), "fields", None) or ()
        self._json = frozenset(
            index
            for index, field in enumerate(fields)
            if (_text(field.db), _text(field.org_table), _text(field.org_name)) in known
        )
        return result

    @property
    def description(self) -> Any:
        description = self._cursor.description
        if not description or not self._json:
            return description
        return tuple(
            (item[0], FIELD_TYPE.JSON, *item[2:]) if index in self._json else item
            for index, item in enumerate(description)
        )

    def _parsed(self, row: Any) -> Any:
        return tuple(
            _load_json(value) if index in self._json and value is not None else value
            for index, value in enumerate(row)
        )

    def fetchone(self) -> Any:
        row = self._cursor.fetchone()
        return row if row is None or not self._json else self._parsed(row)

    def fetchmany(self, size: int | None = None) -> Any:
        rows = self._cursor.fetchmany(size) if size is not None else self._cursor.fetchmany()
        return rows if not self._json else [self._parsed(row) for row in rows]

    def fetchall(self) -> Any:
        rows = self._cursor.fetchall()
        return rows if not self._json else [self._parsed(row) for row in rows]


class DeadlineCursor:
    """The cursor a query runs on: it passes the guard's tables on to a MariaDB JSON cursor
    and fails as a timeout when its statement comes back past the query's deadline.

    MariaDB's ``BENCHMARK()`` stops at ``max_statement_time`` yet answers as if it had
    finished (0, no error, no warning), before the watchdog's grace is up; a statement that
    returns after the deadline is taken for one the server cut short.
    """

    def __init__(
        self,
        cursor: DBAPICursor,
        control: QueryControl,
        *,
        stream: bool,
        setup: Callable[[int | None], None] | None = None,
    ) -> None:
        self._cursor = cursor
        self._control = control
        self._stream = stream
        # The session's SET, sent before the first statement with the row cap in it.
        self._setup = setup
        self.select_limit: int | None = None

    @property
    def setup_pending(self) -> bool:
        return self._setup is not None

    @property
    def tables(self) -> Sequence[TableRef]:
        return getattr(self._cursor, "tables", ())

    @tables.setter
    def tables(self, tables: Sequence[TableRef]) -> None:
        if isinstance(self._cursor, MariadbJsonCursor):
            self._cursor.tables = tables

    def __getattr__(self, name: str) -> Any:
        return getattr(self._cursor, name)

    def execute(self, sql: str, params: Any = None) -> Any:
        if self._setup is not None:
            setup, self._setup = self._setup, None
            setup(self.select_limit)
        result = self._cursor.execute(sql, params)
        if self._control.expired():
            # An unbuffered result may still be arriving: stop it in the server (the runner
            # then drops the connection). A buffered one is complete; nothing to stop.
            self._control.expire(run_hook=self._stream)
            raise self._control.stopped_error()
        return result


def _abandon(cursor: DBAPICursor) -> None:
    """Forget an unbuffered result unread, also when the cursor is collected: the runner
    drops the connection, so there is nothing to read it from (PyMySQL would try)."""
    result = getattr(cursor, "_result", None)
    if result is not None:
        result.unbuffered_active = False
    cursor.connection = None


# COM_RESET_CONNECTION (MySQL 5.7.3+, MariaDB 10.2.4+); PyMySQL has no method for it.
_COM_RESET_CONNECTION = 0x1F


def _send_together(connection: DBAPIConnection, commands: Sequence[tuple[int, bytes]]) -> None:
    """Send ``commands`` back to back and read their OK answers in order: one round trip.
    The server reads commands one after the other from the socket; each answer's packets
    number from 1, as PyMySQL expects after each command it sends. An error answer raises
    with the later answers unread, so the caller must let the connection go."""
    for command, argument in commands:
        connection._execute_command(command, argument)
    for _ in commands:
        connection._next_seq_id = 1
        connection._read_ok_packet()


def reset_session(connection: DBAPIConnection, *, mariadb: bool) -> None:
    """Give the pool back a session with nothing of the request left in it.

    ``COM_RESET_CONNECTION`` rolls back, releases named locks (``GET_LOCK``), table locks
    and ``HANDLER``s, drops temporary tables and prepared statements, clears user
    variables and returns session variables (``max_statement_time``, ``sql_mode``, the
    character set, autocommit, the access mode) to the server's defaults, without
    signing in again. It keeps the current database, so the configured one is selected
    again, and the login's own settings (character set, no autocommit, read-only access
    mode) are put back: the three commands in one round trip. A session that cannot be
    reset (a server without the command, a failure on the way, a ``USE`` with no
    configured database to go back to) is dropped by the pool when it comes back
    (``discard_later``).
    """
    try:
        collation = getattr(connection, "collation", None)
        names = f"SET NAMES {connection.charset}" + (f" COLLATE {collation}" if collation else "")
        access = "tx_read_only" if mariadb else "transaction_read_only"
        autocommit = int(bool(connection.autocommit_mode))
        restore = f"{names}, autocommit = {autocommit}, SESSION {access} = 1"
        commands = [
            (_COM_RESET_CONNECTION, b""),
            (COMMAND.COM_QUERY, restore.encode(connection.encoding)),
        ]
        if connection.db:
            commands.append((COMMAND.COM_INIT_DB, _text(connection.db).encode(connection.encoding)))
        _send_together(connection, commands)
        if connection.db:
            mark_clean(connection)
            return
        with connection.cursor() as cursor:
            cursor.execute("SELECT DATABASE()")
            row = cursor.fetchone()
    except (pymysql.MySQLError, OSError) as exc:
        discard_later(connection, f"{type(exc).__name__}: {first_sentence(exc)}")
        return
    if row is not None and row[0] is not None:
        discard_later(connection, "USE changed the database and none is configured")


def _outside_transaction(connection: DBAPIConnection) -> bool:
    """What the server's last OK answer said: no transaction open and autocommit off, so
    the next statement opens a transaction with the session's access mode."""
    status = int(connection.server_status or 0)
    return not status & (
        SERVER_STATUS.SERVER_STATUS_IN_TRANS | SERVER_STATUS.SERVER_STATUS_AUTOCOMMIT
    )


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)


def _fileno(connection: DBAPIConnection) -> int | None:
    sock = getattr(connection, "_sock", None)
    return None if sock is None else int(sock.fileno())


def is_mariadb(connection: DBAPIConnection) -> bool:
    return "mariadb" in str(connection.get_server_info()).lower()


def _error_code(exc: BaseException) -> int | None:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return args[0] if len(args) >= 2 and isinstance(args[0], int) else None


def _error_message(exc: BaseException) -> str:
    args: tuple[Any, ...] = tuple(getattr(exc, "args", ()))
    return str(args[1]) if len(args) >= 2 and isinstance(args[0], int) else str(exc)


ERRORS = ErrorTable(
    label="MySQL",
    code_of=_error_code,
    message_of=_error_message,
    rules=(
        ErrorRule(
            QueryTimeoutError,
            "The query ran past its timeout and MySQL stopped it.",
            codes=_TIMEOUT_CODES,
        ),
        ErrorRule(
            QueryCancelledError,
            "The query was stopped in the database.",
            codes=frozenset({_INTERRUPTED}),
        ),
        ErrorRule(
            ReadOnlyError,
            codes=_READ_ONLY_CODES,
            prefix="This connection is read-only and MySQL refused the write: ",
        ),
        connect_rule("MySQL", codes=_CLIENT_CODES | _UNAVAILABLE_CODES),
        ErrorRule(
            DatabaseUnavailableError,
            codes=_CLIENT_CODES | _UNAVAILABLE_CODES,
            prefix="MySQL failed: ",
        ),
        ErrorRule(
            DatabaseUnavailableError,
            classes=("OSError", "InterfaceError"),
            prefix="The connection to MySQL was lost: ",
        ),
        ErrorRule(SqlError, classes=("MySQLError",), codes=_SERVER_CODES),
        connect_rule("MySQL"),
        ErrorRule(SqlError, classes=("Warning",)),
        ErrorRule(DatabaseUnavailableError, classes=("MySQLError",), prefix="MySQL failed: "),
    ),
)


class MysqlBackend(NetworkBackend):
    kind = "mysql"
    label = "MySQL"
    title = "MySQL / MariaDB"
    dialect = "mysql"
    paramstyle = "pyformat"
    options_model = MysqlOptions
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

    def __init__(self) -> None:
        self.json_columns = MariadbJsonColumns()

    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        options = MysqlOptions.model_validate(spec.options)
        url = URL.create(
            "mysql+pymysql",
            username=options.user,
            password=secret or None,
            host=options.host,
            port=options.port,
            database=options.database,
            query={"charset": "utf8mb4"},
        )
        args = connect_args(options, read_only=spec.read_only)
        pool: dict[str, Any] = (
            {"pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW, "pool_recycle": POOL_RECYCLE_S}
            if pooled
            else {"poolclass": NullPool}
        )
        engine = create_engine(
            url,
            connect_args=args,
            pool_pre_ping=False,
            pool_reset_on_return=None,
            hide_parameters=True,
            **pool,
        )
        kill = _killer(
            {
                "host": options.host,
                "port": options.port,
                "user": options.user,
                "password": secret or "",
                **{k: v for k, v in args.items() if k == "ssl"},
            }
        )

        pool_rules(engine, _fileno)

        @event.listens_for(engine, "connect")
        def _remember_killer(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.connector_kill = kill

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
        mariadb = is_mariadb(connection)

        def setup(select_limit: int | None) -> None:
            remaining = max(control.remaining_s(), 0.001)
            timeout = (
                f"max_statement_time = {remaining:.3f}"
                if mariadb
                else f"MAX_EXECUTION_TIME = {math.ceil(remaining * 1000)}"
            )
            # The session access mode also covers DDL, whose implicit commit would end the
            # read-only transaction before it runs.
            access = "tx_read_only" if mariadb else "transaction_read_only"
            assignments = [timeout, f"{access} = {int(read_only)}"]
            if select_limit is not None:
                assignments.append(f"sql_select_limit = {int(select_limit)}")
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION " + ", ".join(assignments))
                if not _outside_transaction(connection):
                    cursor.execute(
                        f"START TRANSACTION {'READ ONLY' if read_only else 'READ WRITE'}"
                    )

        kill = getattr(connection, "connector_kill", None)
        thread_id = connection.thread_id()
        if kill is not None:
            control.set_cancel_hook(lambda: kill(thread_id))
        raw = connection.cursor(pymysql.cursors.SSCursor if stream else pymysql.cursors.Cursor)
        cursor = MariadbJsonCursor(raw, self.json_columns) if mariadb else raw
        if stream:
            # An export's plan may read on the connection before its statement runs.
            setup(None)
            cursor = DeadlineCursor(cursor, control, stream=stream)
        else:
            cursor = DeadlineCursor(cursor, control, stream=stream, setup=setup)
        succeeded = False
        try:
            yield cursor
            if not stream and _more_results(cursor):
                raise SqlError(
                    "The statement returned more than one result set; run one query per request."
                )
            succeeded = True
        finally:
            control.set_cancel_hook(None)
            # After a stop, draining an unbuffered result could read millions of rows; the
            # runner drops that connection from the pool instead.
            if control.stopped and stream:
                _abandon(raw)
            else:
                self._finish(
                    connection,
                    cursor,
                    commit=succeeded and not read_only,
                    mariadb=mariadb,
                    reset=read_only,
                )

    def execute(self, cursor: DBAPICursor, statement: BoundStatement) -> None:
        if isinstance(cursor, DeadlineCursor):
            cursor.tables = statement.tables
        super().execute(cursor, statement)

    @staticmethod
    def _finish(
        connection: DBAPIConnection,
        cursor: DBAPICursor,
        *,
        commit: bool,
        mariadb: bool,
        reset: bool,
    ) -> None:
        """Leave the connection as the pool expects it: no transaction, default timeout, and
        after a read-only request nothing of what it set (``reset_session``)."""
        cursor.close()
        if reset:
            reset_session(connection, mariadb=mariadb)
            return
        if commit:
            connection.commit()
        else:
            connection.rollback()
        with connection.cursor() as restore:
            restore.execute(
                "SET SESSION max_statement_time = DEFAULT, sql_select_limit = DEFAULT"
                if mariadb
                else "SET SESSION MAX_EXECUTION_TIME = DEFAULT, sql_select_limit = DEFAULT"
            )
        mark_clean(connection)

    def native_export(
        self, cursor: DBAPICursor, statement: BoundStatement, fmt: str
    ) -> NativePlan | None:
        """MariaDB writes NDJSON itself where its text is the contract's (``mysql_native``);
        MySQL exports the rows as usual."""
        connection = cursor.connection
        if not is_mariadb(connection):
            return None
        tables = statement.tables
        known = self.json_columns.lookup(connection, tables) if tables else set()
        return mysql_native.plan(cursor, statement, fmt, known)

    def cap_rows(self, cursor: DBAPICursor, rows: int) -> None:
        """``sql_select_limit``: the server stops a top-level SELECT after ``rows`` rows, so a
        row-limited query on a big table reads and sends only those (the buffered cursor
        would otherwise receive the whole result). A ``LIMIT`` in the statement itself wins
        over it; the session reset or ``_finish`` puts the default back. Sent in the
        session's own ``SET`` before the statement where the session has not sent it yet."""
        if isinstance(cursor, DeadlineCursor) and cursor.setup_pending:
            cursor.select_limit = int(rows)
            return
        with cursor.connection.cursor() as setup:
            setup.execute(f"SET SESSION sql_select_limit = {int(rows)}")

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        inferred = infer_column_types(len(description), rows)
        types: list[str] = []
        for item, guess in zip(description, inferred, strict=True):
            name = _TYPE_NAMES.get(item[1])
            if name is None:
                # Text and binary strings share type codes; the values tell them apart.
                name = guess if guess in ("binary", "string") else "string"
            types.append(name)
        return types

    def decimal_shapes(self, description: Sequence[Sequence[Any]]) -> list[tuple[int, int] | None]:
        """PyMySQL's precision is the column's display length (digits, the point and a
        sign): less the point, it bounds the declared precision from above, so every
        value fits."""
        shapes: list[tuple[int, int] | None] = []
        for item in description:
            length, scale = item[4], item[5]
            decimal = item[1] in (FIELD_TYPE.DECIMAL, FIELD_TYPE.NEWDECIMAL)
            if not decimal or not isinstance(length, int) or not isinstance(scale, int):
                shapes.append(None)
                continue
            shapes.append((min(length - (1 if scale else 0), 76), scale))
        return shapes

    def server_version(self, connection: DBAPIConnection) -> str:
        with connection.cursor() as cursor:
            cursor.execute("SELECT VERSION()")
            row = cursor.fetchone()
        version = str(row[0])
        return f"MariaDB {version}" if "mariadb" in version.lower() else f"MySQL {version}"

    def describe_comments(self, connection: DBAPIConnection) -> dict[tuple[str, str], Comments]:
        """Table and column ``COMMENT``s, in the schemas ``describe_schema`` lists."""
        placeholders = ", ".join(["%s"] * len(_SYSTEM_SCHEMAS))
        scope = f"(DATABASE() IS NULL AND {{s}} NOT IN ({placeholders})) OR {{s}} = DATABASE()"
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT TABLE_SCHEMA, TABLE_NAME, NULL, TABLE_COMMENT "
                "FROM information_schema.TABLES WHERE TABLE_COMMENT <> '' "
                "AND TABLE_TYPE <> 'VIEW' AND (" + scope.format(s="TABLE_SCHEMA") + ") "
                "UNION ALL SELECT TABLE_SCHEMA, TABLE_NAME, COLUMN_NAME, COLUMN_COMMENT "
                "FROM information_schema.COLUMNS WHERE COLUMN_COMMENT <> '' AND ("
                + scope.format(s="TABLE_SCHEMA")
                + ")",
                (*_SYSTEM_SCHEMAS, *_SYSTEM_SCHEMAS),
            )
            rows = cursor.fetchall()
        connection.rollback()
        return gather_comments(rows)

    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        placeholders = ", ".join(["%s"] * len(_SYSTEM_SCHEMAS))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.TABLE_SCHEMA, c.TABLE_NAME, t.TABLE_TYPE, c.COLUMN_NAME, "
                "c.COLUMN_TYPE, c.IS_NULLABLE "
                "FROM information_schema.COLUMNS AS c "
                "JOIN information_schema.TABLES AS t "
                "ON t.TABLE_SCHEMA = c.TABLE_SCHEMA AND t.TABLE_NAME = c.TABLE_NAME "
                "WHERE (DATABASE() IS NULL AND c.TABLE_SCHEMA NOT IN "
                f"({placeholders})) OR c.TABLE_SCHEMA = DATABASE() "
                "ORDER BY c.TABLE_SCHEMA, c.TABLE_NAME, c.ORDINAL_POSITION",
                _SYSTEM_SCHEMAS,
            )
            rows = cursor.fetchall()
        connection.rollback()
        schemas: dict[str, dict[str, TableInfo]] = {}
        for schema, table, table_type, column, column_type, nullable in rows:
            tables = schemas.setdefault(schema, {})
            kind: Literal["table", "view"] = (
                "view" if "VIEW" in str(table_type).upper() else "table"
            )
            info = tables.setdefault(table, TableInfo(name=table, kind=kind))
            info.columns.append(
                ColumnInfo(name=column, type=str(column_type), nullable=nullable == "YES")
            )
        return [
            SchemaInfo(name=name, tables=list(tables.values())) for name, tables in schemas.items()
        ]
