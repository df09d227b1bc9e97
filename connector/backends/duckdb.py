"""DuckDB: a local ``.duckdb`` file, and Parquet, CSV and JSON files in one folder, through
the ``duckdb`` package (the ``duckdb`` extra).

The engine is SQLAlchemy with duckdb-engine's ``duckdb`` dialect, which works with the
pinned SQLAlchemy 2.0; its pool resets a returned connection with a rollback that tolerates
"no transaction is active". Our ``creator`` opens and locks down each connection itself, so
the driver connection the connector sees is duckdb-engine's ``ConnectionWrapper``, which
passes every DuckDB method (``execute``, ``fetchmany``, ``description``, ``interrupt``,
``extract_statements``) through to the DuckDB connection.

Every connection, read-only or not, is locked down before anyone uses it:

- extensions are neither installed nor loaded automatically, and none can be loaded by
  hand (``enable_external_access=false`` refuses it); community extensions, persistent
  secrets and Python replacement scans (a query reading a Python variable) are off;
- ``allowed_directories`` is the data folder alone and ``enable_external_access=false``,
  so DuckDB opens no file and no URL outside that folder (``read_csv('/etc/passwd')``,
  ``ATTACH`` of another file, ``COPY ... TO`` elsewhere, ``https://``, ``s3://``); DuckDB
  checks a name before it looks in a search path, so queries name files by their full
  path, e.g. ``SELECT * FROM '/data/prices/*.parquet'``;
- ``lock_configuration=true`` last, so no ``SET``, ``RESET`` or ``PRAGMA`` can undo it.

DuckDB keeps one database instance per file in a process, shared by all its connections;
a second connection to a file that is already open finds the instance locked and checks it
was locked the same way (the same folder), or refuses. Pooled connections keep the file
open between queries, and while a process has a DuckDB file open other programs may only
read it; removing or editing the connection closes it.

Read-only connections, on top of that, open the file ``read_only=True`` (DuckDB itself
refuses every write to it), and each statement is classified by
DuckDB's own parser (``extract_statements``) in the session before it runs: only SELECT
(with SHOW, DESCRIBE, SUMMARIZE, PIVOT, VALUES, FROM-first) and EXPLAIN of one are let
through. That is what refuses ``COPY ... TO`` and ``EXPORT DATABASE`` into the data folder
itself, which ``allowed_directories`` permits, and ``EXPLAIN ANALYZE COPY``, which runs the
copy. The statement guard (sqlglot) refuses the same statements first, with these rules
added for DuckDB (``INSTALL``, ``LOAD``, ``EXPORT``, ``IMPORT``, ``PRAGMA``, ``RESET``,
``CHECKPOINT``, ``USE``, ``PREPARE``...).

Without a database file, a connection reads the folder's files only: an in-memory database
that is read-only through the statement checks alone (DuckDB cannot open memory read-only).
Such a connection must be read-only.

DuckDB has no statement timeout to give per query (recent versions have a
``max_execution_time`` setting, which the locked configuration could not change per query),
so the query's watchdog is the timeout: at the deadline it fires the cancel hook,
``interrupt()`` on the connection, as ``DELETE /queries/{id}`` does.
DuckDB forgets an interrupt that arrives just before a statement starts, so the hook repeats
it until the driver call in progress returns.

Values, where the contract leaves a choice:

- DECIMAL is an exact ``Decimal``, HUGEINT/UHUGEINT and BIGNUM exact integers;
- TIMESTAMP WITH TIME ZONE carries its offset (in DuckDB's time zone, the machine's);
  TIME WITH TIME ZONE is text such as ``"13:45:00+02:00"``; ``infinity`` dates and
  timestamps come back as DuckDB's Python client gives them (9999-12-31...); nanoseconds
  are cut to microseconds;
- INTERVAL is an ISO 8601 duration in days and time (``"P423DT4H5M6.5S"``): DuckDB's
  Python client has already counted each month as 30 days;
- JSON is parsed; STRUCT, LIST, ARRAY and MAP are JSON objects and arrays (a MAP's keys
  written as text); UUID, ENUM and BIT are strings; BLOB is base64.

Must not import FastAPI.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal

import duckdb
import orjson
from duckdb_engine import ConnectionWrapper
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator
from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.pool import NullPool, QueuePool
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from connector.backends.base import Backend, DBAPIConnection, DBAPICursor, gather_comments
from connector.backends.files import local_database, shown
from connector.backends.funnel import ErrorRule, ErrorTable
from connector.errors import (
    BadParamError,
    DatabaseUnavailableError,
    InvalidRequestError,
    QueryCancelledError,
    ReadOnlyError,
    SqlError,
)
from connector.models import (
    Capabilities,
    ColumnInfo,
    Comments,
    ConnectionSpec,
    SchemaInfo,
    TableInfo,
)
from connector.running import QueryControl
from connector.statements import GuardRules
from connector.values import infer_column_types

# Bytes 8-11 of every DuckDB database file.
DUCKDB_MAGIC = b"DUCK"
INTERRUPT_REPEAT_S = 0.05
POOL_SIZE = 5
POOL_OVERFLOW = 10

# Given when the database instance starts (these cannot be changed later, or need not be).
_START_CONFIG: dict[str, Any] = {
    "autoinstall_known_extensions": False,
    "autoload_known_extensions": False,
    "allow_community_extensions": False,
    "allow_unsigned_extensions": False,
    "allow_persistent_secrets": False,
    "python_enable_replacements": False,
    # Outside any folder a user would pick, so INSTALL has nowhere to write.
    "extension_directory": str(Path(tempfile.gettempdir()) / "data-connector-no-extensions"),
}
# One connection at a time opens and locks a database instance (they are shared per file).
_OPEN_LOCK = threading.Lock()

# -- the statement checks ---------------------------------------------------------------

# The first word of a statement that only reads.
_READ_WORDS = frozenset(
    {"SELECT", "WITH", "FROM", "VALUES", "TABLE", "DESCRIBE", "DESC", "SHOW", "SUMMARIZE",
     "PIVOT", "UNPIVOT", "PIVOT_WIDER", "PIVOT_LONGER"}
)  # fmt: skip
_EXPLAIN_OPTIONS = frozenset({"ANALYZE", "ANALYSE"})
_DUCKDB = Dialect.get_or_raise("duckdb")


def _guard_check(tokens: Sequence[Token], _trees: Sequence[Any]) -> None:
    """The statement guard's DuckDB rule: a read-only statement starts with a reading word
    (after ``EXPLAIN [ANALYZE] [(options)]`` and opening parentheses)."""
    words = [token for token in tokens if token.token_type != TokenType.SEMICOLON]
    if words and words[0].token_type == TokenType.COMMAND and words[0].text.upper() == "EXPLAIN":
        # sqlglot keeps what follows a command as one token: read it again.
        try:
            words = list(_DUCKDB.tokenize(" ".join(token.text for token in words[1:])))
        except SqlglotError as exc:
            raise ReadOnlyError("This connection is read-only and refuses this EXPLAIN.") from exc
        words = _after_explain(words)
    index = 0
    while index < len(words) and words[index].token_type == TokenType.L_PAREN:
        index += 1
    word = words[index].text.upper() if index < len(words) else ""
    if word not in _READ_WORDS:
        raise ReadOnlyError(
            f"This connection is read-only and refuses {word or 'this'} statements."
        )


def _after_explain(words: list[Token]) -> list[Token]:
    """The explained statement's tokens, without ``ANALYZE`` and an ``(options)`` list."""
    index = 0
    if index < len(words) and words[index].text.upper() in _EXPLAIN_OPTIONS:
        index += 1
    if index < len(words) and words[index].token_type == TokenType.L_PAREN:
        depth = 0
        for position in range(index, len(words)):
            kind = words[position].token_type
            depth += (kind == TokenType.L_PAREN) - (kind == TokenType.R_PAREN)
            if depth == 0:
                return words[position + 1 :]
        return []
    return words[index:]


