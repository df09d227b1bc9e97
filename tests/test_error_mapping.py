"""Every lower-layer error we can meet is *mapped* into our error tree by the one funnel
(``connector.backends.funnel``): for every kind, every exception class its driver defines,
and SQLAlchemy's own. "Mapped" means a rule of the kind's table, PEP 249's classes or
SQLAlchemy's rules matched; the last-resort fallback does not count, so a class nobody
thought of fails here instead of passing as "unavailable" by accident."""

from __future__ import annotations

import importlib
import inspect
import sqlite3
from types import ModuleType
from typing import Any

import pytest
import sqlalchemy.exc

from connector.backends import get_backend, kinds
from connector.backends.funnel import classify, translate
from connector.errors import (
    BadRequestError,
    ConnectorError,
    DatabaseUnavailableError,
    QueryCancelledError,
    QueryTimeoutError,
    ReadOnlyError,
    SqlError,
)
from connector.running import QueryControl


def _driver_modules(kind: str) -> list[ModuleType]:
    """The modules that define the exceptions a kind's driver raises."""
    if kind == "sqlite":
        return [sqlite3]
    if kind == "mysql":
        import pymysql.err

        return [pymysql.err]
    if kind == "postgresql":
        import psycopg
        import psycopg.errors

        return [psycopg, psycopg.errors]
    if kind == "snowflake":
        import snowflake.connector.errors

        return [snowflake.connector.errors]
    if kind == "duckdb":
        import duckdb

        # Where duckdb defines its exceptions: duckdb.duckdb, or _duckdb from 1.4.
        return [duckdb, importlib.import_module(duckdb.Error.__module__)]
    raise AssertionError(f"no driver modules listed for the kind {kind!r}; add them here")


# Exceptions a driver module defines that never reach the connector, and why.
NOT_RAISED_TO_US = {
    # psycopg's control-flow signal for leaving a `with conn.transaction()` block early.
    "Rollback",
}


def _exception_classes(modules: list[ModuleType]) -> list[type[BaseException]]:
    found = {
        cls
        for module in modules
        for cls in vars(module).values()
        if inspect.isclass(cls)
        and issubclass(cls, Exception)
        and cls.__module__.split(".")[0] == module.__name__.split(".")[0]
        and cls.__name__ not in NOT_RAISED_TO_US
    }
    return sorted(found, key=lambda cls: cls.__name__)


def _instances(cls: type[BaseException]) -> list[BaseException]:
    """A few ways the driver builds this exception: with a message, a code and a message."""
    made: list[BaseException] = []
    for args, kwargs in (
        (("something went wrong",), {}),
        ((1234, "something went wrong"), {}),
        ((), {"msg": "something went wrong", "errno": 1234}),
    ):
        try:
            made.append(cls(*args, **kwargs))
        except Exception:  # this class is not built that way
            continue
    assert made, f"could not build {cls.__name__}"
    return made


DRIVER_ERRORS = [
    pytest.param(kind, cls, id=f"{kind}-{cls.__name__}")
    for kind in kinds()
    for cls in _exception_classes(_driver_modules(kind))
]


def test_error_mapping_every_kind_lists_its_driver() -> None:
    assert {kind for kind in kinds()} == {param.values[0] for param in DRIVER_ERRORS}


@pytest.mark.parametrize(("kind", "cls"), DRIVER_ERRORS)
def test_error_mapping_every_driver_error_is_mapped(kind: str, cls: type[BaseException]) -> None:
    table = get_backend(kind).errors
    for exc in _instances(cls):
        found = classify(exc, table)
        assert found is not None, f"{kind}: {cls.__name__}{exc.args!r} is not mapped"
        error, _ = found
        assert type(error) is not ConnectorError
        assert error.status in (400, 499, 502, 504), (cls, error)
        assert error.detail.endswith(".") and "\n" not in error.detail


# Raised only while building metadata or compiling constructs, which the connector never
# does on a user's request (it runs the user's SQL text on a raw DBAPI cursor).
NOT_MET_AT_RUN_TIME = {
    "CircularDependencyError",
    "UnsupportedCompilationError",
    "NoReferencedTableError",
    "NoReferencedColumnError",
}
SQLALCHEMY_ERRORS = [
    cls
    for cls in vars(sqlalchemy.exc).values()
    if inspect.isclass(cls)
    and issubclass(cls, sqlalchemy.exc.SQLAlchemyError)
    and cls.__name__ not in NOT_MET_AT_RUN_TIME
]


