"""The ``mysql`` kind against a real MariaDB/MySQL server on 127.0.0.1:3306 (root, no
password). Each run makes its own database and a user whose password holds ``@ : / % #``
and spaces, and drops both afterwards."""

from __future__ import annotations

import base64
import json
import os
import secrets
import shutil
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pymysql
import pytest
from fastapi.testclient import TestClient

from connector.backends import get_backend
from connector.errors import ReadOnlyError, SqlError
from connector.models import ConnectionSpec
from connector.query import run_query
from tests import netdb
from tests.conftest import assert_error, require_service, start_server, stop_server, wait_until

HOST, PORT = "127.0.0.1", 3306


def admin() -> Any:
    return pymysql.connect(host=HOST, port=PORT, user="root", autocommit=True)


@pytest.fixture(scope="module")
def db() -> Iterator[netdb.NetDb]:
    with netdb.mariadb_database() as database:
        yield database


@pytest.fixture
def conn(client: TestClient, db: netdb.NetDb) -> str:
    name = "my_" + secrets.token_hex(3)
    assert client.post("/connections", json=db.body(name)).status_code == 201
    return name


def test_mysql_connect_and_test_with_awkward_password(client: TestClient, db: netdb.NetDb) -> None:
    netdb.check_connect_and_test(client, db, "maria")
    version = client.post("/connections/test", json=db.body()).json()["server_version"]
    assert "MariaDB" in version or "MySQL" in version


def test_mysql_connect_failures_name_the_cause(client: TestClient, db: netdb.NetDb) -> None:
    details = netdb.check_connect_failures(
        client, db, wrong_password=db.body(secret=netdb.PASSWORD + "x")
    )
    assert "refused the login" in details["wrong password"]


def test_mysql_bad_options_are_refused(client: TestClient, db: netdb.NetDb) -> None:
    netdb.check_bad_options(client, db)


def test_mysql_tls_options_are_checked(client: TestClient, db: netdb.NetDb) -> None:
    answer = client.post("/connections/test", json=db.body(ssl={"ca": 5, "bogus": True}))
    assert "ssl" in assert_error(answer, 422, "invalid_request")
    # ssl={} asks for TLS. The server says whether it has a certificate; without one (the
    # test server's case) asking for TLS is a clear 502 naming TLS, not a crash.
    with db.extra["root"].cursor() as cur:
        cur.execute("SHOW GLOBAL VARIABLES LIKE 'have_ssl'")
        has_tls = cur.fetchone()[1] == "YES"
    answer = client.post("/connections/test", json=db.body(ssl={}))
    if has_tls:
        assert answer.status_code == 200, answer.text
    else:
        assert "TLS" in assert_error(answer, 502, "db_unavailable")