_SKIP = r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/)*"
_EXPLAIN_HEAD = re.compile(
    _SKIP + r"EXPLAIN\b" + _SKIP + r"(?:ANALY[SZ]E\b" + _SKIP + r")?(?:\([^()]*\)" + _SKIP + r")?",
    re.IGNORECASE | re.DOTALL,
)
_FIRST_WORD = re.compile(r"(?:\s+|--[^\n]*(?:\n|$)|/\*.*?\*/|\()*(\w+)", re.DOTALL)
_PIVOT_WORDS = frozenset({"PIVOT", "UNPIVOT", "PIVOT_WIDER", "PIVOT_LONGER"})


def _check_statement(connection: Any, sql: str, *, read_only: bool) -> None:
    """Refuse what DuckDB's own parser says is more than one statement, and on read-only
    connections anything but a read (see the module docstring)."""
    statements = connection.extract_statements(sql)
    # DuckDB 1.4 splits a PIVOT without an IN list into statements of its own making, without
    # text (a temporary ENUM type, then the SELECT): they count as the one written.
    written = [statement for statement in statements if str(statement.query).strip()]
    if len(written) > 1 or not statements:
        raise SqlError(f"Send one statement per request; DuckDB reads {len(written)} here.")
    if read_only:
        for statement in statements:
            _refuse_unless_read(connection, statement)


