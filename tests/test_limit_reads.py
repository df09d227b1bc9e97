"""A row-limited ``/query`` reads at most ``limit + 1`` rows from the database, seen from the
database's side: every row the server produces draws the next value of a sequence
(``nextval`` in the select list), so after the query the sequence says how many rows the
server made. Each server gets its own database (MariaDB on 127.0.0.1:3306 as root,
PostgreSQL on 127.0.0.1:5432 as postgres), dropped afterwards. The connections are
read-write because drawing from a sequence is a write."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as pgsql

from tests import netdb
from tests.conftest import require_service

ROWS = 20_000
LIMIT = 10


@pytest.fixture(scope="module")
def mariadb() -> Iterator[dict[str, Any]]:
    require_service(netdb.port_open("127.0.0.1", 3306), "no MariaDB on 127.0.0.1:3306")
    database = f"dc_limit_{secrets.token_hex(4)}"
    root = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}`")
        cur.execute(f"USE `{database}`")
        cur.execute("CREATE TABLE big (id INT PRIMARY KEY)")
        cur.execute(f"INSERT INTO big SELECT seq FROM seq_1_to_{ROWS}")
        cur.execute("CREATE SEQUENCE drawn NOCACHE")
    yield {"root": root, "database": database}
    with root.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    root.close()


@pytest.fixture(scope="module")
def postgres() -> Iterator[dict[str, Any]]:
    require_service(netdb.port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    database = f"dc_limit_{secrets.token_hex(4)}"
    root = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(database)))
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=database, autocommit=True
    ) as owner:
        owner.execute(f"CREATE TABLE big AS SELECT generate_series(1, {ROWS}) AS id")
        owner.execute("CREATE SEQUENCE drawn")
    yield {"root": root, "database": database}
    root.execute(
        pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(database))
    )
    root.close()


def _add(client: TestClient, kind: str, options: dict[str, Any]) -> str:
    name = f"lim_{secrets.token_hex(3)}"
    body = {"name": name, "kind": kind, "options": options, "read_only": False}
    assert client.post("/connections", json=body).status_code == 201
    return name


def _query(client: TestClient, name: str, sql: str) -> dict[str, Any]:
    response = client.post(f"/connections/{name}/query", json={"sql": sql, "limit": LIMIT})
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    assert body["row_count"] == LIMIT and body["truncated"] is True
    return body


def test_mariadb_limit_makes_the_server_produce_limit_plus_one_rows(
    client: TestClient, mariadb: dict[str, Any]
) -> None:
    database = mariadb["database"]
    name = _add(
        client, "mysql", {"host": "127.0.0.1", "port": 3306, "user": "root", "database": database}
    )
    _query(client, name, "SELECT id, nextval(drawn) AS n FROM big ORDER BY id")
    with mariadb["root"].cursor() as cur:
        cur.execute(f"SELECT nextval(`{database}`.drawn)")
        assert cur.fetchone()[0] <= LIMIT + 2  # limit + 1 drawn by the query, then ours
    # The limit is the session's for that query only: the next one reads every row.
    every = client.post(f"/connections/{name}/query", json={"sql": "SELECT id FROM big"})
    assert every.json()["row_count"] == 1000


def test_postgresql_limit_fetches_limit_plus_one_rows_from_a_server_side_cursor(
    client: TestClient, postgres: dict[str, Any]
) -> None:
    name = _add(
        client,
        "postgresql",
        {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": postgres["database"]},
    )
    body = _query(client, name, "SELECT id, nextval('drawn') AS n FROM big ORDER BY id")
    assert [row[0] for row in body["rows"]] == list(range(1, LIMIT + 1))
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=postgres["database"], autocommit=True
    ) as check:
        drawn = check.execute("SELECT last_value FROM drawn").fetchone()
    assert drawn is not None and drawn[0] <= LIMIT + 1
    # Writes still run on a client-side cursor and are committed.
    client.post(
        f"/connections/{name}/query", json={"sql": "INSERT INTO big VALUES (-1)", "limit": 5}
    )
    again = client.post(
        f"/connections/{name}/query", json={"sql": "SELECT count(*) FROM big WHERE id = -1"}
    )
    assert again.json()["rows"] == [[1]]
