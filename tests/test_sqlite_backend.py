"""The SQLite backend: read-only enforced by the session itself, timeouts and cancel inside
SQLite, declared-type converters and schema browsing."""

from __future__ import annotations

import datetime as dt
import sqlite3
import threading
from pathlib import Path

import pytest

from connector.backends.sqlite import SqliteBackend, SqliteOptions, connect_sqlite
from connector.errors import (
    DatabaseUnavailableError,
    QueryCancelledError,
    QueryTimeoutError,
    ReadOnlyError,
)
from connector.running import QueryControl

SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "t.db"
    with sqlite3.connect(path) as connection:
        connection.executescript(
            """
            CREATE TABLE t (id INTEGER, d DATE, ts TIMESTAMP, amount DECIMAL(20, 4), flag BOOLEAN,
                            doc JSON, raw BLOB, note TEXT);
            INSERT INTO t VALUES (1, '2024-05-01', '2024-05-01 13:45:00', '12345678901234.5678', 1,
                                  '{"a": [1, 2]}', x'00ff', 'n');
            INSERT INTO t VALUES (2, 'not a date', NULL, NULL, 0, 'not json', NULL, NULL);
            CREATE VIEW v AS SELECT id FROM t;
            """
        )
    return path


def control(timeout_s: float = 30.0) -> QueryControl:
    return QueryControl("q_test", "t", "sql", timeout_s)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t (id) VALUES (3)",
        "UPDATE t SET id = 5",
        "DELETE FROM t",
        "CREATE TABLE x (a)",
        "DROP VIEW v",
        "ATTACH '{folder}/other.db' AS o",
        "VACUUM INTO '{folder}/copy.db'",
        "PRAGMA query_only = 0",
        "PRAGMA user_version = 7",
    ],
)
def test_sqlite_read_only_session_refuses_writes_without_the_guard(
    db: Path, sql: str, tmp_path: Path
) -> None:
    # The statement goes straight to the session: no sqlglot guard in front of it. Files it
    # would make are named in tmp_path, where the check below looks for them.
    backend = SqliteBackend()
    connection = connect_sqlite(str(db), read_only=True)
    with (
        pytest.raises(sqlite3.Error) as caught,
        backend.session(connection, control(), read_only=True, stream=False) as cursor,
    ):
        cursor.execute(sql.format(folder=tmp_path))
    assert isinstance(backend.translate_error(caught.value), ReadOnlyError)
    assert not (tmp_path / "copy.db").exists() and not (tmp_path / "other.db").exists()
    with sqlite3.connect(db) as check:
        assert check.execute("SELECT count(*) FROM t").fetchone()[0] == 2
        assert check.execute("PRAGMA user_version").fetchone()[0] == 0


def test_sqlite_read_only_session_still_reads_and_browses(db: Path) -> None:
    connection = connect_sqlite(str(db), read_only=True)
    assert connection.execute("PRAGMA table_info(t)").fetchall()
    schemas = SqliteBackend().describe_schema(connection)
    tables = {table.name: table for table in schemas[0].tables}
    assert tables["t"].kind == "table" and tables["v"].kind == "view"
    assert [c.name for c in tables["t"].columns][:3] == ["id", "d", "ts"]
    assert tables["t"].columns[1].type == "date"


def test_sqlite_read_write_connection_writes(db: Path) -> None:
    connection = connect_sqlite(str(db), read_only=False)
    connection.execute("INSERT INTO t (id) VALUES (3)")
    connection.commit()
    assert connection.execute("SELECT count(*) FROM t").fetchone()[0] == 3


def test_sqlite_declared_types_become_values(db: Path) -> None:
    connection = connect_sqlite(str(db), read_only=True)
    first, second = connection.execute(
        "SELECT d, ts, amount, flag, doc, raw FROM t ORDER BY id"
    ).fetchall()
    assert first == (
        dt.date(2024, 5, 1),
        dt.datetime(2024, 5, 1, 13, 45),
        12345678901234.5678,  # NUMERIC affinity: SQLite keeps a double
        True,
        {"a": [1, 2]},
        b"\x00\xff",
    )
    assert second[0] == "not a date" and second[4] == "not json"  # unreadable values stay text


def test_sqlite_timeout_stops_inside_sqlite(db: Path) -> None:
    backend = SqliteBackend()
    connection = connect_sqlite(str(db), read_only=True)
    handle = control(timeout_s=0.3)
    # SLOW_SQL never ends by itself: that it raises at all, marked timed out, is the proof
    # SQLite stopped it (no wall-clock check needed, nor meaningful on a loaded machine).
    with (
        pytest.raises(sqlite3.OperationalError, match="interrupted"),
        backend.session(connection, handle, read_only=True, stream=False) as cursor,
    ):
        cursor.execute(SLOW_SQL)
    assert handle.timed_out and not handle.cancelled
    assert isinstance(handle.stopped_error(), QueryTimeoutError)


def test_sqlite_cancel_interrupts_a_running_statement(db: Path) -> None:
    backend = SqliteBackend()
    connection = connect_sqlite(str(db), read_only=True)
    # The statement says when it runs (started() is called from inside it), and the cancel
    # waits for that rather than for a guessed delay.
    started = threading.Event()
    connection.create_function("started", 0, lambda: started.set() or 1)
    endless = SLOW_SQL.replace("SELECT 1 UNION", "SELECT started() UNION")
    handle = control()

    def cancel_once_running() -> None:
        started.wait(30)  # seconds on a loaded machine at worst; cancels anyway after
        handle.cancel()

    canceller = threading.Thread(target=cancel_once_running)
    canceller.start()
    with (
        pytest.raises(sqlite3.OperationalError) as caught,
        backend.session(connection, handle, read_only=True, stream=False) as cursor,
    ):
        cursor.execute(endless)
    canceller.join()
    assert started.is_set(), "the statement never ran"
    assert handle.cancelled and "interrupted" in str(caught.value)
    assert isinstance(handle.stopped_error(), QueryCancelledError)


def test_sqlite_options_refuse_missing_folder_and_non_database(tmp_path: Path) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("hello, this is not a database")
    for path, reason in [
        (tmp_path / "missing.db", "no file"),
        (tmp_path, "folder"),
        (text, "not a SQLite database"),
    ]:
        with pytest.raises(ValueError, match=reason):
            SqliteOptions(path=str(path))


def test_sqlite_unreadable_file_is_unavailable(tmp_path: Path) -> None:
    # A database file replaced by a folder after its connection was saved: opening it
    # fails in SQLite itself, and that error is a 502, not a crash or a SQL error.
    path = tmp_path / "gone.db"
    sqlite3.connect(path).close()
    path.unlink()
    path.mkdir()
    with pytest.raises(sqlite3.OperationalError) as caught:
        connect_sqlite(str(path), read_only=True)
    error = SqliteBackend().translate_error(caught.value)
    assert isinstance(error, DatabaseUnavailableError), error
    assert error.status == 502