def _refuse_unless_read(connection: Any, statement: Any) -> None:
    kind = statement.type
    text = str(statement.query)
    if kind == duckdb.StatementType.SELECT or (
        kind == duckdb.StatementType.CREATE and not text.strip()
    ):
        return
    if kind == duckdb.StatementType.EXPLAIN:
        head = _EXPLAIN_HEAD.match(text)
        inner = connection.extract_statements(text[head.end() :]) if head else []
        if len(inner) == 1:
            _refuse_unless_read(connection, inner[0])
            return
    first = _FIRST_WORD.match(text)
    word = first.group(1).upper() if first else str(getattr(kind, "name", kind))
    # A PIVOT without an IN list runs as several statements (so do some writes).
    if kind == duckdb.StatementType.MULTI and word in _PIVOT_WORDS:
        return
    if word in _READ_WORDS:  # WITH ... INSERT: name what it does
        word = str(getattr(kind, "name", kind)).replace("_", " ")
    raise ReadOnlyError(f"This connection is read-only and DuckDB refuses {word} statements on it.")


# -- values ------------------------------------------------------------------------------


def _parse_json(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    try:
        return orjson.loads(value)
    except orjson.JSONDecodeError:
        return value


def _iso_duration(value: Any) -> Any:
    """A ``timedelta`` as an ISO 8601 duration in days and time: ``P1DT2H3M4.5S``."""
    if not isinstance(value, dt.timedelta):
        return value
    total = value.days * 86_400_000_000 + value.seconds * 1_000_000 + value.microseconds
    sign = "-" if total < 0 else ""
    days, rest = divmod(abs(total), 86_400_000_000)
    hours, rest = divmod(rest, 3_600_000_000)
    minutes, micros = divmod(rest, 60_000_000)
    seconds = f"{micros // 1_000_000}.{micros % 1_000_000:06d}".rstrip("0").rstrip(".")
    clock = "".join(
        f"{amount}{unit}"
        for amount, unit in ((hours, "H"), (minutes, "M"), (seconds, "S"))
        if amount not in (0, "0")
    )
    text = (f"{days}D" if days else "") + (f"T{clock}" if clock else "")
    return f"{sign}P{text or 'T0S'}"


def _to_int(value: Any) -> Any:
    try:
        return int(value) if isinstance(value, str) else value
    except ValueError:
        return value


def _plain(value: Any) -> Any:
    """Nested values JSON can hold: text keys for MAPs, text for times with an offset."""
    if isinstance(value, dict):
        return {key if isinstance(key, str) else str(key): _plain(v) for key, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(item) for item in value]
    if isinstance(value, dt.time) and value.tzinfo is not None:
        return value.isoformat()
    return value


Converter = Callable[[Any], Any]
_CONVERTERS: dict[str, Converter] = {
    "JSON": _parse_json,
    "INTERVAL": _iso_duration,
    "BIGNUM": _to_int,
    "VARINT": _to_int,
    "TIME WITH TIME ZONE": _plain,
}
_COLUMN_TYPES: dict[str, str] = {
    **dict.fromkeys(
        ("TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT", "UTINYINT", "USMALLINT",
         "UINTEGER", "UBIGINT", "UHUGEINT", "BIGNUM", "VARINT"),
        "integer",
    ),
    "FLOAT": "float",
    "DOUBLE": "float",
    "BOOLEAN": "boolean",
    "DATE": "date",
    **dict.fromkeys(("TIME", "TIME WITH TIME ZONE", "TIME_NS"), "time"),
    **dict.fromkeys(
        ("TIMESTAMP", "TIMESTAMP WITH TIME ZONE", "TIMESTAMP_S", "TIMESTAMP_MS", "TIMESTAMP_NS"),
        "datetime",
    ),
    "BLOB": "binary",
    "JSON": "json",
    **dict.fromkeys(("VARCHAR", "UUID", "INTERVAL", "BIT"), "string"),
}  # fmt: skip


_ARRAY = re.compile(r"\[\d+\]")


def _type_name(type_code: Any) -> str:
    return str(type_code).upper()


def _is_nested(name: str) -> bool:
    return name.startswith(("STRUCT(", "MAP(", "UNION(")) or name.endswith("]")


_DECIMAL = re.compile(r"^DECIMAL\((\d+),\s*(\d+)\)$")


def column_type(type_code: Any) -> str | None:
    """The contract type of a DuckDB column type, or None to infer it from the values."""
    name = _type_name(type_code)
    if name in _COLUMN_TYPES:
        return _COLUMN_TYPES[name]
    if name.startswith("DECIMAL"):
        return "decimal"
    if name.startswith(("VARCHAR", "ENUM(")):
        return "string"
    if name.startswith("UNION("):
        return None
    return "json" if _is_nested(name) else None


def _converter(type_code: Any) -> Converter | None:
    name = _type_name(type_code)
    if name in _CONVERTERS:
        return _CONVERTERS[name]
    # A MAP's keys, a time's offset, a fixed ARRAY's tuple: nothing JSON or CSV can hold.
    if _is_nested(name) and (
        "MAP(" in name or "TIME WITH TIME ZONE" in name or _ARRAY.search(name)
    ):
        return _plain
    return None


# -- the cursor a query sees -------------------------------------------------------------


class DuckdbCursor:
    """One query's view of a pooled DuckDB connection: checks the statement, runs it, and
    turns values JSON cannot hold as they are (see the module docstring) while fetching."""

    def __init__(self, connection: Any, control: QueryControl, *, read_only: bool) -> None:
        self._connection = connection
        self._control = control
        self._read_only = read_only
        self._converters: list[tuple[int, Converter]] = []
        # Set while no driver call is in progress; changed, and interrupts sent, under the lock.
        self._idle = threading.Event()
        self._idle.set()
        self._lock = threading.Lock()
        self._closed = False

    def _call(self, method: Callable[..., Any], *args: Any) -> Any:
        with self._lock:
            self._idle.clear()  # before looking at the control: see ``interrupt``
        try:
            if self._control.stopped:
                raise self._control.stopped_error()
            return method(*args)
        finally:
            with self._lock:
                self._idle.set()

    def execute(self, sql: str, params: Any = None) -> None:
        _check_statement(self._connection, sql, read_only=self._read_only)
        if params is None:
            self._call(self._connection.execute, sql)
        else:
            self._call(self._connection.execute, sql, params)
        description = self._connection.description or []
        self._converters = [
            (index, found)
            for index, item in enumerate(description)
            if (found := _converter(item[1])) is not None
        ]

    @property
    def description(self) -> Any:
        return self._connection.description

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        rows: list[tuple[Any, ...]] = self._call(self._connection.fetchmany, size)
        if not self._converters or not rows:
            return rows
        converters = self._converters
        converted = []
        for row in rows:
            values = list(row)
            for index, convert in converters:
                if values[index] is not None:
                    values[index] = convert(values[index])
            converted.append(tuple(values))
        return converted

    def interrupt(self) -> None:
        """The cancel hook: interrupt now, and again until the driver call returns.

        DuckDB clears a pending interrupt when a statement starts, so one that lands between
        ``_call`` looking at the control and DuckDB starting would be lost; ``_call`` marks
        itself busy before it looks, so either it sees the stop or this sees it busy. Once
        the session is over, nothing is sent: the pooled connection may run another query.
        """
        with self._lock:
            if self._closed:
                return
            self._connection.interrupt()
            busy = not self._idle.is_set()
        if busy:
            threading.Thread(target=self._keep_interrupting, daemon=True).start()

    def _keep_interrupting(self) -> None:
        while not self._idle.wait(INTERRUPT_REPEAT_S):
            with self._lock:
                if self._closed or self._idle.is_set():
                    return
                try:
                    self._connection.interrupt()
                except duckdb.Error:
                    return

    def close(self) -> None:
        with self._lock:
            self._closed = True
        self._converters = []


# -- options, errors ---------------------------------------------------------------------


class DuckdbOptions(BaseModel):
    model_config = ConfigDict(extra="forbid")

    path: str | None = Field(
        default=None,
        title="Database file",
        description=(
            "The DuckDB database file; it must exist. Leave it empty to query only the "
            "files in the data folder."
        ),
        json_schema_extra={"format": "path"},
    )
    files: str | None = Field(
        default=None,
        title="Data folder",
        description=(
            "A folder of Parquet, CSV and JSON files that queries may read, by full path "
            "(SELECT * FROM '/folder/prices.parquet'); DuckDB opens nothing outside it."
        ),
        json_schema_extra={"format": "folder"},
    )

    @field_validator("path")
    @classmethod
    def _existing_database(cls, value: str | None) -> str | None:
        if value is None:
            return None
        _local_path(value)  # a local path, not a URL or DuckDB name
        # Never blocks: a FIFO or device is refused before it is opened.
        path, header = local_database(value, "DuckDB database file", 12)
        if header[8:12] != DUCKDB_MAGIC:
            raise ValueError(f"{shown(value)} is not a DuckDB database")
        return str(path)

    @field_validator("files")
    @classmethod
    def _existing_folder(cls, value: str | None) -> str | None:
        if value is None:
            return None
        path = _local_path(value)
        if not path.is_dir():
            raise ValueError(f"no folder at {value}")
        return str(path.resolve())

    @model_validator(mode="after")
    def _something_to_query(self) -> DuckdbOptions:
        if self.path is None and self.files is None:
            raise ValueError("give a DuckDB database file, a data folder, or both")
        return self


_SCHEME = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]+:")


