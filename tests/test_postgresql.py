"""The ``postgresql`` kind against a real PostgreSQL server on 127.0.0.1:5432 (user
postgres, trust). Each run makes its own database and a user whose password holds
``@ : / % #`` and spaces, and drops both afterwards. The shared server trusts every local
login, so wrong-password and restart checks use a private server started by the test."""

from __future__ import annotations

import base64
import datetime as dt
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as pgsql

from connector.backends import get_backend
from connector.backends.postgresql import OneStatementCursor
from connector.errors import ReadOnlyError, SqlError
from connector.models import ConnectionSpec
from connector.query import run_query
from tests import netdb
from tests.conftest import assert_error, require_service, start_server, stop_server

HOST, PORT = "127.0.0.1", 5432


def admin(dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(host=HOST, port=PORT, user="postgres", dbname=dbname, autocommit=True)


@pytest.fixture(scope="module")
def db() -> Iterator[netdb.NetDb]:
    with netdb.postgres_database() as database:
        yield database


def owner_connection(db: netdb.NetDb) -> psycopg.Connection[Any]:
    return psycopg.connect(
        host=HOST,
        port=PORT,
        user=db.extra["user"],
        dbname=db.extra["database"],
        password=db.password,
        autocommit=True,
    )


@pytest.fixture
def conn(client: TestClient, db: netdb.NetDb) -> str:
    name = "pg_" + secrets.token_hex(3)
    assert client.post("/connections", json=db.body(name)).status_code == 201
    return name


def test_postgresql_connect_and_test_with_awkward_password(
    client: TestClient, db: netdb.NetDb
) -> None:
    netdb.check_connect_and_test(client, db, "pgmain")
    version = client.post("/connections/test", json=db.body()).json()["server_version"]
    assert version.startswith("PostgreSQL ")


def test_postgresql_connect_failures_name_the_cause(client: TestClient, db: netdb.NetDb) -> None:
    # Wrong passwords are checked on the private server: the shared one trusts local logins.
    netdb.check_connect_failures(client, db, wrong_password=None)


def test_postgresql_bad_options_are_refused(client: TestClient, db: netdb.NetDb) -> None:
    netdb.check_bad_options(client, db)
    answer = client.post("/connections/test", json=db.body(sslmode="sometimes"))
    assert "sslmode" in assert_error(answer, 422, "invalid_request")
    # The shared server has no TLS: requiring it is a clear 502.
    answer = client.post("/connections/test", json=db.body(sslmode="require"))
    assert_error(answer, 502, "db_unavailable")
    assert netdb.PASSWORD not in answer.text


def test_postgresql_read_only_is_enforced_by_the_server(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    # The guard cannot see that touch() writes; PostgreSQL refuses it in a read-only transaction.
    answer = client.post(f"/connections/{conn}/query", json={"sql": "SELECT touch()"})
    assert_error(answer, 400, "read_only")
    for sql in (
        "INSERT INTO trades VALUES (3, 'TSLA', 5)",
        "WITH gone AS (DELETE FROM trades RETURNING *) SELECT count(*) FROM gone",
        "/* looks harmless */ UPDATE trades SET qty = 0",
        "CREATE TABLE sneaky (x int)",
        "SELECT touch()",
        "COPY trades TO PROGRAM 'true'",
    ):
        engine, job = netdb.raw_job(db, sql)
        try:
            with pytest.raises((ReadOnlyError, SqlError)) as caught:
                run_query(job, 10)
        finally:
            engine.dispose()
        if not sql.startswith("COPY"):
            assert isinstance(caught.value, ReadOnlyError), (sql, caught.value)
    # Two statements never reach the server as two: the extended protocol carries one.
    for sql in (
        "SELECT pg_sleep(0); DROP TABLE trades",
        "COMMIT; SET default_transaction_read_only = off; DROP TABLE audit",
    ):
        engine, job = netdb.raw_job(db, sql)
        try:
            with pytest.raises(SqlError, match="multiple commands"):
                run_query(job, 10)
        finally:
            engine.dispose()
    with owner_connection(db) as owner:
        assert owner.execute("SELECT count(*), sum(qty) FROM trades").fetchone() == (2, 30)
        assert owner.execute("SELECT count(*) FROM audit").fetchone() == (0,)
        assert owner.execute("SELECT to_regclass('sneaky')").fetchone() == (None,)


def test_postgresql_writable_connection_commits(client: TestClient, db: netdb.NetDb) -> None:
    name = "pg_rw_" + secrets.token_hex(3)
    assert client.post("/connections", json=db.body(name, read_only=False)).status_code == 201
    answer = client.post(
        f"/connections/{name}/query",
        json={"sql": "INSERT INTO audit VALUES (:note)", "params": {"note": "50% @ #1"}},
    )
    assert answer.status_code == 200, answer.text
    with owner_connection(db) as owner:
        assert owner.execute("SELECT note FROM audit").fetchall() == [("50% @ #1",)]
        owner.execute("DELETE FROM audit")


def test_postgresql_timeout_is_enforced_by_the_server(db: netdb.NetDb) -> None:
    # Only the server's statement_timeout can stop the statement.
    netdb.check_server_timeout(db, "mk_srv_" + secrets.token_hex(3))


def test_postgresql_timeout_over_http_stops_the_statement(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    netdb.check_timeout(client, db, conn, "mk_to_" + secrets.token_hex(3))


def test_postgresql_cancel_stops_the_query(client: TestClient, db: netdb.NetDb, conn: str) -> None:
    netdb.check_cancel(client, db, conn, "mk_cancel_" + secrets.token_hex(3))
    assert client.post(f"/connections/{conn}/query", json={"sql": "SELECT 1"}).status_code == 200


def test_postgresql_connection_removed_while_its_query_runs(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    netdb.check_removed_while_running(client, db, conn, "mk_rm_" + secrets.token_hex(3))


def test_postgresql_export_streams_every_row(client: TestClient, conn: str) -> None:
    netdb.check_export_rows(
        client, conn, "SELECT g AS n, 'x' AS s FROM generate_series(1, 120000) AS g", 120000
    )
    # Statements a server-side cursor cannot hold export through an ordinary cursor.
    netdb.check_export_rows(client, conn, "SHOW search_path", 1)
    netdb.check_export_rows(client, conn, "EXPLAIN SELECT * FROM trades", 1)


def test_postgresql_export_client_disconnect_stops_the_query(
    db: netdb.NetDb, tmp_path: Path
) -> None:
    marker = "mk_exp_" + secrets.token_hex(3)
    server = start_server(tmp_path / "data")
    try:
        netdb.check_export_disconnect(
            server.url,
            server.api_key,
            db,
            "pgexp",
            f"SELECT generate_series(1, 50000000) AS n, '{marker}' AS m",
            marker,
        )
    finally:
        stop_server(server)


def test_postgresql_two_result_sets_are_refused(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    answer = client.post(f"/connections/{conn}/query", json={"sql": "SELECT 1; SELECT 2"})
    assert "one statement" in assert_error(answer, 400, "sql_error")
    # Even past the guard, the server takes one statement only (the extended protocol).
    engine, job = netdb.raw_job(db, "SELECT 1; SELECT 2")
    try:
        with pytest.raises(SqlError, match="multiple commands"):
            run_query(job, 10)
    finally:
        engine.dispose()


TYPES_DDL = """
CREATE TABLE awkward (
  id int PRIMARY KEY, big numeric(1000, 20), i8 bigint, f8 double precision,
  iv interval, tstz timestamptz, d date, u uuid, j jsonb, arr int[], tags text[],
  b bytea, ip inet, ok boolean, t time
)
"""


def test_postgresql_types_map_as_the_contract_says(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    big = "9" * 980 + "." + "1234567890" * 2
    with owner_connection(db) as owner:
        owner.execute(TYPES_DDL)
        owner.execute(
            "INSERT INTO awkward VALUES "
            "(1, %s, 9223372036854775807, 'NaN', '1 year 2 mons 3 days 04:05:06.5', "
            "'2024-05-01 13:45:00+02', 'infinity', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', "
            """'{"a": [1, 2.5, null], "b": "ü🚀"}', '{1,NULL,3}', '{"x y","z"}', '\\x00ff10', """
            "'192.168.0.1/24', true, '13:45:00'),"
            "(2, 'NaN', -9223372036854775808, 'Infinity', '-1 day', '2024-05-01 13:45:00+00', "
            "'-infinity', NULL, '[]', '{}', NULL, '', '::1', false, NULL),"
            "(3, -0.5, 0, '-Infinity', '0', NULL, '2024-02-29', NULL, 'null', NULL, NULL, NULL, "
            "NULL, NULL, NULL)",
            (Decimal(big),),
        )
    answer = client.post(
        f"/connections/{conn}/query", json={"sql": "SELECT * FROM awkward ORDER BY id"}
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert types == {
        "id": "integer", "big": "decimal", "i8": "integer", "f8": "float", "iv": "string",
        "tstz": "datetime", "d": "date", "u": "string", "j": "json", "arr": "json",
        "tags": "json", "b": "binary", "ip": "string", "ok": "boolean", "t": "time",
    }  # fmt: skip
    assert f"[1,{big},9223372036854775807," in answer.text  # exact, unquoted numbers
    one, two, three = body["rows"]
    assert one[3] is None and two[3] is None and three[3] is None  # NaN, ±Infinity
    assert two[1] is None  # numeric NaN
    assert one[4] == "P1Y2M3DT4H5M6.5S" and two[4] == "P-1D"
    # The same instants, written with an explicit offset (the session's time zone decides
    # which offset; the instant is what the database stored).
    utc = dt.UTC
    assert dt.datetime.fromisoformat(one[5]) == dt.datetime(2024, 5, 1, 11, 45, tzinfo=utc)
    assert dt.datetime.fromisoformat(two[5]) == dt.datetime(2024, 5, 1, 13, 45, tzinfo=utc)
    assert dt.datetime.fromisoformat(one[5]).tzinfo is not None and three[5] is None
    assert one[6] == "infinity" and two[6] == "-infinity" and three[6] == "2024-02-29"
    assert one[7] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert one[8] == {"a": [1, 2.5, None], "b": "ü🚀"} and two[8] == [] and three[8] is None
    assert one[9] == [1, None, 3] and two[9] == [] and one[10] == ["x y", "z"]
    assert base64.b64decode(one[11]) == b"\x00\xff\x10" and two[11] == ""
    assert one[12] == "192.168.0.1/24" and two[12] == "::1"
    assert one[13] is True and one[14] == "13:45:00"
    assert three[1] == -0.5 and two[2] == -9223372036854775808


class CountingCursor(OneStatementCursor):
    executed = 0

    def execute(self, *args: Any, **kwargs: Any) -> Any:
        CountingCursor.executed += 1
        return super().execute(*args, **kwargs)


def test_postgresql_schema_browsing_in_fixed_queries(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    with owner_connection(db) as owner:
        owner.execute(
            "DO $$ BEGIN FOR i IN 0..199 LOOP EXECUTE format("
            "'CREATE TABLE many_%s (id int NOT NULL, label text)', lpad(i::text, 3, '0')); "
            "END LOOP; END $$"
        )
    answer = client.get(f"/connections/{conn}/schema")
    assert answer.status_code == 200, answer.text
    schemas = {s["name"]: s for s in answer.json()["schemas"]}
    assert set(schemas) >= {"public", "empty_one"}
    assert schemas["empty_one"]["tables"] == []
    tables = {t["name"]: t for t in schemas["public"]["tables"]}
    assert len([n for n in tables if n.startswith("many_")]) == 200
    assert tables["big_trades"]["kind"] == "view" and tables["trades"]["kind"] == "table"
    assert tables["many_007"]["columns"] == [
        {"name": "id", "type": "integer", "nullable": False},
        {"name": "label", "type": "text", "nullable": True},
    ]
    backend = get_backend("postgresql")
    engine = backend.create_engine(
        ConnectionSpec(name="raw", kind="postgresql", options=db.options), db.password
    )
    raw = engine.raw_connection()
    try:
        raw.driver_connection.cursor_factory = CountingCursor
        CountingCursor.executed = 0
        backend.describe_schema(raw.driver_connection)
        assert CountingCursor.executed == 2  # schemas, then every column of every table
    finally:
        raw.close()
        engine.dispose()


# -- a private PostgreSQL (password logins; stopped and restarted by the test) ------------


def pg_program(name: str) -> str | None:
    """A PostgreSQL server program: on PATH, or where Debian keeps them (newest version)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        Path("/usr/lib/postgresql").glob(f"*/bin/{name}"),
        key=lambda path: int(path.parts[-3]) if path.parts[-3].isdigit() else 0,
    )
    return str(candidates[-1]) if candidates else None


class PrivatePostgres:
    def __init__(self, base: Path, port: int) -> None:
        self.base, self.port, self.data = base, port, base / "data"

    def _as_postgres(self, *command: str) -> None:
        subprocess.run(
            ["runuser", "-u", "postgres", "--", *command],
            check=True,
            capture_output=True,
            timeout=120,
        )

    def init(self) -> None:
        self._as_postgres(
            str(pg_program("initdb")), "-D", str(self.data), "-U", "postgres", "--auth-local=trust",
            "--auth-host=scram-sha-256", "-E", "UTF8", "--no-sync", "--no-instructions",
        )  # fmt: skip

    def start(self) -> None:
        settings = (
            f"-p {self.port} -k {self.base} -c listen_addresses=127.0.0.1 -c fsync=off "
            "-c shared_buffers=16MB -c max_connections=20"
        )
        self._as_postgres(
            str(pg_program("pg_ctl")), "-D", str(self.data), "-l", str(self.base / "log"), "-o", settings,
            "-w", "-t", "60", "start",
        )  # fmt: skip

    def stop(self) -> None:
        if (self.data / "postmaster.pid").exists():
            self._as_postgres(
                str(pg_program("pg_ctl")), "-D", str(self.data), "-m", "fast", "-w", "stop"
            )


@contextmanager
def analyst_postgres(prefix: str) -> Iterator[PrivatePostgres]:
    """A private PostgreSQL (as the postgres user, in a folder of its own, on a free port)
    with the role ``analyst`` (password ``netdb.PASSWORD``) owning the database ``prices``;
    stopped and removed afterwards."""
    available = (
        pg_program("initdb") is not None
        and pg_program("pg_ctl") is not None
        and shutil.which("runuser") is not None
    )
    require_service(available, "initdb, pg_ctl and runuser are needed for a private server")
    require_service(os.geteuid() == 0, "starting a private PostgreSQL as postgres needs root")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    shutil.chown(base, "postgres", "postgres")
    server = PrivatePostgres(base, netdb.closed_port())
    try:
        server.init()
        server.start()
        with psycopg.connect(
            host=str(base), port=server.port, user="postgres", autocommit=True
        ) as connection:
            connection.execute(
                pgsql.SQL("CREATE ROLE analyst LOGIN PASSWORD {}").format(
                    pgsql.Literal(netdb.PASSWORD)
                )
            )
            connection.execute("CREATE DATABASE prices OWNER analyst")
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture(scope="module")
def private_pg() -> Iterator[PrivatePostgres]:
    with analyst_postgres("dc-pg-") as server:
        with psycopg.connect(
            host="127.0.0.1",
            port=server.port,
            user="analyst",
            password=netdb.PASSWORD,
            dbname="prices",
            autocommit=True,
        ) as connection:
            connection.execute("CREATE TABLE close (px int)")
            connection.execute("INSERT INTO close VALUES (42)")
        yield server


def test_postgresql_wrong_password_is_named(
    client: TestClient, private_pg: PrivatePostgres
) -> None:
    good = client.post("/connections/test", json=netdb.analyst_body("postgresql", private_pg.port))
    assert good.status_code == 200, good.text
    wrong = netdb.analyst_body("postgresql", private_pg.port, secret=netdb.PASSWORD + "x")
    answer = client.post("/connections/test", json=wrong)
    assert "wrong user name or password" in assert_error(answer, 502, "db_unavailable")
    assert netdb.PASSWORD not in answer.text


def test_postgresql_survives_a_database_restart(
    client: TestClient, private_pg: PrivatePostgres
) -> None:
    created = client.post(
        "/connections", json=netdb.analyst_body("postgresql", private_pg.port, "priv")
    )
    assert created.status_code == 201, created.text
    query = {"sql": "SELECT px FROM close"}
    assert client.post("/connections/priv/query", json=query).json()["rows"] == [[42]]
    private_pg.stop()
    started = time.monotonic()
    down = client.post("/connections/priv/query", json=query)
    assert_error(down, 502, "db_unavailable")
    # Guards against hanging on the dead server (retrying, or waiting out the 30 s query
    # timeout), not speed: a closed local port refuses at once and the connect timeout is
    # 3 s; the rest is a loaded machine's allowance.
    assert time.monotonic() - started < 20
    sample = client.post("/connections/sample/query", json={"sql": "SELECT 1 AS ok"})
    assert sample.status_code == 200 and sample.json()["rows"] == [[1]]
    private_pg.start()
    back = client.post("/connections/priv/query", json=query)
    assert back.status_code == 200, back.text
    assert back.json()["rows"] == [[42]]
