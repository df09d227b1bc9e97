"""Snowflake, through snowflake-sqlalchemy and the official ``snowflake-connector-python``.

Sign-in: password (``snowflake``), key pair (``snowflake_jwt``, a PEM private key as the
secret, see ``snowflake_auth``) or ``externalbrowser`` SSO (no secret; the desktop user
signs in in a browser). ``host``, ``port`` and ``protocol`` go to the connector as
``connect_args`` (private endpoints, and the fakesnow server in tests), never into the URL.

Each query carries ``STATEMENT_TIMEOUT_IN_SECONDS`` as a statement parameter, so Snowflake
itself stops it at the deadline without an extra round trip. Cancel runs
``SYSTEM$CANCEL_QUERY('<query id>')`` on a second cursor once the query id is known, and
``SYSTEM$CANCEL_ALL_QUERIES(<session id>)`` while the statement is still being sent (a
pooled session runs one query at a time). Values are bound server-side (``qmark``).

Sessions are in autocommit mode, so a write is committed by Snowflake as the statement
ends (and a statement that fails leaves nothing). Snowflake cannot make a session
read-only, so its capabilities say ``session_read_only`` is False: the statement guard refuses writes (with this module's rules for ``SYSTEM$``
functions), and the docs recommend a role that can only read.

Column types come from the cursor description's type codes; VARIANT, OBJECT and ARRAY,
which the connector hands over as JSON text, are parsed.

Must not import FastAPI.
"""

from __future__ import annotations

import contextlib
import math
import re
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, field_validator
from sqlalchemy import URL, Engine, create_engine
from sqlalchemy.pool import NullPool, QueuePool
from sqlglot.tokenizer_core import Token, TokenType

from connector.arrow_tables import encode_tables
from connector.backends.base import Backend, DBAPIConnection, DBAPICursor, gather_comments
from connector.backends.funnel import ErrorRule, ErrorTable, first_sentence
from connector.backends.snowflake_auth import check_account, load_private_key
from connector.columnar import COLUMNAR_FORMATS
from connector.errors import (
    DatabaseUnavailableError,
    InvalidRequestError,
    QueryCancelledError,
    QueryTimeoutError,
    ReadOnlyError,
    SqlError,
)
from connector.fastpath import NativePlan
from connector.models import (
    Capabilities,
    Column,
    ColumnInfo,
    Comments,
    ConnectionSpec,
    ProbeResult,
    SchemaInfo,
    TableInfo,
)
from connector.running import QueryControl
from connector.statements import READ_ONLY_REFUSAL, BoundStatement, GuardRules

Authenticator = Literal["snowflake", "snowflake_jwt", "externalbrowser"]

# snowflake.connector.constants.FIELD_TYPES, by type code.
_TYPE_CODES: dict[int, str] = {
    1: "float",  # REAL
    2: "string",  # TEXT
    3: "date",
    4: "datetime",  # TIMESTAMP
    5: "json",  # VARIANT
    6: "datetime",  # TIMESTAMP_LTZ
    7: "datetime",  # TIMESTAMP_TZ
    8: "datetime",  # TIMESTAMP_NTZ
    9: "json",  # OBJECT
    10: "json",  # ARRAY
    11: "binary",
    12: "time",
    13: "boolean",
    14: "json",  # GEOGRAPHY, as GeoJSON
    15: "json",  # GEOMETRY, as GeoJSON
    16: "json",  # VECTOR
}
_JSON_CODES = frozenset({5, 9, 10, 14, 15})
_QUERY_ID = re.compile(r"^[0-9a-fA-F-]{1,64}$")
_IDENTIFIER_BAD = re.compile(r"[\x00-\x1f\x7f]")
LOGIN_TIMEOUT_S = 60
CLIENT_GRACE_S = 2


def _identifier(value: str | None) -> str | None:
    if value is None:
        return None
    text = value.strip()
    if not text:
        return None
    if _IDENTIFIER_BAD.search(text) or len(text) > 255:
        raise ValueError("must be a name of at most 255 printable characters")
    return text


