"""Checks shared by the MySQL/MariaDB and PostgreSQL integration tests.

Each test module describes its server with a ``NetDb`` (how to reach it as the test user,
how to ask the server which statements are running; ``mariadb_database`` and
``postgres_database`` make one on the shared servers) and calls these checks, so both
databases are held to exactly the same promises.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pymysql
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as pgsql
from sqlalchemy import Engine

from connector.backends import get_backend
from connector.backends.network import CONNECT_TIMEOUT_S
from connector.errors import QueryTimeoutError
from connector.models import ConnectionSpec
from connector.query import QueryJob, run_query
from connector.running import QueryControl
from connector.statements import BoundStatement
from tests import canary
from tests.conftest import assert_error, require_service, wait_until

# The suite's canary (tests/canary.py): every character that breaks a hand-pasted URL.
PASSWORD = canary.SECRET
# The shared servers: MariaDB (root, no password) and PostgreSQL (postgres, trust).
MARIADB = ("127.0.0.1", 3306)
POSTGRES = ("127.0.0.1", 5432)


def analyst_body(
    kind: str, port: int, name: str | None = None, secret: str = PASSWORD
) -> dict[str, Any]:
    """A connection to a private server's database ``prices`` as the user ``analyst``
    (``tests.test_postgresql.analyst_postgres``, ``tests.test_mysql.analyst_mariadb``)."""
    body: dict[str, Any] = {
        "kind": kind,
        "options": {"host": "127.0.0.1", "port": port, "user": "analyst",
                    "database": "prices", "connect_timeout_s": 3},
        "secret": secret,
    }  # fmt: skip
    if name is not None:
        body["name"] = name
    return body


def port_open(host: str, port: int) -> bool:
    try:
        with socket.create_connection((host, port), timeout=1):
            return True
    except OSError:
        return False


def closed_port() -> int:
    """A local port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class NetDb:
    kind: str
    options: dict[str, Any]
    password: str
    # SQL that runs ``seconds`` on the server and contains ``marker`` in its text.
    sleep_sql: Callable[[int, str], str]
    # The texts of statements containing ``marker`` the server is running now.
    running: Callable[[str], list[str]]
    extra: dict[str, Any] = field(default_factory=dict)

    def body(self, name: str | None = None, **changes: Any) -> dict[str, Any]:
        read_only = changes.pop("read_only", True)
        secret = changes.pop("secret", self.password)
        body: dict[str, Any] = {
            "kind": self.kind,
            "options": {**self.options, **changes},
            "read_only": read_only,
            "secret": secret,
        }
        if name is not None:
            body["name"] = name
        return body


@contextmanager
def mariadb_database() -> Iterator[NetDb]:
    """A database and a user of its own on the MariaDB at 127.0.0.1:3306 (root, no
    password), dropped afterwards; the user's password is ``PASSWORD``."""
    require_service(port_open(*MARIADB), "no MySQL/MariaDB server on 127.0.0.1:3306")
    suffix = secrets.token_hex(4)
    database, user = f"dc_test_{suffix}", f"dc_user_{suffix}"
    root = pymysql.connect(host=MARIADB[0], port=MARIADB[1], user="root", autocommit=True)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (PASSWORD,))
            cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'")
        cur.execute(f"USE `{database}`")
        cur.execute("CREATE TABLE trades (id INT PRIMARY KEY, symbol VARCHAR(10), qty INT)")
        cur.execute("INSERT INTO trades VALUES (1, 'AAPL', 10), (2, 'MSFT', 20)")
        cur.execute("CREATE TABLE audit (note VARCHAR(50))")
        cur.execute(
            "CREATE FUNCTION touch() RETURNS INT MODIFIES SQL DATA "
            "BEGIN INSERT INTO audit VALUES ('touched'); RETURN 1; END"
        )
        cur.execute("CREATE VIEW big_trades AS SELECT * FROM trades WHERE qty > 10")

    def running(marker: str) -> list[str]:
        with root.cursor() as cur:
            cur.execute(
                "SELECT INFO FROM information_schema.PROCESSLIST "
                "WHERE USER = %s AND COMMAND = 'Query' AND INFO LIKE %s",
                (user, f"%{marker}%"),
            )
            return [str(row[0]) for row in cur.fetchall()]

    try:
        yield NetDb(
            kind="mysql",
            options={"host": MARIADB[0], "port": MARIADB[1], "user": user, "database": database},
            password=PASSWORD,
            sleep_sql=lambda seconds, marker: f"SELECT SLEEP({seconds}) AS s, '{marker}' AS m",
            running=running,
            extra={"database": database, "user": user, "root": root},
        )
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
            for host in ("127.0.0.1", "localhost"):
                cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
        root.close()