def test_mysql_read_only_is_enforced_by_the_server(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    # The guard cannot see that touch() writes; MariaDB refuses it in the read-only transaction.
    answer = client.post(f"/connections/{conn}/query", json={"sql": "SELECT touch()"})
    assert_error(answer, 400, "read_only")
    for sql in (
        "INSERT INTO trades VALUES (3, 'TSLA', 5)",
        "UPDATE trades SET qty = 0",
        "/* looks harmless */ DELETE FROM trades",
        "CREATE TABLE sneaky (x INT)",
        "SELECT touch()",
    ):
        engine, job = netdb.raw_job(db, sql)
        try:
            with pytest.raises(ReadOnlyError):
                run_query(job, 10)
        finally:
            engine.dispose()
    # INTO OUTFILE writes no table, so the read-only transaction does not cover it: the
    # user lacks the FILE privilege (granted only on its database), and the server says so.
    outfile = f"/tmp/dc_outfile_{secrets.token_hex(4)}.txt"
    engine, job = netdb.raw_job(db, f"SELECT * FROM trades INTO OUTFILE '{outfile}'")
    try:
        with pytest.raises(SqlError, match="FILE privilege"):
            run_query(job, 10)
    finally:
        engine.dispose()
    assert not os.path.exists(outfile)
    with db.extra["root"].cursor() as cur:
        cur.execute(f"SELECT COUNT(*), SUM(qty) FROM `{db.extra['database']}`.trades")
        assert cur.fetchone() == (2, 30)
        cur.execute(f"SELECT COUNT(*) FROM `{db.extra['database']}`.audit")
        assert cur.fetchone() == (0,)
        cur.execute(f"SHOW TABLES FROM `{db.extra['database']}` LIKE 'sneaky'")
        assert cur.fetchall() == ()


def test_mysql_writable_connection_commits(client: TestClient, db: netdb.NetDb) -> None:
    name = "my_rw_" + secrets.token_hex(3)
    assert client.post("/connections", json=db.body(name, read_only=False)).status_code == 201
    answer = client.post(
        f"/connections/{name}/query",
        json={"sql": "INSERT INTO audit VALUES (:note)", "params": {"note": "50% @ #1"}},
    )
    assert answer.status_code == 200, answer.text
    with db.extra["root"].cursor() as cur:
        cur.execute(f"SELECT note FROM `{db.extra['database']}`.audit")
        assert cur.fetchall() == (("50% @ #1",),)
        cur.execute(f"DELETE FROM `{db.extra['database']}`.audit")


def test_mysql_timeout_is_enforced_by_the_server(db: netdb.NetDb) -> None:
    # Only the server's max_statement_time can stop the statement.
    netdb.check_server_timeout(db, "mk_srv_" + secrets.token_hex(3))


def test_mysql_timeout_over_http_stops_the_statement(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    netdb.check_timeout(client, db, conn, "mk_to_" + secrets.token_hex(3))


def test_mysql_cancel_kills_the_query(client: TestClient, db: netdb.NetDb, conn: str) -> None:
    netdb.check_cancel(client, db, conn, "mk_cancel_" + secrets.token_hex(3))
    # The pooled connection is usable afterwards.
    assert client.post(f"/connections/{conn}/query", json={"sql": "SELECT 1"}).status_code == 200


def test_mysql_connection_removed_while_its_query_runs(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    netdb.check_removed_while_running(client, db, conn, "mk_rm_" + secrets.token_hex(3))


def test_mysql_export_streams_every_row(client: TestClient, conn: str) -> None:
    netdb.check_export_rows(client, conn, "SELECT seq AS n, 'x' AS s FROM seq_1_to_120000", 120000)


def test_mysql_export_client_disconnect_stops_the_query(db: netdb.NetDb, tmp_path: Path) -> None:
    marker = "mk_exp_" + secrets.token_hex(3)
    server = start_server(tmp_path / "data")
    try:
        netdb.check_export_disconnect(
            server.url,
            server.api_key,
            db,
            "myexp",
            f"SELECT seq AS n, '{marker}' AS m FROM seq_1_to_50000000",
            marker,
        )
    finally:
        stop_server(server)


def test_mysql_two_result_sets_are_refused(client: TestClient, db: netdb.NetDb, conn: str) -> None:
    answer = client.post(f"/connections/{conn}/query", json={"sql": "SELECT 1; SELECT 2"})
    assert "one statement" in assert_error(answer, 400, "sql_error")
    # A procedure may send two result sets: that is refused too, and nothing is committed.
    with db.extra["root"].cursor() as cur:
        cur.execute(f"USE `{db.extra['database']}`")
        cur.execute(
            "CREATE PROCEDURE two() BEGIN INSERT INTO audit VALUES ('two'); "
            "SELECT 1 AS a; SELECT 2 AS b; END"
        )
        cur.execute("CREATE PROCEDURE one() BEGIN SELECT 1 AS a; END")
    name = "my_call_" + secrets.token_hex(3)
    assert client.post("/connections", json=db.body(name, read_only=False)).status_code == 201
    answer = client.post(f"/connections/{name}/query", json={"sql": "CALL two()"})
    assert "more than one result set" in assert_error(answer, 400, "sql_error")
    with db.extra["root"].cursor() as cur:
        cur.execute(f"SELECT COUNT(*) FROM `{db.extra['database']}`.audit WHERE note = 'two'")
        assert cur.fetchone() == (0,)
    answer = client.post(f"/connections/{name}/query", json={"sql": "CALL one()"})
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [[1]]
    # Even past the guard, the server sees one statement only (no multi-statements).
    engine, job = netdb.raw_job(db, "SELECT 1; SELECT 2")
    try:
        with pytest.raises(SqlError):
            run_query(job, 10)
    finally:
        engine.dispose()


TYPES_DDL = """
CREATE TABLE awkward (
  id INT PRIMARY KEY,
  dec65 DECIMAL(65,30), ubig BIGINT UNSIGNED, dbl DOUBLE,
  t TIME, d DATE, dt6 DATETIME(6), ts TIMESTAMP NULL, y YEAR, b BIT(10),
  blb BLOB, js JSON, e ENUM('buy','sell'), st SET('a','b','c'), emoji VARCHAR(20)
) CHARACTER SET utf8mb4
"""


def test_mysql_types_map_as_the_contract_says(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    dec = "12345678901234567890123456789012345.123456789012345678901234567891"
    with db.extra["root"].cursor() as cur:
        cur.execute(f"USE `{db.extra['database']}`")
        cur.execute("SET SESSION sql_mode = ''")  # allows zero dates
        cur.execute(TYPES_DDL)
        cur.execute(
            "INSERT INTO awkward VALUES (1, %s, 18446744073709551615, 1.5e300, '-838:59:59', "
            "'0000-00-00', '2024-05-01 13:45:00.123456', '2024-05-01 13:45:00', 2024, b'1010101010', "
            "x'00ff10', '{\"a\": [1, 2.5, null], \"b\": \"ü\"}', 'sell', 'a,c', 'up 🚀')",
            (dec,),
        )
        cur.execute(
            "INSERT INTO awkward VALUES (2, -0.5, 0, -0.0, '100:00:01', '2024-02-29', "
            "'0000-00-00 00:00:00', NULL, 1901, b'0', '', '[]', 'buy', '', '')"
        )
    answer = client.post(
        f"/connections/{conn}/query", json={"sql": "SELECT * FROM awkward ORDER BY id"}
    )
    assert answer.status_code == 200, answer.text
    text = answer.text
    body = answer.json()
    types = {c["name"]: c["type"] for c in body["columns"]}
    assert types == {
        "id": "integer", "dec65": "decimal", "ubig": "integer", "dbl": "float", "t": "time",
        "d": "date", "dt6": "datetime", "ts": "datetime", "y": "integer", "b": "integer",
        "blb": "binary", "js": "json", "e": "string", "st": "string", "emoji": "string",
    }  # fmt: skip
    first, second = body["rows"]
    assert f"[1,{dec},18446744073709551615," in text  # exact, unquoted numbers
    assert first[2] == 18446744073709551615
    assert first[3] == 1.5e300
    assert first[4] == "-838:59:59" and second[4] == "100:00:01"
    assert first[5] is None  # zero date
    assert first[6] == "2024-05-01T13:45:00.123456"
    assert first[7] == "2024-05-01T13:45:00"
    assert first[8] == 2024
    assert first[9] == 0b1010101010
    assert base64.b64decode(first[10]) == b"\x00\xff\x10"
    assert first[11] == {"a": [1, 2.5, None], "b": "ü"} and second[11] == []
    assert first[12] == "sell" and first[13] == "a,c"
    assert first[14] == "up 🚀"
    assert second[1] == -0.5 and second[5] == "2024-02-29" and second[6] is None


def test_mysql_schema_browsing_in_one_query(client: TestClient, db: netdb.NetDb, conn: str) -> None:
    database = db.extra["database"]
    with db.extra["root"].cursor() as cur:
        cur.execute(f"USE `{database}`")
        for index in range(200):
            cur.execute(f"CREATE TABLE many_{index:03d} (id INT NOT NULL, label TEXT)")
    answer = client.get(f"/connections/{conn}/schema")
    assert answer.status_code == 200, answer.text
    schemas = answer.json()["schemas"]
    assert [s["name"] for s in schemas] == [database]
    tables = {t["name"]: t for t in schemas[0]["tables"]}
    assert len([n for n in tables if n.startswith("many_")]) == 200
    assert tables["big_trades"]["kind"] == "view"
    assert tables["trades"]["kind"] == "table"
    assert tables["many_007"]["columns"] == [
        {"name": "id", "type": "int(11)", "nullable": False},
        {"name": "label", "type": "text", "nullable": True},
    ]
    # One query for the whole database, however many tables: count what the server saw.
    backend = get_backend("mysql")
    spec = ConnectionSpec(name="raw", kind="mysql", options=db.options)
    engine = backend.create_engine(spec, db.password)
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection

        def questions() -> int:
            with connection.cursor() as cur:
                cur.execute("SHOW SESSION STATUS LIKE 'Questions'")
                return int(cur.fetchone()[1])

        before = questions()
        backend.describe_schema(connection)
        assert questions() - before <= 3  # the query, its rollback, and the status query
    finally:
        raw.close()
        engine.dispose()


# -- resilience: a private MariaDB that the test stops and restarts ------------------------


def _mariadbd() -> str | None:
    return (
        shutil.which("mariadbd")
        or shutil.which("mysqld")
        or ("/usr/sbin/mariadbd" if os.path.exists("/usr/sbin/mariadbd") else None)
    )


class PrivateMariadb:
    def __init__(self, base: Path, port: int) -> None:
        self.base, self.port = base, port
        self.datadir, self.socket = base / "data", base / "mysqld.sock"
        self.process: subprocess.Popen[bytes] | None = None

    def install(self) -> None:
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--datadir={self.datadir}", "--user=root",
             "--auth-root-authentication-method=normal", "--skip-test-db",
             "--skip-name-resolve"],
            check=True, capture_output=True, timeout=120,
        )  # fmt: skip

    def start(self) -> None:
        binary = _mariadbd()
        assert binary is not None
        self.process = subprocess.Popen(
            [binary, "--no-defaults", f"--datadir={self.datadir}", f"--socket={self.socket}",
             f"--port={self.port}", "--bind-address=127.0.0.1", "--user=root",
             "--innodb-buffer-pool-size=16M", "--skip-log-bin",
             f"--pid-file={self.base / 'mysqld.pid'}", "--skip-name-resolve"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        # A fresh MariaDB listens within seconds; 60 s bounds a loaded machine.
        wait_until(
            lambda: netdb.port_open("127.0.0.1", self.port),
            within_s=60,
            what="the private MariaDB listening",
            process=self.process,
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(30)
        self.process = None


@contextmanager
def analyst_mariadb(prefix: str) -> Iterator[PrivateMariadb]:
    """A private MariaDB (its own folder, a free port) with the user ``analyst`` (password
    ``netdb.PASSWORD``) who may read the database ``prices``; stopped and removed after."""
    available = _mariadbd() is not None and shutil.which("mariadb-install-db") is not None
    require_service(available, "mariadbd and mariadb-install-db are needed for a private server")
    base = Path(tempfile.mkdtemp(prefix=prefix))
    server = PrivateMariadb(base, netdb.closed_port())
    try:
        server.install()
        server.start()
        connection = pymysql.connect(
            host="127.0.0.1", port=server.port, user="root", autocommit=True
        )
        with connection.cursor() as cur:
            cur.execute("CREATE DATABASE prices")
            cur.execute("CREATE USER 'analyst'@'%%' IDENTIFIED BY %s", (netdb.PASSWORD,))
            cur.execute("GRANT SELECT ON prices.* TO 'analyst'@'%'")
        connection.close()
        yield server
    finally:
        server.stop()
        shutil.rmtree(base, ignore_errors=True)


@pytest.fixture
def private_mariadb() -> Iterator[PrivateMariadb]:
    with analyst_mariadb("dc-mariadb-") as server:
        connection = pymysql.connect(
            host="127.0.0.1", port=server.port, user="root", autocommit=True
        )
        with connection.cursor() as cur:
            cur.execute("CREATE TABLE prices.close (px INT)")
            cur.execute("INSERT INTO prices.close VALUES (42)")
        connection.close()
        yield server


def test_mysql_survives_a_database_restart(
    client: TestClient, private_mariadb: PrivateMariadb
) -> None:
    body = netdb.analyst_body("mysql", private_mariadb.port, "private")
    assert client.post("/connections", json=body).status_code == 201
    query = {"sql": "SELECT px FROM close"}
    assert client.post("/connections/private/query", json=query).json()["rows"] == [[42]]
    private_mariadb.stop()
    started = time.monotonic()
    down = client.post("/connections/private/query", json=query)
    assert_error(down, 502, "db_unavailable")
    # Guards against hanging on the dead server (retrying, or waiting out the 30 s query
    # timeout), not speed: a closed local port refuses at once and the connect timeout is
    # 3 s; the rest is a loaded machine's allowance.
    assert time.monotonic() - started < 20
    # The connector keeps serving its other connections.
    sample = client.post("/connections/sample/query", json={"sql": "SELECT 1 AS ok"})
    assert sample.status_code == 200 and sample.json()["rows"] == [[1]]
    assert client.get("/health").status_code == 200
    private_mariadb.start()
    back = client.post("/connections/private/query", json=query)
    assert back.status_code == 200, back.text
    assert back.json()["rows"] == [[42]]


def test_mysql_json_columns_are_parsed_in_queries_params_and_exports(
    client: TestClient, db: netdb.NetDb, conn: str
) -> None:
    # On MariaDB JSON is LONGTEXT plus a json_valid() check: the columns are found through
    # information_schema and parsed; text that merely looks like JSON stays text.
    with db.extra["root"].cursor() as cur:
        cur.execute(f"USE `{db.extra['database']}`")
        cur.execute("CREATE TABLE docs (id INT, doc JSON, note LONGTEXT)")
        cur.execute(
            """INSERT INTO docs VALUES (1, '{"k": [1, 2]}', '{"not": "json"}'), (2, NULL, 'x')"""
        )
    sql = "SELECT d.doc AS payload, d.note, d.id FROM docs AS d WHERE d.id >= :lo ORDER BY d.id"
    body = client.post(f"/connections/{conn}/query", json={"sql": sql, "params": {"lo": 1}}).json()
    assert [c["type"] for c in body["columns"]] == ["json", "string", "integer"]
    assert body["rows"] == [[{"k": [1, 2]}, '{"not": "json"}', 1], [None, "x", 2]]
    exported = client.post(f"/connections/{conn}/export", json={"sql": sql, "params": {"lo": 1}})
    assert exported.status_code == 200, exported.text
    lines = [json.loads(line) for line in exported.text.splitlines()]
    assert lines == [
        {"payload": {"k": [1, 2]}, "note": '{"not": "json"}', "id": 1},
        {"payload": None, "note": "x", "id": 2},
    ]