class SnowflakeOptions(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    account: str = Field(
        title="Account",
        description="The account identifier: 'orgname-accountname' or a locator such as "
        "'xy12345.eu-west-1' (the part before .snowflakecomputing.com).",
    )
    user: str = Field(
        title="User", description="The login name; externalbrowser sign-in needs it too."
    )
    warehouse: str | None = Field(
        default=None, title="Warehouse", description="The warehouse queries run on."
    )
    database: str | None = Field(
        default=None, title="Database", description="The session's current database."
    )
    # "schema" shadows a BaseModel attribute, hence the alias.
    schema_: str | None = Field(
        default=None, alias="schema", title="Schema", description="The session's current schema."
    )
    role: str | None = Field(
        default=None,
        title="Role",
        description="The role to use; a role that can only read is recommended.",
    )
    authenticator: Authenticator = Field(
        default="snowflake",
        title="Sign-in",
        description="snowflake (password), snowflake_jwt (key pair) or externalbrowser (SSO).",
    )
    host: str | None = Field(
        default=None,
        title="Host",
        description="Only for private endpoints and tests: the host to reach instead of the "
        "account's own.",
        json_schema_extra={"advanced": True},
    )
    port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        title="Port",
        description="Only with host: its port.",
        json_schema_extra={"advanced": True},
    )
    protocol: Literal["https", "http"] | None = Field(
        default=None,
        title="Protocol",
        description="Only with host: https (the default) or http.",
        json_schema_extra={"advanced": True},
    )
    login_timeout_s: int = Field(
        default=LOGIN_TIMEOUT_S,
        ge=1,
        le=600,
        title="Sign-in timeout (s)",
        description="Seconds to wait for Snowflake to sign in.",
        json_schema_extra={"advanced": True},
    )

    @field_validator("account")
    @classmethod
    def _account(cls, value: str) -> str:
        return check_account(value)

    @field_validator("user")
    @classmethod
    def _user(cls, value: str) -> str:
        name = _identifier(value)
        if name is None:
            raise ValueError("the user (login name) is required")
        return name

    @field_validator("warehouse", "database", "schema_", "role", "host")
    @classmethod
    def _names(cls, value: str | None) -> str | None:
        return _identifier(value)


def _options(spec_options: dict[str, Any]) -> SnowflakeOptions:
    return SnowflakeOptions.model_validate(spec_options)


def cancel_statement(query_id: str | None, session_id: int | None) -> str | None:
    """The SQL that stops a running query: by query id when known, else by session."""
    if query_id and _QUERY_ID.match(query_id):
        return f"SELECT SYSTEM$CANCEL_QUERY('{query_id}')"
    if session_id is not None:
        return f"SELECT SYSTEM$CANCEL_ALL_QUERIES({int(session_id)})"
    return None


def _message(exc: BaseException) -> str:
    """A connector error's message on one line, without its ``errno (sqlstate):`` prefix."""
    text = getattr(exc, "msg", None) or str(exc)
    text = re.sub(r"^\d{6} \([0-9A-Z]{5}\): ", "", str(text).strip())
    return " ".join(text.split())


# SYSTEM$ functions that only read; the others (SYSTEM$ABORT_SESSION, SYSTEM$CANCEL_QUERY,
# SYSTEM$TASK_DEPENDENTS_ENABLE, ...) change state from inside a SELECT.
READ_SYSTEM_FUNCTIONS = frozenset(
    {
        "SYSTEM$TYPEOF", "SYSTEM$CLUSTERING_INFORMATION", "SYSTEM$CLUSTERING_DEPTH",
        "SYSTEM$EXPLAIN_PLAN_JSON", "SYSTEM$EXPLAIN_JSON_TO_TEXT", "SYSTEM$GET_TAG",
        "SYSTEM$STREAM_HAS_DATA", "SYSTEM$LAST_CHANGE_COMMIT_TIME", "SYSTEM$WAIT",
        "SYSTEM$BEHAVIOR_CHANGE_BUNDLE_STATUS", "SYSTEM$ALLOWLIST",
        "SYSTEM$GET_TASK_GRAPH_CONFIG", "SYSTEM$ESTIMATE_SEARCH_OPTIMIZATION_COSTS",
        "SYSTEM$GET_PREDECESSOR_RETURN_VALUE",
    }
)  # fmt: skip


def check_system_calls(tokens: Sequence[Token], _trees: Sequence[Any]) -> None:
    """Refuse a SYSTEM$ function that is not known to only read."""
    for token in tokens:
        word = token.text.upper()
        if (
            token.token_type == TokenType.VAR
            and word.startswith("SYSTEM$")
            and word not in READ_SYSTEM_FUNCTIONS
        ):
            raise ReadOnlyError(f"{READ_ONLY_REFUSAL}refuses {word}().")