@contextmanager
def postgres_database() -> Iterator[NetDb]:
    """A database and a user of its own on the PostgreSQL at 127.0.0.1:5432 (user
    postgres, trust), dropped afterwards; the user's password is ``PASSWORD``."""
    require_service(port_open(*POSTGRES), "no PostgreSQL server on 127.0.0.1:5432")
    suffix = secrets.token_hex(4)
    database, user = f"dc_test_{suffix}", f"dc_user_{suffix}"
    root = psycopg.connect(
        host=POSTGRES[0], port=POSTGRES[1], user="postgres", dbname="postgres", autocommit=True
    )
    root.execute(
        pgsql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            pgsql.Identifier(user), pgsql.Literal(PASSWORD)
        )
    )
    root.execute(
        pgsql.SQL("CREATE DATABASE {} OWNER {}").format(
            pgsql.Identifier(database), pgsql.Identifier(user)
        )
    )
    with psycopg.connect(
        host=POSTGRES[0],
        port=POSTGRES[1],
        user=user,
        dbname=database,
        password=PASSWORD,
        autocommit=True,
    ) as owner:
        owner.execute("CREATE TABLE trades (id int PRIMARY KEY, symbol text, qty int)")
        owner.execute("INSERT INTO trades VALUES (1, 'AAPL', 10), (2, 'MSFT', 20)")
        owner.execute("CREATE TABLE audit (note text)")
        owner.execute(
            "CREATE FUNCTION touch() RETURNS int LANGUAGE sql VOLATILE AS "
            "$$ INSERT INTO audit VALUES ('touched'); SELECT 1 $$"
        )
        owner.execute("CREATE VIEW big_trades AS SELECT * FROM trades WHERE qty > 10")
        owner.execute("CREATE SCHEMA empty_one")

    def running(marker: str) -> list[str]:
        rows = root.execute(
            "SELECT query FROM pg_stat_activity WHERE usename = %s AND state <> 'idle' "
            "AND pid <> pg_backend_pid() AND (query LIKE %s OR query LIKE 'FETCH%%')",
            (user, f"%{marker}%"),
        ).fetchall()
        return [str(row[0]) for row in rows]

    try:
        yield NetDb(
            kind="postgresql",
            options={"host": POSTGRES[0], "port": POSTGRES[1], "user": user, "database": database},
            password=PASSWORD,
            sleep_sql=lambda seconds, marker: f"SELECT pg_sleep({seconds}) AS s, '{marker}' AS m",
            running=running,
            extra={"database": database, "user": user, "root": root},
        )
    finally:
        root.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(database))
        )
        root.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(user)))
        root.close()


# The statements these checks stop sleep 30 s on the server. Gone within 15 s of being
# stopped shows the connector stopped them (they did not run their 30 s out); 15 s, not
# a fraction of a second, because a loaded two-core machine is slow to tear one down.
GONE_WITHIN_S = 15.0
# A statement shows in the server's process list as soon as it starts; 30 s bounds how
# long a loaded machine takes to get it there.
SHOWS_UP_WITHIN_S = 30.0


def wait_gone(db: NetDb, marker: str) -> None:
    """Until no statement with ``marker`` runs on the server; fails past ``GONE_WITHIN_S``."""
    wait_until(
        lambda: not db.running(marker),
        within_s=GONE_WITHIN_S,
        what=f"statements marked {marker} leaving the server",
    )


def wait_running(db: NetDb, marker: str) -> None:
    wait_until(
        lambda: db.running(marker),
        within_s=SHOWS_UP_WITHIN_S,
        what=f"a statement marked {marker} running on the server",
    )


def check_connect_and_test(client: TestClient, db: NetDb, name: str) -> None:
    answer = client.post("/connections/test", json=db.body())
    assert answer.status_code == 200, answer.text
    assert answer.json()["ok"] is True
    assert answer.json()["server_version"]
    created = client.post("/connections", json=db.body(name))
    assert created.status_code == 201, created.text
    listed = client.get("/connections").text
    assert name in listed
    assert db.password not in listed and "secret" not in listed
    rows = client.post(f"/connections/{name}/query", json={"sql": "SELECT 1 AS one"}).json()
    assert rows["rows"] == [[1]]
    assert rows["columns"] == [{"name": "one", "type": "integer"}]


def check_connect_failures(
    client: TestClient, db: NetDb, *, wrong_password: dict[str, Any] | None
) -> dict[str, str]:
    """Each way of failing to connect gives 502 naming the cause, fast, without the password."""
    cases: dict[str, tuple[dict[str, Any], str]] = {
        "unknown host": ({"host": "no-such-host.invalid"}, "unknown host"),
        "closed port": ({"port": closed_port()}, "port is closed"),
        "unknown database": ({"database": "no_such_database_here"}, "no database"),
    }
    details: dict[str, str] = {}
    bodies = {case: db.body(**changes) for case, (changes, _) in cases.items()}
    expected = {case: text for case, (_, text) in cases.items()}
    if wrong_password is not None:
        bodies["wrong password"] = wrong_password
        expected["wrong password"] = "wrong user name or password"
    for case, body in bodies.items():
        started = time.monotonic()
        answer = client.post("/connections/test", json=body)
        took = time.monotonic() - started
        detail = assert_error(answer, 502, "db_unavailable")
        assert expected[case] in detail.lower(), (case, detail)
        assert str(body["secret"]) not in answer.text
        # Guards against hanging (a retry loop, a connect timeout not applied), not speed:
        # each case fails at once or within the connect timeout, and 30 s more is a loaded
        # machine's allowance.
        limit = body["options"].get("connect_timeout_s", CONNECT_TIMEOUT_S) + 30
        assert took < limit, (case, took)
        details[case] = detail
    return details