def _local_path(value: str) -> Path:
    if "\x00" in value:
        raise ValueError("the path contains a NUL character")
    # "md:", "s3://", ":memory:" mean something else to DuckDB (a drive letter is one letter).
    if value.startswith(":") or _SCHEME.match(value):
        raise ValueError(f"{value!r} is not a local path")
    return Path(value).expanduser()


_NEXT_SENTENCE = re.compile(r"[.!?] +(?=[A-Z\"(])")


def _message(exc: BaseException) -> str:
    """DuckDB's first sentence: its messages go on with hints ("Did you mean ...?",
    "Candidate bindings: ...") and end in "!", where the contract wants one sentence."""
    lines = str(exc).strip().splitlines()
    first = lines[0].strip() if lines else ""
    found = _NEXT_SENTENCE.search(first)
    if found:
        first = first[: found.start() + 1]
    return first[:-1] + "." if first.endswith("!") else first


ERRORS = ErrorTable(
    label="DuckDB",
    message_of=_message,
    rules=(
        # interrupt() from outside a stop the runner knows of.
        ErrorRule(
            QueryCancelledError, "The query was interrupted.", classes=("InterruptException",)
        ),
        ErrorRule(
            ReadOnlyError,
            classes=("PermissionException",),
            prefix=(
                "This connection may read only the files in its data folder, by full path, "
                "and load no extensions; DuckDB refused: "
            ),
        ),
        ErrorRule(
            ReadOnlyError,
            "This connection's DuckDB settings are locked; SET, RESET and PRAGMA settings are refused.",
            phrases=("configuration has been locked", "cannot change configuration option"),
        ),
        ErrorRule(
            ReadOnlyError,
            "This connection is read-only and DuckDB refused the write.",
            classes=("InvalidInputException", "CatalogException", "TransactionException"),
            phrases=("read-only mode", "read only mode"),
        ),
        ErrorRule(
            ReadOnlyError,
            "This connection keeps no DuckDB secrets; persistent secrets are off.",
            phrases=("persistent secrets are disabled",),
        ),
        ErrorRule(
            BadParamError,
            "A parameter is an integer too large for DuckDB (128-bit).",
            phrases=("python integer too large",),
        ),
        ErrorRule(
            DatabaseUnavailableError,
            "This DuckDB file is already open in this server with other settings (read-only "
            "or not, or another data folder); a server opens a file one way at a time.",
            classes=("ConnectionException", "DatabaseUnavailableError"),
            phrases=("different configuration", "other settings"),
        ),
        ErrorRule(
            DatabaseUnavailableError,
            "Another program has this DuckDB file open for writing, and DuckDB lets a file be "
            "written by one program or read by many; close it there and try again.",
            classes=("IOException",),
            phrases=("could not set lock", "conflicting lock"),
        ),
        ErrorRule(
            DatabaseUnavailableError,
            classes=("IOException", "ConnectionException", "FatalException", "InternalException"),
            prefix="DuckDB could not use the database: ",
        ),
        ErrorRule(
            DatabaseUnavailableError,
            classes=("OutOfMemoryException",),
            prefix="DuckDB ran out of memory: ",
        ),
        # Anything else DuckDB raises about a statement is the SQL's problem.
        ErrorRule(SqlError, classes=("Error", "Warning")),
    ),
)


