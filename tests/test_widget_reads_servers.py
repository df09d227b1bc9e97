"""Widget reads on real MariaDB and PostgreSQL servers run in a read-only transaction even on
a read-write connection, so a SELECT the statement guard cannot see through (a function
that writes) still writes nothing; the same SELECT sent to ``/query`` does write.

Each server's test database has ``touch()``, a function that inserts a row into ``audit``
and returns 1; the rows are counted outside the connector, as the database's owner.
"""

from __future__ import annotations

import secrets

import pytest
from fastapi.testclient import TestClient

from tests import netdb
from tests.test_mysql import db as mysql_db  # noqa: F401 - a fixture, used by name
from tests.test_postgresql import db as pg_db  # noqa: F401 - a fixture, used by name
from tests.test_postgresql import owner_connection


@pytest.fixture(params=["mysql_db", "pg_db"], ids=["mariadb", "postgresql"])
def server_db(request: pytest.FixtureRequest) -> netdb.NetDb:
    found: netdb.NetDb = request.getfixturevalue(request.param)
    return found


def touched(db: netdb.NetDb) -> int:
    """Rows ``touch()`` has written, read outside the connector."""
    if db.kind == "mysql":
        with db.extra["root"].cursor() as cursor:
            cursor.execute(
                f"SELECT COUNT(*) FROM `{db.extra['database']}`.audit WHERE note = 'touched'"
            )
            return int(cursor.fetchone()[0])
    with owner_connection(db) as owner:
        row = owner.execute("SELECT COUNT(*) FROM audit WHERE note = 'touched'").fetchone()
        assert row is not None
        return int(row[0])


def test_widgets_on_a_read_write_server_connection_never_write(
    client: TestClient, server_db: netdb.NetDb
) -> None:
    conn = "rw_" + secrets.token_hex(3)
    body = server_db.body(conn, read_only=False)
    assert client.post("/connections", json=body).status_code == 201
    name = "touchy_" + secrets.token_hex(3)
    saved = {"name": name, "connection": conn, "sql": "SELECT touch() AS t"}
    # A SELECT: the guard lets it be saved; only the read-only session can stop it.
    assert client.post("/saved-queries", json=saved).status_code == 201
    before = touched(server_db)
    assert client.get("/widgets.json").status_code == 200
    widget = client.get(f"/widgets/{name}")
    assert widget.status_code == 400, widget.text
    assert widget.json()["code"] == "read_only", widget.text
    assert client.post(f"/saved-queries/{name}/run", json={}).status_code == 400
    assert touched(server_db) == before
    # The same statement through /query on the read-write connection does write.
    written = client.post(f"/connections/{conn}/query", json={"sql": "SELECT touch() AS t"})
    assert written.status_code == 200, written.text
    assert touched(server_db) == before + 1