# The connector's PEP 249 errors carry a Snowflake error number; these explain the ones
# users meet while signing in or setting up a session. Each is known by its number, or
# by its message where the number was not confirmed against a real account.
_SIGN_IN_ERRORS: tuple[tuple[frozenset[int | str], tuple[str, ...], str], ...] = (
    (
        frozenset({390100}),
        ("incorrect username or password",),
        "Snowflake refused the user name or password; check the user option and the password.",
    ),
    (
        frozenset({390106, 390120, 390123}),
        ("password has expired", "password expired", "password change"),
        "The Snowflake password of this user has expired; set a new one in Snowsight "
        "(or ask your administrator) and update this connection's secret.",
    ),
    (
        frozenset({390422, 390420}),
        ("is not allowed to access snowflake", "network policy"),
        "Snowflake's network policy does not allow this machine's IP address; ask your "
        "Snowflake administrator to add it to the policy.",
    ),
    (
        frozenset({390189, 390186}),
        ("specified in the connect string",),
        "Snowflake refused the role: it does not exist or is not granted to this user; "
        "set the role option to one of the user's roles (SHOW GRANTS TO USER).",
    ),
    (
        frozenset({390144, 394304}),
        ("jwt token is invalid",),
        "Snowflake refused the key-pair sign-in; check that the user's RSA_PUBLIC_KEY "
        "matches this private key and that the user name is right.",
    ),
    (
        frozenset({606}),
        ("no active warehouse selected",),
        "This Snowflake session has no usable warehouse; set the warehouse option to a "
        "warehouse your role may use (SHOW WAREHOUSES), or grant USAGE on it to the role.",
    ),
    (
        frozenset({250001, 250003, 251005, 251011, 251012}),
        ("could not connect to snowflake backend", "failed to connect to db"),
        "Could not reach Snowflake; check the account identifier ('orgname-accountname' "
        "or a locator such as 'xy12345.eu-west-1') and this machine's network.",
    ),
)


def _errno(exc: BaseException) -> int | None:
    errno = getattr(exc, "errno", None)
    return errno if isinstance(errno, int) else None


def _by_number_or_message(
    error: type[Any], sentence: Any, codes: frozenset[int | str], phrases: tuple[str, ...]
) -> tuple[ErrorRule, ErrorRule]:
    return ErrorRule(error, sentence, codes=codes), ErrorRule(error, sentence, phrases=phrases)


def _session_setup_sentence(message: str) -> str:
    said = first_sentence(message).rstrip(".!?")
    return f"Snowflake: {said}; check the warehouse, database, schema and role options."


ERRORS = ErrorTable(
    label="Snowflake",
    code_of=_errno,
    message_of=lambda exc: _message(exc),
    prefix="Snowflake: ",
    rules=(
        *_by_number_or_message(
            QueryTimeoutError,
            "The query ran past its timeout and Snowflake stopped it.",
            frozenset({630}),
            ("reached its statement or warehouse timeout",),
        ),
        *_by_number_or_message(
            QueryCancelledError,
            "The query was cancelled.",
            frozenset({604}),
            ("sql execution canceled",),
        ),
        *(
            rule
            for codes, phrases, sentence in _SIGN_IN_ERRORS
            for rule in _by_number_or_message(DatabaseUnavailableError, sentence, codes, phrases)
        ),
        *_by_number_or_message(
            SqlError,
            "This Snowflake session has no current database; set the connection's "
            "database option, or name tables in full (DATABASE.SCHEMA.TABLE).",
            frozenset({90105}),
            ("does not have a current database",),
        ),
        *_by_number_or_message(
            DatabaseUnavailableError,
            _session_setup_sentence,
            frozenset({390201, 390202}),
            ("the requested",),
        ),
        ErrorRule(SqlError, classes=("_Warning",), prefix="Snowflake: "),
        # The connector's own set-up errors (configuration files, optional packages).
        ErrorRule(
            DatabaseUnavailableError,
            classes=("MissingDependencyError", "ConfigSourceError", "ConfigManagerError"),
            prefix="The Snowflake connector could not start: ",
        ),
    ),
)


def _not_used(batches: Any) -> Iterator[bytes]:
    """A streamed plan's encoder: never called (its stream writes the bytes)."""
    raise AssertionError("a streamed plan has no row encoder")


