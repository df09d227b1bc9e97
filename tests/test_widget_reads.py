"""Widget GETs (and the column probing behind ``/widgets.json``) never run a statement that
could write, whatever the connection's ``read_only``; a saved query is refused at save time
unless its SQL only reads (400 naming ``sql``), since it becomes a widget.

Everything runs on a *read-write* SQLite connection, and the file is checked with Python's
own ``sqlite3`` module (and its bytes) after every request.
"""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connector.runtime import Runtime
from tests.conftest import assert_error

WRITES = [
    "INSERT INTO t VALUES (99, 'new')",
    "INSERT INTO t VALUES (:id, 'new') RETURNING id",
    "UPDATE t SET note = 'changed' RETURNING id",
    "DELETE FROM t RETURNING id",
    "REPLACE INTO t VALUES (1, 'replaced')",
    "CREATE TABLE made_by_a_get (x INTEGER)",
    "CREATE TABLE made_by_a_get AS SELECT * FROM t",
    "CREATE VIEW v_made AS SELECT 1 AS x",
    "CREATE INDEX t_note ON t (note)",
    "DROP TABLE t",
    "ALTER TABLE t ADD COLUMN extra TEXT",
    "WITH src AS (SELECT 98 AS id, 'cte' AS note) INSERT INTO t SELECT * FROM src",
    "PRAGMA user_version = 7",
    "PRAGMA main.user_version = 7",
    "VACUUM",
    "VACUUM INTO '{dir}/copy.db'",
    "ATTACH DATABASE '{dir}/other.db' AS other",
]
READS = [
    "SELECT id, note FROM t ORDER BY id",
    "WITH x AS (SELECT id FROM t) SELECT count(*) AS n FROM x",
    "SELECT * FROM t WHERE id = :id",
    "PRAGMA table_info(t)",
    "VALUES (1, 2)",
]


def fingerprint(db: Path) -> tuple[str, list[str], list[Any], list[Any], list[Any]]:
    """The file's bytes, the files beside it, its rows, schema and user_version, read
    outside the server."""
    digest = hashlib.sha256(db.read_bytes()).hexdigest()
    beside = sorted(path.name for path in db.parent.iterdir())
    connection = sqlite3.connect(db)
    try:
        rows = connection.execute("SELECT * FROM t ORDER BY id").fetchall()
        schema = connection.execute("SELECT type, name, sql FROM sqlite_master").fetchall()
        version = connection.execute("PRAGMA user_version").fetchall()
    finally:
        connection.close()
    return digest, beside, rows, schema, version


@pytest.fixture
def rw_db(client: TestClient, tmp_path: Path) -> Path:
    db = tmp_path / "rw.db"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)")
        setup.execute("INSERT INTO t VALUES (1, 'one'), (2, 'two')")
    setup.close()
    body = {"name": "rw", "kind": "sqlite", "options": {"path": str(db)}, "read_only": False}
    assert client.post("/connections", json=body).status_code == 201
    return db


def saved(name: str, sql: str, widget: str = "table") -> dict[str, Any]:
    params = [{"name": "id", "type": "number", "default": 77}] if ":id" in sql else []
    return {
        "name": name,
        "connection": "rw",
        "sql": sql,
        "params": params,
        "widget": {"type": widget},
    }


@pytest.mark.parametrize("sql", WRITES)
def test_saving_a_write_is_refused_naming_sql(client: TestClient, rw_db: Path, sql: str) -> None:
    sql = sql.format(dir=rw_db.parent)
    before = fingerprint(rw_db)
    detail = assert_error(client.post("/saved-queries", json=saved("w", sql)), 400, "read_only")
    assert "sql" in detail.lower() and "read" in detail.lower(), detail
    # Updating a saved read into a write is refused the same way.
    assert client.post("/saved-queries", json=saved("r", "SELECT 1 AS one")).status_code == 201
    assert_error(client.put("/saved-queries/r", json=saved("r", sql)), 400, "read_only")
    assert client.get("/saved-queries/r").json()["sql"] == "SELECT 1 AS one"
    assert [q["name"] for q in client.get("/saved-queries").json()] == ["r"]
    assert fingerprint(rw_db) == before


def test_saving_reads_still_works(client: TestClient, rw_db: Path) -> None:
    for index, sql in enumerate(READS):
        response = client.post("/saved-queries", json=saved(f"r{index}", sql))
        assert response.status_code == 201, (sql, response.text)
    assert client.get("/widgets/r0").json() == [{"id": 1, "note": "one"}, {"id": 2, "note": "two"}]
    assert client.get("/widgets/r2?id=2").json() == [{"id": 2, "note": "two"}]


