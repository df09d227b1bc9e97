"""Every lower-layer error we can meet maps into our error tree, with a status that says
whose fault it was and a message without secrets or stack traces."""

from __future__ import annotations

import inspect
import sqlite3

import pytest
import sqlalchemy.exc

from connector.backends.sqlite import SqliteBackend
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

SQLITE_ERRORS = [
    cls
    for cls in vars(sqlite3).values()
    if inspect.isclass(cls) and issubclass(cls, sqlite3.Error | sqlite3.Warning)
]
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


@pytest.mark.parametrize("cls", SQLITE_ERRORS, ids=lambda c: c.__name__)
def test_error_mapping_every_sqlite3_error(cls: type[Exception]) -> None:
    error = SqliteBackend().translate_error(cls("something went wrong"))
    assert isinstance(error, ConnectorError)
    assert type(error) is not ConnectorError and error.status in (400, 502)
    assert error.detail.endswith(".")


@pytest.mark.parametrize(
    ("message", "expected"),
    [
        ('near "SELEC": syntax error', SqlError),
        ("no such table: nope", SqlError),
        ("attempt to write a readonly database", ReadOnlyError),
        ("not authorized", ReadOnlyError),
        ("too many attached databases - max 0", ReadOnlyError),
        ("unable to open database file", DatabaseUnavailableError),
        ("file is not a database", DatabaseUnavailableError),
        ("database is locked", DatabaseUnavailableError),
        ("database disk image is malformed", DatabaseUnavailableError),
    ],
)
def test_error_mapping_sqlite_messages(message: str, expected: type[ConnectorError]) -> None:
    assert type(SqliteBackend().translate_error(sqlite3.OperationalError(message))) is expected


@pytest.mark.parametrize("cls", SQLALCHEMY_ERRORS, ids=lambda c: c.__name__)
def test_error_mapping_every_sqlalchemy_error(cls: type[Exception]) -> None:
    backend = SqliteBackend()
    if issubclass(cls, sqlalchemy.exc.StatementError):
        orig = sqlite3.OperationalError("unable to open database file")
        exc = (
            cls("statement", {"p": "secret-value"}, orig, hide_parameters=True)
            if issubclass(cls, sqlalchemy.exc.DBAPIError)
            else cls("msg", "statement", {"p": "secret-value"}, orig, hide_parameters=True)
        )  # type: ignore[call-arg]
        expected: type[ConnectorError] = DatabaseUnavailableError
    else:
        exc = cls("something went wrong")
        expected = DatabaseUnavailableError
    error = backend.translate_error(exc)
    assert isinstance(error, expected), (cls, error)
    assert "secret-value" not in error.detail


def test_error_mapping_timeout_and_cancel_follow_the_control() -> None:
    backend = SqliteBackend()
    control = QueryControl("q", "c", "sql", 2.0)
    control.expire(run_hook=False)
    assert isinstance(
        backend.translate_error(sqlite3.OperationalError("interrupted"), control), QueryTimeoutError
    )
    control = QueryControl("q", "c", "sql", 2.0)
    control.cancel()
    assert isinstance(
        backend.translate_error(sqlite3.OperationalError("interrupted"), control),
        QueryCancelledError,
    )


def test_error_mapping_integer_overflow_is_a_bad_parameter() -> None:
    error = SqliteBackend().translate_error(
        OverflowError("Python int too large to convert to SQLite INTEGER")
    )
    assert isinstance(error, BadRequestError) and error.code == "bad_param"