class SnowflakeCursor:
    """The connector's cursor with the query's timeout, its query id and parsed JSON columns."""

    def __init__(self, connection: DBAPIConnection, control: QueryControl) -> None:
        self._connection = connection
        self._cursor = connection.cursor()
        self._control = control
        self._json_columns: tuple[int, ...] = ()
        self.query_id: str | None = None
        self.sent_timeout_s: int | None = None

    @property
    def description(self) -> Any:
        return self._cursor.description

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> None:
        timeout = max(1, math.ceil(self._control.remaining_s()))
        self.sent_timeout_s = timeout
        # Snowflake stops the statement at STATEMENT_TIMEOUT_IN_SECONDS; ``timeout=`` also
        # bounds the connector's own retries (it then aborts the request itself).
        self._cursor.execute(
            sql,
            params,
            timeout=timeout + CLIENT_GRACE_S,
            _statement_params={"STATEMENT_TIMEOUT_IN_SECONDS": timeout},
        )
        self.query_id = self._cursor.sfqid
        description = self._cursor.description or ()
        self._json_columns = tuple(
            index for index, item in enumerate(description) if item[1] in _JSON_CODES
        )

    def _parsed(self, rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
        if not self._json_columns or not rows:
            return rows
        columns = self._json_columns
        out = []
        for row in rows:
            values = list(row)
            for index in columns:
                value = values[index]
                if isinstance(value, str):
                    with contextlib.suppress(orjson.JSONDecodeError):  # else keep the text
                        values[index] = orjson.loads(value)
            out.append(tuple(values))
        return out

    def fetchmany(self, size: int) -> list[tuple[Any, ...]]:
        return self._parsed(self._cursor.fetchmany(size))

    def arrow_tables(self) -> Iterator[Any]:
        """The result as the connector's pyarrow Tables, one per result chunk, timestamps in
        microseconds (the row path's precision) so that every chunk has the same types."""
        return iter(self._cursor.fetch_arrow_batches(force_microsecond_precision=True))

    def fetchall(self) -> list[tuple[Any, ...]]:
        return self._parsed(self._cursor.fetchall())

    def fetchone(self) -> tuple[Any, ...] | None:
        row = self._cursor.fetchone()
        return None if row is None else self._parsed([row])[0]

    def cancel_in_database(self) -> None:
        """Stop this cursor's query in Snowflake, from another thread."""
        sql = cancel_statement(self.query_id, getattr(self._connection, "session_id", None))
        if sql is None:
            return
        other = self._connection.cursor()
        try:
            other.execute(sql)
        finally:
            other.close()

    def close(self) -> None:
        self._cursor.close()


class SnowflakeBackend(Backend):
    kind = "snowflake"
    label = "Snowflake"
    dialect = "snowflake"
    paramstyle = "qmark"
    options_model = SnowflakeOptions
    secret_use = "optional"
    secret_label = "Password or private key"
    secret_help = (
        "The password for snowflake sign-in; for snowflake_jwt the PEM private key, or "
        '{"private_key": "<PEM>", "passphrase": "..."} for an encrypted one.'
    )
    capabilities = Capabilities(
        session_read_only=False,
        cancel=True,
        server_timeout=True,
        schema_browsing=True,
        streaming_export=True,
    )
    errors = ERRORS
    guard_rules = GuardRules(check=check_system_calls)
    # The session's defaults; account, host, port, protocol, user and authenticator decide
    # where the secret goes and what it signs in as.
    secret_free_options = frozenset({"warehouse", "database", "schema", "role", "login_timeout_s"})

    def __init__(self) -> None:
        # The warehouse each engine signs in with, for the connection test's check.
        self._warehouses: weakref.WeakKeyDictionary[Engine, str] = weakref.WeakKeyDictionary()

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        model = SnowflakeOptions.model_validate(options)
        return model.model_dump(mode="json", exclude_none=True, by_alias=True)

    def validate_secret(self, options: dict[str, Any], secret: str | None) -> None:
        authenticator = options.get("authenticator", "snowflake")
        if authenticator == "snowflake" and not secret:
            raise ValueError("a Snowflake password sign-in needs the password as the secret")
        if authenticator == "snowflake_jwt":
            if not secret:
                raise ValueError(
                    "a Snowflake key-pair sign-in (snowflake_jwt) needs the PEM private key "
                    "as the secret"
                )
            load_private_key(secret)

    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        options = _options(spec.options)
        try:
            self.validate_secret(spec.options, secret)
        except ValueError as exc:
            raise InvalidRequestError(f"Snowflake secret: {exc}.") from None
        connect_args: dict[str, Any] = {
            "authenticator": options.authenticator,
            "autocommit": True,
            "paramstyle": "qmark",
            "login_timeout": options.login_timeout_s,
            # Snowflake checks at sign-in that the warehouse, database, schema and role exist.
            "validate_default_parameters": True,
            "application": "DataConnector",
            "client_session_keep_alive": False,
            # NUMBER(p, s) as exact Decimal: the connector's default makes small ones floats.
            "arrow_number_to_decimal": True,
        }
        for name, value in (
            ("user", options.user),
            ("warehouse", options.warehouse),
            ("database", options.database),
            ("schema", options.schema_),
            ("role", options.role),
            ("host", options.host),
            ("port", options.port),
            ("protocol", options.protocol),
        ):
            if value is not None:
                connect_args[name] = value
        if options.authenticator == "snowflake":
            connect_args["password"] = secret
        elif options.authenticator == "snowflake_jwt" and secret:
            connect_args["private_key"] = load_private_key(secret)
        # Only the account is in the URL: snowflake-sqlalchemy derives the account name
        # and the default host from it; everything else, secrets above all, is connect_args.
        url = URL.create("snowflake", host=options.account)
        engine = self._engine(url, connect_args, pooled)
        if options.warehouse:
            self._warehouses[engine] = options.warehouse
        return engine

    def _engine(self, url: URL, connect_args: dict[str, Any], pooled: bool) -> Engine:
        common: dict[str, Any] = {
            "connect_args": connect_args,
            "hide_parameters": True,
            "paramstyle": "qmark",  # as the connections are made, for the dialect's own queries
            # Without it SQLAlchemy turns autocommit off on every new connection (its default
            # isolation level), and session() would roll back what a write reported.
            "isolation_level": "AUTOCOMMIT",
        }
        if pooled:
            return create_engine(
                url,
                poolclass=QueuePool,
                pool_size=5,
                max_overflow=10,
                pool_recycle=3600,
                pool_reset_on_return=None,  # autocommit; session() ends a BEGIN left open
                **common,
            )
        return create_engine(url, poolclass=NullPool, pool_reset_on_return=None, **common)

    @contextmanager
    def session(
        self,
        connection: DBAPIConnection,
        control: QueryControl,
        *,
        read_only: bool,
        stream: bool,
    ) -> Iterator[DBAPICursor]:
        cursor = SnowflakeCursor(connection, control)
        control.set_cancel_hook(cursor.cancel_in_database)
        try:
            yield cursor
        finally:
            control.set_cancel_hook(None)
            cursor.close()
            if not read_only:
                # Each statement commits on its own (autocommit), and one that fails leaves
                # nothing; this only ends a BEGIN the user's statement left open.
                connection.rollback()

    def native_export(
        self, cursor: DBAPICursor, statement: BoundStatement, fmt: str
    ) -> NativePlan | None:
        """Arrow and Parquet exports from the connector's own Arrow result chunks
        (``fetch_arrow_batches``), converted to the schema the row path gives
        (``arrow_tables.ArrowTables``): no Python object per value. A result the connector
        cannot hand over as Arrow (JSON result format) runs the statement again on the
        row path (``retry_on_error``): an export only reads."""
        if fmt not in COLUMNAR_FORMATS or not isinstance(cursor, SnowflakeCursor):
            return None
        columns: list[Column] = []

        def stream(session: Any) -> Iterator[tuple[bytes, int]]:
            self.execute(session, statement)
            description = session.description or ()
            types = self.column_types(description, [])
            columns.extend(
                Column(name=str(item[0]), type=kind)
                for item, kind in zip(description, types, strict=True)
            )
            tables = session.arrow_tables()
            yield from encode_tables(fmt, columns, tables, self.decimal_shapes(description))

        return NativePlan(
            statement=statement,
            columns=columns,
            encode=_not_used,
            stream=stream,
            retry_on_error=True,
        )

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        types = []
        for item in description:
            code = item[1]
            if code == 0:  # FIXED: NUMBER(p, s)
                scale = item[5] if len(item) > 5 else None
                types.append("integer" if not scale else "decimal")
            else:
                types.append(_TYPE_CODES.get(code, "unknown"))
        return types

    def server_version(self, connection: DBAPIConnection) -> str:
        cursor = connection.cursor()
        try:
            cursor.execute("SELECT CURRENT_VERSION()")
            row = cursor.fetchone()
        finally:
            cursor.close()
        return f"Snowflake {row[0]}"

    def probe(self, engine: Engine) -> ProbeResult:
        result = super().probe(engine)
        warehouse = self._warehouses.get(engine)
        if warehouse:
            self._check_warehouse(engine, warehouse)
        return result

    def _check_warehouse(self, engine: Engine, warehouse: str) -> None:
        """Snowflake signs in without a warehouse it cannot use; say so before any query."""
        raw = engine.raw_connection()
        try:
            connection: Any = raw.driver_connection
            cursor = connection.cursor()
            try:
                pattern = warehouse.replace("\\", "\\\\").replace("'", "''")
                cursor.execute(f"SHOW WAREHOUSES LIKE '{pattern}'")
                names = {str(row[0]).upper() for row in cursor.fetchall()}
            finally:
                cursor.close()
        finally:
            raw.close()
        wanted = warehouse.strip('"')
        if wanted.upper() not in names and wanted not in names:
            raise DatabaseUnavailableError(
                f"Snowflake has no warehouse named {warehouse!r} that this role may use; "
                "set the warehouse option to one listed by SHOW WAREHOUSES."
            )

    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        cursor = connection.cursor()
        try:
            database = getattr(connection, "database", None)
            if database:
                databases = [str(database)]
                qualify = False
            else:
                cursor.execute("SHOW TERSE DATABASES")
                databases = [str(row[1]) for row in cursor.fetchall()]
                qualify = True
            schemas: dict[str, SchemaInfo] = {}
            for name in databases:
                self._describe_database(cursor, name, qualify, schemas)
        finally:
            cursor.close()
        return list(schemas.values())

    def describe_comments(self, connection: DBAPIConnection) -> dict[tuple[str, str], Comments]:
        """Table, view and column ``COMMENT``s from each database's INFORMATION_SCHEMA,
        with schemas named as ``describe_schema`` names them."""
        cursor = connection.cursor()
        try:
            database = getattr(connection, "database", None)
            if database:
                databases, qualify = [str(database)], False
            else:
                cursor.execute("SHOW TERSE DATABASES")
                databases, qualify = [str(row[1]) for row in cursor.fetchall()], True
            rows = []
            for name in databases:
                quoted = '"' + name.replace('"', '""') + '"'
                cursor.execute(
                    "SELECT table_schema, table_name, NULL, comment "
                    f"FROM {quoted}.INFORMATION_SCHEMA.TABLES "
                    "WHERE comment IS NOT NULL AND table_schema <> 'INFORMATION_SCHEMA' "
                    "UNION ALL SELECT table_schema, table_name, column_name, comment "
                    f"FROM {quoted}.INFORMATION_SCHEMA.COLUMNS "
                    "WHERE comment IS NOT NULL AND table_schema <> 'INFORMATION_SCHEMA'"
                )
                for schema, table, column, comment in cursor.fetchall():
                    label = f"{name}.{schema}" if qualify else str(schema)
                    rows.append((label, table, column, comment))
        finally:
            cursor.close()
        return gather_comments(rows)

    def _describe_database(
        self, cursor: Any, database: str, qualify: bool, schemas: dict[str, SchemaInfo]
    ) -> None:
        quoted = '"' + database.replace('"', '""') + '"'
        cursor.execute(f"SHOW TERSE VIEWS IN DATABASE {quoted}")
        description = [item[0].lower() for item in cursor.description]
        name_at, schema_at = description.index("name"), description.index("schema_name")
        views = {(str(row[schema_at]), str(row[name_at])) for row in cursor.fetchall()}
        cursor.execute(
            "SELECT table_schema, table_name, column_name, data_type, is_nullable "
            f"FROM {quoted}.INFORMATION_SCHEMA.COLUMNS "
            "WHERE table_schema <> 'INFORMATION_SCHEMA' "
            "ORDER BY table_schema, table_name, ordinal_position"
        )
        tables: dict[tuple[str, str], TableInfo] = {}
        for schema, table, column, data_type, nullable in cursor.fetchall():
            key = (str(schema), str(table))
            info = tables.get(key)
            if info is None:
                info = TableInfo(name=key[1], kind="view" if key in views else "table")
                tables[key] = info
                label = f"{database}.{key[0]}" if qualify else key[0]
                schemas.setdefault(label, SchemaInfo(name=label)).tables.append(info)
            info.columns.append(
                ColumnInfo(
                    name=str(column),
                    type=str(data_type).lower(),
                    nullable=str(nullable).upper() == "YES",
                )
            )