# -- opening a connection ----------------------------------------------------------------


def _setting(connection: Any, name: str) -> Any:
    return connection.execute("SELECT current_setting(?)", [name]).fetchone()[0]


def _bare(path: Any) -> str:
    return str(path or "").rstrip("/\\")


def _lock_down(connection: Any, folder: str | None) -> None:
    """Limit file access to ``folder`` and lock the configuration, or check that the shared
    instance was locked the same way (see the module docstring)."""
    allowed = [os.path.join(folder, "")] if folder else []
    if _setting(connection, "lock_configuration"):
        # DuckDB adds its own temporary directory to the list.
        own = {_bare(_setting(connection, "temp_directory"))}
        present = {_bare(entry) for entry in _setting(connection, "allowed_directories") or []}
        if _setting(connection, "enable_external_access") or present - own != {
            _bare(entry) for entry in allowed
        }:
            raise DatabaseUnavailableError(
                "This DuckDB file is already open in this server with other settings "
                "(another data folder); a server opens a file one way at a time."
            )
        return
    if allowed:
        connection.execute("SET allowed_directories = ?", [allowed])
    connection.execute("SET enable_external_access = false")
    connection.execute("SET lock_configuration = true")


def connect_duckdb(path: str | None, folder: str | None, *, read_only: bool) -> Any:
    """A locked-down DuckDB connection to ``path`` (or to memory, reading ``folder`` only)."""
    with _OPEN_LOCK:
        if path is None:
            connection = duckdb.connect(":memory:", config=dict(_START_CONFIG))
        else:
            connection = duckdb.connect(path, read_only=read_only, config=dict(_START_CONFIG))
        try:
            _lock_down(connection, folder)
        except BaseException:
            connection.close()
            raise
    return connection


