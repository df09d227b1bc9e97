"""On a connection created with ``"read_only": false``, a statement that reports rows written
has written them, and a statement that fails leaves nothing behind.

Every check reads back outside the server: the SQLite file through Python's own ``sqlite3``
module, Snowflake (fakesnow) through a second, fresh connector session. Exports only read,
whatever the connection allows (see the README's "Writes" section).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error
from tests.test_snowflake import _raw_connection, fakesnow_port, sf_options

__all__ = ["fakesnow_port"]  # a fixture, imported for the Snowflake tests below

ENDLESS_INSERT = (
    "INSERT INTO t (id, note) WITH RECURSIVE c(n) AS (SELECT 100 UNION ALL SELECT n + 1 FROM c) "
    "SELECT n, 'endless ' || n FROM c"
)


def outside(db: Path, sql: str) -> list[tuple[Any, ...]]:
    """``sql`` read by another process's view of the file: a fresh sqlite3 connection."""
    connection = sqlite3.connect(db)
    try:
        return connection.execute(sql).fetchall()
    finally:
        connection.close()


@pytest.fixture
def rw(client: TestClient, tmp_path: Path) -> Iterator[tuple[TestClient, Path]]:
    db = tmp_path / "rw.db"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT NOT NULL UNIQUE)")
        setup.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    setup.close()
    body = {"name": "rw", "kind": "sqlite", "options": {"path": str(db)}, "read_only": False}
    assert client.post("/connections", json=body).status_code == 201
    yield client, db


def run(client: TestClient, sql: str, name: str = "rw", **body: Any) -> httpx.Response:
    return client.post(f"/connections/{name}/query", json={"sql": sql, **body})


def test_sqlite_read_write_statements_are_committed(rw: tuple[TestClient, Path]) -> None:
    client, db = rw
    steps = [
        ("INSERT INTO t VALUES (:id, :note)", {"id": 3, "note": "three"}, [1, 2, 3]),
        ("UPDATE t SET note = note || '!' WHERE id = 1", {}, [1, 2, 3]),
        ("DELETE FROM t WHERE id = 2", {}, [1, 3]),
        ("REPLACE INTO t VALUES (3, 'III')", {}, [1, 3]),
        ("INSERT INTO t VALUES (4, 'four') ON CONFLICT (id) DO NOTHING", {}, [1, 3, 4]),
    ]
    for sql, params, ids in steps:
        assert run(client, sql, params=params).status_code == 200, sql
        assert [row[0] for row in outside(db, "SELECT id FROM t ORDER BY id")] == ids, sql
    assert outside(db, "SELECT note FROM t ORDER BY id") == [("one!",), ("III",), ("four",)]


