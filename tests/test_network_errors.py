"""The PyMySQL and psycopg errors users meet most (wrong password, closed port, bad SQL,
read-only, timeout) map to the right sentence. That every class maps at all is
``test_error_mapping``'s."""

from __future__ import annotations

import psycopg
import psycopg.errors
import pymysql.err
import pytest

from connector.backends.mysql import MysqlBackend
from connector.backends.postgresql import PostgresqlBackend
from connector.errors import (
    ConnectorError,
    DatabaseUnavailableError,
    QueryCancelledError,
    QueryTimeoutError,
    ReadOnlyError,
    SqlError,
)
from tests.conftest import assert_one_sentence


@pytest.mark.parametrize(
    ("code", "message", "expected", "words"),
    [
        (1045, "Access denied for user 'a'@'h' (using password: YES)", DatabaseUnavailableError,
         "wrong user name or password"),
        (1049, "Unknown database 'nope'", DatabaseUnavailableError, "no database"),
        (2003, "Can't connect to MySQL server on 'h' ([Errno 111] Connection refused)",
         DatabaseUnavailableError, "port is closed"),
        (2003, "Can't connect to MySQL server on 'x' ([Errno -2] Name or service not known)",
         DatabaseUnavailableError, "unknown host"),
        (1064, "You have an error in your SQL syntax", SqlError, "sql syntax"),
        (1054, "Unknown column 'x' in 'field list'", SqlError, "unknown column"),
        (1146, "Table 'd.t' doesn't exist", SqlError, "exist"),
        (1792, "Cannot execute statement in a READ ONLY transaction", ReadOnlyError, "read-only"),
        (1969, "Query execution was interrupted (max_statement_time exceeded)",
         QueryTimeoutError, "timeout"),
        (1317, "Query execution was interrupted", QueryCancelledError, "stopped"),
    ],
)  # fmt: skip
def test_error_mapping_mysql_sentences(
    code: int, message: str, expected: type[ConnectorError], words: str
) -> None:
    exc = pymysql.err.OperationalError(code, message)
    error = MysqlBackend().translate_error(exc)
    assert type(error) is expected, error
    assert words in assert_one_sentence(error.detail).lower()


@pytest.mark.parametrize(
    ("exc", "expected", "words"),
    [
        (psycopg.errors.ReadOnlySqlTransaction("cannot execute INSERT in a read-only transaction"),
         ReadOnlyError, "read-only"),
        (psycopg.errors.UndefinedTable('relation "nope" does not exist'), SqlError, "nope"),
        (psycopg.errors.SyntaxError('syntax error at or near "SELEC"'), SqlError, "syntax"),
        (psycopg.errors.QueryCanceled("canceling statement due to statement timeout"),
         QueryTimeoutError, "timeout"),
        (psycopg.errors.QueryCanceled("canceling statement due to user request"),
         QueryCancelledError, "cancelled"),
        (psycopg.OperationalError('connection failed: FATAL:  password authentication failed '
                                  'for user "a"'), DatabaseUnavailableError, "wrong user name"),
        (psycopg.OperationalError("connection failed: Connection refused"),
         DatabaseUnavailableError, "port is closed"),
        (psycopg.OperationalError('connection failed: FATAL:  database "x" does not exist'),
         DatabaseUnavailableError, "no database"),
        (psycopg.OperationalError("consuming input failed: server closed the connection"),
         DatabaseUnavailableError, "postgresql"),
    ],
)  # fmt: skip
def test_error_mapping_postgresql_sentences(
    exc: Exception, expected: type[ConnectorError], words: str
) -> None:
    error = PostgresqlBackend().translate_error(exc)
    assert type(error) is expected, error
    assert words in assert_one_sentence(error.detail).lower()