class DuckdbBackend(Backend):
    kind = "duckdb"
    label = "DuckDB"
    dialect = "duckdb"
    paramstyle = "qmark"
    options_model = DuckdbOptions
    secret_use = "none"
    capabilities = Capabilities(
        session_read_only=True,
        cancel=True,
        server_timeout=False,
        schema_browsing=True,
        streaming_export=True,
    )
    errors = ERRORS
    guard_rules = GuardRules(check=_guard_check)

    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        options = DuckdbOptions.model_validate(spec.options)
        path, folder, read_only = options.path, options.files, spec.read_only
        if path is None and not read_only:
            raise InvalidRequestError(
                "A DuckDB connection without a database file must be read-only."
            )

        def creator() -> ConnectionWrapper:
            return ConnectionWrapper(connect_duckdb(path, folder, read_only=read_only))

        pool: dict[str, Any] = (
            {"poolclass": QueuePool, "pool_size": POOL_SIZE, "max_overflow": POOL_OVERFLOW}
            if pooled
            else {"poolclass": NullPool}
        )
        return create_engine(
            URL.create("duckdb", database=path or ":memory:"),
            creator=creator,
            hide_parameters=True,
            **pool,
        )

    @contextmanager
    def session(
        self,
        connection: DBAPIConnection,
        control: QueryControl,
        *,
        read_only: bool,
        stream: bool,
    ) -> Iterator[DBAPICursor]:
        cursor = DuckdbCursor(connection, control, read_only=read_only)
        control.set_cancel_hook(cursor.interrupt)
        try:
            yield cursor
        finally:
            control.set_cancel_hook(None)
            cursor.close()

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        inferred = infer_column_types(len(description), rows)
        return [
            column_type(item[1]) or guess for item, guess in zip(description, inferred, strict=True)
        ]

    def decimal_shapes(self, description: Sequence[Sequence[Any]]) -> list[tuple[int, int] | None]:
        """From the type DuckDB names: ``DECIMAL(18,3)``."""
        shapes: list[tuple[int, int] | None] = []
        for item in description:
            found = _DECIMAL.match(str(item[1]))
            shapes.append((int(found.group(1)), int(found.group(2))) if found else None)
        return shapes

    def server_version(self, connection: DBAPIConnection) -> str:
        return f"DuckDB {connection.execute('SELECT version()').fetchone()[0]}"

    def describe_comments(self, connection: DBAPIConnection) -> dict[tuple[str, str], Comments]:
        """``COMMENT ON TABLE/VIEW/COLUMN``, from DuckDB's own catalog functions."""
        rows = connection.execute(
            "SELECT schema_name, table_name, NULL, comment FROM duckdb_tables() "
            "WHERE database_name = current_database() AND comment IS NOT NULL "
            "UNION ALL SELECT schema_name, view_name, NULL, comment FROM duckdb_views() "
            "WHERE database_name = current_database() AND comment IS NOT NULL "
            "AND NOT internal "
            "UNION ALL SELECT schema_name, table_name, column_name, comment "
            "FROM duckdb_columns() WHERE database_name = current_database() "
            "AND comment IS NOT NULL"
        ).fetchall()
        return gather_comments(rows)

    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        hidden = "('information_schema', 'pg_catalog')"
        names = connection.execute(
            "SELECT schema_name FROM information_schema.schemata "
            f"WHERE catalog_name = current_database() AND schema_name NOT IN {hidden} "
            "ORDER BY schema_name"
        ).fetchall()
        rows = connection.execute(
            "SELECT t.table_schema, t.table_name, t.table_type, c.column_name, c.data_type, "
            "c.is_nullable FROM information_schema.tables AS t "
            "LEFT JOIN information_schema.columns AS c ON c.table_catalog = t.table_catalog "
            "AND c.table_schema = t.table_schema AND c.table_name = t.table_name "
            f"WHERE t.table_catalog = current_database() AND t.table_schema NOT IN {hidden} "
            "ORDER BY t.table_schema, t.table_name, c.ordinal_position"
        ).fetchall()
        schemas: dict[str, dict[str, TableInfo]] = {str(name): {} for (name,) in names}
        for schema, table, table_type, column, column_type_name, nullable in rows:
            tables = schemas.setdefault(schema, {})
            kind: Literal["table", "view"] = "view" if table_type == "VIEW" else "table"
            info = tables.setdefault(table, TableInfo(name=table, kind=kind))
            if column is not None:
                info.columns.append(
                    ColumnInfo(name=column, type=str(column_type_name), nullable=nullable == "YES")
                )
        return [
            SchemaInfo(name=name, tables=list(tables.values())) for name, tables in schemas.items()
        ]