def test_sqlite_returning_more_rows_than_the_limit_writes_them_all(
    rw: tuple[TestClient, Path],
) -> None:
    client, db = rw
    answer = run(
        client,
        "INSERT INTO t (id, note) VALUES (10, 'a'), (11, 'b'), (12, 'c') RETURNING id",
        limit=1,
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [[10]] and answer.json()["truncated"] is True
    assert outside(db, "SELECT count(*) FROM t WHERE id >= 10") == [(3,)]


def test_sqlite_ddl_and_the_rows_written_into_it_both_stay(rw: tuple[TestClient, Path]) -> None:
    client, db = rw
    assert run(client, "CREATE TABLE u (y INTEGER)").status_code == 200
    assert run(client, "INSERT INTO u VALUES (5), (6)").status_code == 200
    assert run(client, "CREATE INDEX u_y ON u (y)").status_code == 200
    assert outside(db, "SELECT y FROM u ORDER BY y") == [(5,), (6,)]
    assert ("u_y",) in outside(db, "SELECT name FROM sqlite_master WHERE type = 'index'")


def test_sqlite_failed_statement_leaves_nothing_half_written(rw: tuple[TestClient, Path]) -> None:
    client, db = rw
    before = outside(db, "SELECT * FROM t ORDER BY id")
    # The third row breaks the UNIQUE constraint after two were inserted.
    assert_error(
        run(client, "INSERT INTO t VALUES (20, 'x'), (21, 'y'), (22, 'one')"), 400, "sql_error"
    )
    # The second row is NULL in a NOT NULL column.
    assert_error(
        run(client, "INSERT INTO t (id, note) SELECT id + 30, CASE id WHEN 1 THEN 'z' END FROM t"),
        400,
        "sql_error",
    )
    # Stopped at its deadline while it was still inserting (an endless recursive CTE).
    assert_error(run(client, ENDLESS_INSERT, timeout_s=0.5), 504, "timeout")
    assert outside(db, "SELECT * FROM t ORDER BY id") == before
    # The pooled connection holds no open transaction afterwards: a later write commits.
    assert run(client, "INSERT INTO t VALUES (40, 'forty')").status_code == 200
    assert outside(db, "SELECT note FROM t WHERE id = 40") == [("forty",)]


def test_sqlite_commit_that_cannot_happen_is_an_error_not_a_200(
    rw: tuple[TestClient, Path],
) -> None:
    client, db = rw
    reader = sqlite3.connect(db, isolation_level=None)
    try:
        # An open read transaction elsewhere holds a SHARED lock: the INSERT itself runs,
        # but its commit cannot take the file until the reader lets go (SQLite's busy
        # timeout of 5 s elapses first).
        reader.execute("BEGIN")
        reader.execute("SELECT count(*) FROM t").fetchall()
        detail = assert_error(
            run(client, "INSERT INTO t VALUES (50, 'fifty')"), 502, "db_unavailable"
        )
        assert "locked" in detail
    finally:
        reader.execute("ROLLBACK")
        reader.close()
    assert outside(db, "SELECT count(*) FROM t WHERE id = 50") == [(0,)]
    assert run(client, "INSERT INTO t VALUES (51, 'fifty-one')").status_code == 200
    assert outside(db, "SELECT count(*) FROM t WHERE id = 51") == [(1,)]


def test_sqlite_explicit_transaction_statements_do_not_leak(rw: tuple[TestClient, Path]) -> None:
    client, db = rw
    # One statement per request: a BEGIN has nothing after it in the same request; the
    # next request still commits on its own.
    assert run(client, "BEGIN").status_code == 200
    assert run(client, "INSERT INTO t VALUES (60, 'sixty')").status_code == 200
    assert outside(db, "SELECT count(*) FROM t WHERE id = 60") == [(1,)]
    assert run(client, "ROLLBACK").status_code in (200, 400)
    assert outside(db, "SELECT count(*) FROM t WHERE id = 60") == [(1,)]


def test_export_on_a_read_write_connection_only_reads(rw: tuple[TestClient, Path]) -> None:
    client, db = rw
    before = outside(db, "SELECT * FROM t ORDER BY id")
    for sql in (
        "INSERT INTO t VALUES (70, 'seventy') RETURNING id",
        "DELETE FROM t RETURNING id",
        "CREATE TABLE exported AS SELECT * FROM t",
        "PRAGMA user_version = 7",
    ):
        response = client.post("/connections/rw/export?format=ndjson", json={"sql": sql})
        detail = assert_error(response, 400, "read_only")
        assert "export" in detail.lower(), detail
    assert outside(db, "SELECT * FROM t ORDER BY id") == before
    assert outside(db, "PRAGMA user_version") == [(0,)]
    assert ("exported",) not in outside(db, "SELECT name FROM sqlite_master")
    rows = client.post("/connections/rw/export?format=ndjson", json={"sql": "SELECT id FROM t"})
    assert rows.status_code == 200 and rows.text.count("\n") == len(before)
    # The same pooled connection still writes for /query afterwards.
    assert run(client, "INSERT INTO t VALUES (71, 'x')").status_code == 200
    assert outside(db, "SELECT count(*) FROM t WHERE id = 71") == [(1,)]


def test_omni_on_a_read_write_connection_commits(rw: tuple[TestClient, Path]) -> None:
    client, db = rw
    answer = client.post("/omni/rw", json={"prompt": "INSERT INTO t VALUES (80, 'omni')"})
    assert answer.status_code == 200, answer.text
    assert outside(db, "SELECT note FROM t WHERE id = 80") == [("omni",)]


# Snowflake (fakesnow) ------------------------------------------------------------------------


def _fresh_rows(port: int, sql: str) -> list[tuple[Any, ...]]:
    connection = _raw_connection(port, database="MARKET", schema="PUBLIC")
    try:
        cursor = connection.cursor()
        cursor.execute(sql)
        return list(cursor.fetchall())
    finally:
        connection.close()


def test_snowflake_read_write_statements_are_committed(
    client: TestClient, fakesnow_port: int
) -> None:
    port = fakesnow_port
    _fresh_rows(port, "CREATE OR REPLACE TABLE WRITES (ID INT NOT NULL, NOTE VARCHAR)")
    body = {
        "name": "sfrw",
        "kind": "snowflake",
        "options": sf_options(port),
        "secret": "pw",
        "read_only": False,
    }
    assert client.post("/connections", json=body).status_code == 201
    for sql, expected in (
        ("INSERT INTO WRITES VALUES (1, 'one'), (2, 'two')", [(1, "one"), (2, "two")]),
        ("UPDATE WRITES SET NOTE = 'uno' WHERE ID = 1", [(1, "uno"), (2, "two")]),
        ("DELETE FROM WRITES WHERE ID = 2", [(1, "uno")]),
    ):
        answer = run(client, sql, name="sfrw")
        assert answer.status_code == 200, answer.text
        assert _fresh_rows(port, "SELECT ID, NOTE FROM WRITES ORDER BY ID") == expected, sql
    # A statement failing on its second row writes nothing. (A NOT NULL violation would be
    # closer to SQLite's test, but fakesnow answers it with an error the connector retries.)
    failed = run(
        client,
        "INSERT INTO WRITES SELECT 3, 'three' UNION ALL SELECT CAST('four' AS INT), 'four'",
        name="sfrw",
    )
    assert failed.status_code == 400, failed.text
    assert _fresh_rows(port, "SELECT ID FROM WRITES ORDER BY ID") == [(1,)]
    # DDL, and rows written into the new table, stay as well.
    assert run(client, "CREATE TABLE WRITES2 (X INT)", name="sfrw").status_code == 200
    assert run(client, "INSERT INTO WRITES2 VALUES (9)", name="sfrw").status_code == 200
    assert _fresh_rows(port, "SELECT X FROM WRITES2") == [(9,)]