@pytest.mark.parametrize("kind", kinds())
@pytest.mark.parametrize("cls", SQLALCHEMY_ERRORS, ids=lambda c: c.__name__)
def test_error_mapping_every_sqlalchemy_error(cls: type[Exception], kind: str) -> None:
    table = get_backend(kind).errors
    if issubclass(cls, sqlalchemy.exc.StatementError):
        orig = OSError("the server went away")
        exc: Any = (
            cls("statement", {"p": "secret-value"}, orig, hide_parameters=True)
            if issubclass(cls, sqlalchemy.exc.DBAPIError)
            else cls("msg", "statement", {"p": "secret-value"}, orig, hide_parameters=True)  # type: ignore[call-arg]
        )
    else:
        exc = cls("something went wrong")
    found = classify(exc, table)
    assert found is not None, f"{cls.__name__} is not mapped for {kind}"
    error, _ = found
    assert isinstance(error, DatabaseUnavailableError), (cls, error)
    assert "secret-value" not in error.detail


def test_error_mapping_an_unknown_exception_falls_back_and_says_so() -> None:
    table = get_backend("sqlite").errors
    assert classify(RuntimeError("boom"), table) is None
    error = translate(RuntimeError("boom"), table)
    assert isinstance(error, DatabaseUnavailableError) and "SQLite driver failed" in error.detail


def test_error_tree_codes_are_unique_and_statuses_match_the_contract() -> None:
    import connector.errors as errors

    classes = [
        c for c in vars(errors).values() if inspect.isclass(c) and issubclass(c, ConnectorError)
    ]
    codes = [c.code for c in classes if c is not errors.BadRequestError]
    assert len(codes) == len(set(codes))
    expected = {
        "sql_error": 400, "read_only": 400, "bad_param": 400, "auth_required": 401, "auth_invalid": 403,
        "not_found": 404, "conflict": 409, "too_large": 413, "bad_host": 421, "invalid_request": 422,
        "db_unavailable": 502, "timeout": 504, "cancelled": 499,
    }  # fmt: skip
    assert {c.code: c.status for c in classes if c.code in expected} == expected


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('near "SELEC": syntax error', SqlError),
        ("no such table: nope", SqlError),
        ("malformed JSON", SqlError),
        ("attempt to write a readonly database", ReadOnlyError),
        ("not authorized", ReadOnlyError),
        ("too many attached databases - max 0", ReadOnlyError),
        ("unable to open database file", DatabaseUnavailableError),
        ("file is not a database", DatabaseUnavailableError),
        ("database is locked", DatabaseUnavailableError),
        ("database disk image is malformed", DatabaseUnavailableError),
        ("interrupted", QueryCancelledError),
    ],
)
def test_error_mapping_sqlite_messages(message: str, expected: type[ConnectorError]) -> None:
    assert (
        type(get_backend("sqlite").translate_error(sqlite3.OperationalError(message))) is expected
    )


def test_error_mapping_is_pure_and_a_stopped_query_has_the_controls_error() -> None:
    """Translating never changes a query's state; the control alone says it was stopped."""
    backend = get_backend("sqlite")
    control = QueryControl("q", "c", "sql", 2.0)
    backend.translate_error(sqlite3.OperationalError("interrupted"))
    assert not control.stopped
    control.expire(run_hook=False)
    error = control.stopped_error()
    assert isinstance(error, QueryTimeoutError) and "2 s timeout" in error.detail
    cancelled = QueryControl("q", "c", "sql", 2.0)
    cancelled.cancel()
    assert isinstance(cancelled.stopped_error(), QueryCancelledError)


def test_error_mapping_integer_overflow_is_a_bad_parameter() -> None:
    error = get_backend("sqlite").translate_error(
        OverflowError("Python int too large to convert to SQLite INTEGER")
    )
    assert isinstance(error, BadRequestError) and error.code == "bad_param"