def _store_directly(runtime: Runtime, name: str, sql: str, widget: str = "table") -> None:
    """A saved write as an older version (or a hand edit) could have left it in the store."""
    runtime.store.add_saved(saved(name, sql, widget))


@pytest.mark.parametrize("sql", WRITES)
def test_widget_gets_never_write_on_a_read_write_connection(
    client: TestClient, runtime: Runtime, rw_db: Path, sql: str
) -> None:
    sql = sql.format(dir=rw_db.parent)
    _store_directly(runtime, "sneaky", sql)
    _store_directly(runtime, "sneaky_page", sql, widget="table_ssrm")
    before = fingerprint(rw_db)
    listed = client.get("/widgets.json")
    assert listed.status_code == 200, listed.text
    assert fingerprint(rw_db) == before, "GET /widgets.json wrote"
    assert client.get("/apps.json").status_code == 200
    assert fingerprint(rw_db) == before, "GET /apps.json wrote"
    for path in ("/widgets/sneaky", "/widgets/sneaky_page?startRow=0&endRow=10"):
        response = client.get(path)
        assert response.status_code == 400, (path, response.text)
        assert response.json()["code"] in ("read_only", "sql_error"), response.text
        assert fingerprint(rw_db) == before, f"GET {path} wrote"
    # The POSTs behind a saved query (the SSRM page, a run) do not write either.
    page = client.post("/widgets/sneaky_page", json={"startRow": 0, "endRow": 10})
    assert page.status_code == 400, page.text
    run = client.post("/saved-queries/sneaky/run", json={})
    assert run.status_code == 400, run.text
    assert fingerprint(rw_db) == before


def test_widget_refusal_says_who_only_reads(
    client: TestClient, runtime: Runtime, rw_db: Path
) -> None:
    _store_directly(runtime, "ins", "INSERT INTO t VALUES (99, 'new')")
    detail = assert_error(client.get("/widgets/ins"), 400, "read_only")
    assert detail.startswith("A saved query only reads"), detail
    assert "This connection is read-only" not in detail  # the connection is read-write


def test_the_read_write_connection_still_writes_after_widget_reads(
    client: TestClient, runtime: Runtime, rw_db: Path
) -> None:
    _store_directly(runtime, "ins", "INSERT INTO t VALUES (99, 'new')")
    assert client.post("/saved-queries", json=saved("rows", READS[0])).status_code == 201
    for _ in range(3):  # the pooled connections that served the widgets
        client.get("/widgets.json")
        client.get("/widgets/rows")
        client.get("/widgets/ins")
    write = client.post("/connections/rw/query", json={"sql": "INSERT INTO t VALUES (5, 'five')"})
    assert write.status_code == 200, write.text
    assert fingerprint(rw_db)[2][-1] == (5, "five")


def test_sqlite_read_only_session_on_a_read_write_file_refuses_writes_without_the_guard(
    tmp_path: Path,
) -> None:
    # Straight to the session, no statement guard: SQLite itself refuses, then the same
    # pooled connection writes again once the read-only query is over.
    from connector.backends.sqlite import SqliteBackend, connect_sqlite
    from connector.errors import ReadOnlyError
    from connector.running import QueryControl

    db = tmp_path / "file.db"
    with sqlite3.connect(db) as setup:
        setup.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, note TEXT)")
    setup.close()
    backend = SqliteBackend()
    connection = connect_sqlite(str(db), read_only=False)
    other = tmp_path / "other.db"
    for sql in (
        "INSERT INTO t VALUES (1, 'x')",
        "CREATE TABLE u (x)",
        "PRAGMA user_version = 3",
        f"ATTACH DATABASE '{other}' AS other",
        f"VACUUM INTO '{tmp_path / 'copy.db'}'",
    ):
        control = QueryControl("q_ro", "file", sql, 10.0)
        with (
            pytest.raises(Exception) as caught,
            backend.session(connection, control, read_only=True, stream=False) as cursor,
        ):
            cursor.execute(sql)
        assert isinstance(backend.translate_error(caught.value), ReadOnlyError), (sql, caught.value)
    assert not other.exists() and not (tmp_path / "copy.db").exists()
    _, _, rows, schema, version = fingerprint(db)
    assert rows == [] and [name for _, name, _ in schema] == ["t"] and version == [(0,)]
    for sql in ("INSERT INTO t VALUES (2, 'y')", f"ATTACH DATABASE '{other}' AS other"):
        control = QueryControl("q_rw", "file", sql, 10.0)
        with backend.session(connection, control, read_only=False, stream=False) as cursor:
            cursor.execute(sql)
    assert fingerprint(db)[2] == [(2, "y")] and other.exists()
