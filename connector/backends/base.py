"""What every database backend provides, and the defaults most of them share.

A backend owns one database kind: validating its options, building an SQLAlchemy engine
(``URL.create``, never a pasted string), making each query's session read-only and
time-limited, cancelling a running statement, typing result columns, browsing the schema
and explaining driver errors as ``connector.errors``. It knows no HTTP.

``session()`` is the heart: given a DBAPI connection checked out from the engine's pool
and the query's control handle, it prepares the session, installs the cancel hook,
yields a cursor, and always leaves the connection clean for the pool.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import Any, ClassVar, Literal

from pydantic import BaseModel
from sqlalchemy import Engine

from connector.errors import (
    ConnectorError,
    DatabaseUnavailableError,
    QueryCancelledError,
    QueryTimeoutError,
    SqlError,
)
from connector.models import ConnectionSpec, ProbeResult, SchemaInfo
from connector.running import QueryControl
from connector.statements import BoundStatement, ParamStyle
from connector.values import infer_column_types

DBAPIConnection = Any
DBAPICursor = Any

SecretUse = Literal["none", "optional", "required"]

# PEP 249 error class names, most specific first, and what each means for a user.
_PEP249: tuple[tuple[str, type[ConnectorError]], ...] = (
    ("ProgrammingError", SqlError),
    ("IntegrityError", SqlError),
    ("DataError", SqlError),
    ("NotSupportedError", SqlError),
    ("InternalError", DatabaseUnavailableError),
    ("OperationalError", DatabaseUnavailableError),
    ("InterfaceError", DatabaseUnavailableError),
    ("DatabaseError", DatabaseUnavailableError),
)


def first_sentence(message: object, limit: int = 300) -> str:
    """The first line of a driver message, trimmed, ending with a full stop."""
    text = str(message).strip().splitlines()[0].strip() if str(message).strip() else ""
    text = text[:limit] or "the database reported an error without a message"
    return text if text.endswith((".", "?", "!")) else text + "."


def pep249_error(exc: BaseException) -> type[ConnectorError] | None:
    """Our error class for a driver exception, by its PEP 249 base class."""
    names = {klass.__name__ for klass in type(exc).__mro__}
    for name, error in _PEP249:
        if name in names:
            return error
    return None


class Backend(ABC):
    """One database kind."""

    kind: ClassVar[str]
    label: ClassVar[str]
    dialect: ClassVar[str]
    paramstyle: ClassVar[ParamStyle]
    options_model: ClassVar[type[BaseModel]]
    secret_use: ClassVar[SecretUse] = "none"
    # True when ``session(read_only=True)`` makes the database itself refuse writes.
    enforces_read_only: ClassVar[bool] = False

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Options checked and normalised; raises ``ValueError`` with a readable reason."""
        model = self.options_model.model_validate(options)
        return model.model_dump(mode="json", exclude_none=True)

    def validate_secret(self, options: dict[str, Any], secret: str | None) -> None:
        """Raise ``ValueError`` (a reason that never quotes the secret) when ``secret`` cannot
        sign in with ``options``; by default any secret will do."""
        return None

    @abstractmethod
    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        """An engine for ``spec``; ``pooled=False`` for a one-off connection test."""

    @abstractmethod
    def session(
        self,
        connection: DBAPIConnection,
        control: QueryControl,
        *,
        read_only: bool,
        stream: bool,
    ) -> AbstractContextManager[DBAPICursor]:
        """Prepare the session for one query and yield a cursor; clean up afterwards."""

    def execute(self, cursor: DBAPICursor, statement: BoundStatement) -> None:
        if statement.params is None:
            cursor.execute(statement.sql)
        else:
            cursor.execute(statement.sql, statement.params)

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        """Contract column types; by default inferred from the first rows' values."""
        return infer_column_types(len(description), rows)

    @abstractmethod
    def server_version(self, connection: DBAPIConnection) -> str:
        """The database server's version, as the server reports it."""

    def probe(self, engine: Engine) -> ProbeResult:
        """Connect, run the cheapest query the database allows, and time it."""
        started = time.perf_counter()
        raw = engine.raw_connection()
        try:
            version = self.server_version(raw.driver_connection)
        finally:
            raw.close()
        return ProbeResult(
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            server_version=version,
        )

    @abstractmethod
    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        """Schemas, tables, views and columns, in a fixed number of queries."""

    def translate_error(
        self, exc: BaseException, control: QueryControl | None = None
    ) -> ConnectorError:
        """Our error for ``exc``; backends refine this with what their driver says."""
        if isinstance(exc, ConnectorError):
            return exc
        if control is not None and control.timed_out:
            return QueryTimeoutError(
                f"The query ran past its {control.timeout_s:g} s timeout and was stopped."
            )
        if control is not None and control.cancelled:
            return QueryCancelledError("The query was cancelled.")
        orig = getattr(exc, "orig", None)
        if isinstance(orig, BaseException):
            return self.translate_error(orig, control)
        error = pep249_error(exc)
        if error is None:
            return DatabaseUnavailableError(
                f"The {self.label} driver failed: {first_sentence(exc)}"
            )
        return error(first_sentence(exc))