def check_bad_options(client: TestClient, db: NetDb) -> None:
    for changes, text in (
        ({"port": 70000}, "port"),
        ({"port": 0}, "port"),
        ({"host": f"{db.kind}://127.0.0.1"}, "scheme"),
        ({"host": "user@127.0.0.1"}, "host"),
        ({"database": "bad'name"}, "quote"),
        ({"database": 'bad"name'}, "quote"),
    ):
        answer = client.post("/connections/test", json=db.body(**changes))
        detail = assert_error(answer, 422, "invalid_request")
        assert text in detail.lower(), (changes, detail)


def check_timeout(client: TestClient, db: NetDb, name: str, marker: str) -> None:
    answer = client.post(
        f"/connections/{name}/query", json={"sql": db.sleep_sql(30, marker), "timeout_s": 1}
    )
    assert_error(answer, 504, "timeout")
    wait_gone(db, marker)


def start_slow_query(
    client: TestClient, db: NetDb, name: str, marker: str
) -> tuple[threading.Thread, list[httpx.Response]]:
    """A 30 s statement on connection ``name`` in a thread, once the server runs it."""
    results: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: results.append(
            client.post(
                f"/connections/{name}/query",
                json={"sql": db.sleep_sql(30, marker), "timeout_s": 60},
            )
        )
    )
    worker.start()
    wait_running(db, marker)
    return worker, results


def check_cancel(client: TestClient, db: NetDb, name: str, marker: str) -> None:
    worker, results = start_slow_query(client, db, name, marker)
    running = [q for q in client.get("/queries").json() if marker in q["sql"]]
    assert len(running) == 1
    assert client.delete(f"/queries/{running[0]['query_id']}").status_code == 204
    wait_gone(db, marker)
    worker.join(10)
    assert results, "the cancelled request never answered"
    assert_error(results[0], 499, "cancelled")


def check_removed_while_running(client: TestClient, db: NetDb, name: str, marker: str) -> None:
    worker, results = start_slow_query(client, db, name, marker)
    assert client.delete(f"/connections/{name}").status_code == 204
    wait_gone(db, marker)
    worker.join(10)
    assert results, "the request on the removed connection never answered"
    assert_error(results[0], 499, "cancelled")
    assert_error(client.get(f"/connections/{name}"), 404, "not_found")


def raw_job(
    db: NetDb, sql: str, *, timeout_s: float = 10, read_only: bool = True
) -> tuple[Engine, QueryJob]:
    """A query that skips the statement guard, as if the guard had been fooled."""
    backend = get_backend(db.kind)
    spec = ConnectionSpec(name="raw", kind=db.kind, options=db.options, read_only=read_only)  # type: ignore[arg-type]
    engine = backend.create_engine(spec, db.password)
    control = QueryControl("q_raw", "raw", sql, timeout_s)
    return engine, QueryJob(backend, engine, spec, BoundStatement(sql, None), control, {})


def check_server_timeout(db: NetDb, marker: str) -> None:
    """No watchdog runs here: only the server's own statement timeout can stop the query."""
    engine, job = raw_job(db, db.sleep_sql(30, marker), timeout_s=1)
    try:
        with pytest.raises(QueryTimeoutError):
            run_query(job, 10)
    finally:
        engine.dispose()
    assert job.control.timed_out
    wait_gone(db, marker)


def check_export_disconnect(
    server_url: str, key: str, db: NetDb, name: str, sql: str, marker: str
) -> None:
    """A client that goes away mid-export makes the server stop the query in the database."""
    with httpx.Client(base_url=server_url, headers={"X-API-KEY": key}, timeout=30) as http:
        created = http.post("/connections", json=db.body(name))
        assert created.status_code == 201, created.text
        with http.stream(
            "POST", f"/connections/{name}/export?format=ndjson", json={"sql": sql, "timeout_s": 120}
        ) as response:
            assert response.status_code == 200
            lines = response.iter_lines()
            first = [next(lines) for _ in range(3)]
            assert all(line.startswith("{") for line in first)
            assert db.running(marker), "the export should still be running on the server"
        wait_gone(db, marker)
        # The server is still fine and the connection usable.
        again = http.post(f"/connections/{name}/query", json={"sql": "SELECT 2 AS two"})
        assert again.json()["rows"] == [[2]]


def check_export_rows(client: TestClient, name: str, sql: str, expected_rows: int) -> None:
    count = 0
    last: bytes = b""
    with client.stream(
        "POST", f"/connections/{name}/export?format=ndjson", json={"sql": sql}
    ) as response:
        assert response.status_code == 200, response.read()
        for line in response.iter_lines():
            if line:
                count += 1
                last = line.encode()
    assert count == expected_rows
    assert last.startswith(b"{")
