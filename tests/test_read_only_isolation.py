"""Read-only means no lasting effect on anyone else, checked from the database's own side.

For MariaDB (127.0.0.1:3306, root) and PostgreSQL (127.0.0.1:5432, postgres), each module
run makes its own database(s) and login, and drops them afterwards. The login is given
the dangerous extras a careless set-up might give it (MariaDB ``FILE``; PostgreSQL the
server-file roles and ``EXECUTE`` on the server-file functions), so what the connector
refuses is refused by the connector, not by a missing privilege.

Every statement goes through the HTTP API on a read-only connection; then a separate admin
connection looks: the victim session still runs (PROCESSLIST / pg_stat_activity), no lock
is held (IS_FREE_LOCK / pg_locks), no file appeared, and the next request on the same
pooled session (same CONNECTION_ID() / pg_backend_pid()) sees none of the earlier
request's variables, prepared statements, current database or settings. Where the guard
cannot see a side effect (a function the admin wrote), or is skipped on purpose
(``pooled_runner``), the session reset between requests is what is checked.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import secrets
import threading
from collections.abc import Callable, Iterator
from typing import Any

import psycopg
import pymysql
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as pgsql

from connector.backends import get_backend
from connector.errors import ConnectorError, ReadOnlyError
from connector.models import ConnectionSpec, QueryResult
from connector.query import QueryJob, run_query
from connector.running import QueryControl
from connector.statements import BoundStatement
from tests import netdb
from tests.conftest import require_service

HOST = "127.0.0.1"
MY_PORT, PG_PORT = 3306, 5432


def post(client: TestClient, conn: str, sql: str, **extra: Any) -> Any:
    return client.post(f"/connections/{conn}/query", json={"sql": sql, **extra})


def assert_refused(client: TestClient, conn: str, sql: str, code: str = "read_only") -> None:
    answer = post(client, conn, sql)
    assert answer.status_code == 400, (sql, answer.status_code, answer.text)
    assert answer.json()["code"] == code, (sql, answer.json())


def rows(client: TestClient, conn: str, sql: str) -> list[list[Any]]:
    answer = post(client, conn, sql)
    assert answer.status_code == 200, (sql, answer.text)
    found: list[list[Any]] = answer.json()["rows"]
    return found


def connection_name(client: TestClient, db: netdb.NetDb) -> str:
    name = "iso_" + secrets.token_hex(3)
    created = client.post("/connections", json=db.body(name))
    assert created.status_code == 201, created.text
    return name


def pooled_runner(
    db: netdb.NetDb, **option_changes: Any
) -> tuple[Callable[[str], QueryResult], Callable[[], None]]:
    """Run SQL past the statement guard (as if it had been fooled), one request at a time
    on one pooled engine, so consecutive calls share the same database session."""
    backend = get_backend(db.kind)
    options = {key: value for key, value in {**db.options, **option_changes}.items() if value}
    spec = ConnectionSpec(name="raw", kind=db.kind, options=options, read_only=True)  # type: ignore[arg-type]
    engine = backend.create_engine(spec, db.password)

    def run(sql: str) -> QueryResult:
        control = QueryControl("q_raw_" + secrets.token_hex(4), "raw", sql, 10)
        job = QueryJob(backend, engine, spec, BoundStatement(sql, None), control, {})
        return run_query(job, 100)

    return run, engine.dispose


def gone_from_server(db: netdb.NetDb, marker: str) -> None:
    """Until no statement marked ``marker`` runs on the server. The bound is generous (the
    statements waited for would run for days): it only catches one left running."""
    event = threading.Event()
    for _ in range(600):  # 30 s in 0.05 s steps
        if not db.running(marker):
            return
        event.wait(0.05)
    raise AssertionError(f"still running on the server: {db.running(marker)}")


# == MariaDB ================================================================================


def my_admin() -> Any:
    return pymysql.connect(host=HOST, port=MY_PORT, user="root", autocommit=True)


@pytest.fixture(scope="module")
def maria() -> Iterator[netdb.NetDb]:
    require_service(netdb.port_open(HOST, MY_PORT), f"no MySQL/MariaDB server on {HOST}:{MY_PORT}")
    suffix = secrets.token_hex(4)
    database, other, user = f"dc_iso_{suffix}", f"dc_iso_{suffix}_other", f"dc_iso_{suffix}"
    root = my_admin()
    with root.cursor() as cur:
        for name in (database, other):
            cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"CREATE USER '{user}'@'{host}' IDENTIFIED BY %s", (netdb.PASSWORD,))
            cur.execute(f"GRANT ALL ON `{database}`.* TO '{user}'@'{host}'")
            cur.execute(f"GRANT ALL ON `{other}`.* TO '{user}'@'{host}'")
            # The privilege the README tells you not to give a read-only login.
            cur.execute(f"GRANT FILE ON *.* TO '{user}'@'{host}'")
        cur.execute(f"USE `{database}`")
        cur.execute("CREATE TABLE trades (id INT PRIMARY KEY, symbol VARCHAR(10), qty INT)")
        cur.execute("INSERT INTO trades VALUES (1, 'AAPL', 10), (2, 'MSFT', 20)")
        # Side effects the guard cannot see: only the session reset undoes them.
        cur.execute(
            "CREATE FUNCTION remember() RETURNS INT NO SQL "
            "BEGIN SET @dc_remembered = 42; RETURN 1; END"
        )
        cur.execute(
            "CREATE FUNCTION hold_lock(name VARCHAR(64)) RETURNS INT NO SQL "
            "RETURN GET_LOCK(name, 0)"
        )

    def running(marker: str) -> list[str]:
        with root.cursor() as cur:
            cur.execute(
                "SELECT INFO FROM information_schema.PROCESSLIST "
                "WHERE USER = %s AND COMMAND = 'Query' AND INFO LIKE %s",
                (user, f"%{marker}%"),
            )
            return [str(row[0]) for row in cur.fetchall()]

    yield netdb.NetDb(
        kind="mysql",
        options={"host": HOST, "port": MY_PORT, "user": user, "database": database},
        password=netdb.PASSWORD,
        sleep_sql=lambda seconds, marker: f"SELECT SLEEP({seconds}) AS s, '{marker}' AS m",
        running=running,
        extra={"database": database, "other": other, "user": user, "root": root},
    )
    with root.cursor() as cur:
        for name in (database, other):
            cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
        for host in ("127.0.0.1", "localhost"):
            cur.execute(f"DROP USER IF EXISTS '{user}'@'{host}'")
    root.close()


def my_scalar(db: netdb.NetDb, sql: str, *args: Any) -> Any:
    with db.extra["root"].cursor() as cur:
        cur.execute(sql, args or None)
        return cur.fetchone()[0]


def test_mariadb_kill_leaves_other_sessions_alive(client: TestClient, maria: netdb.NetDb) -> None:
    conn = connection_name(client, maria)
    marker = "iso_victim_" + secrets.token_hex(3)
    victim = pymysql.connect(
        host=HOST,
        port=MY_PORT,
        user=maria.extra["user"],
        password=maria.password,
        database=maria.extra["database"],
    )
    victim_id = victim.thread_id()

    def sleep() -> None:
        with contextlib.suppress(pymysql.MySQLError):  # stopped by the clean-up below
            victim.cursor().execute(f"SELECT SLEEP(60), '{marker}'")

    worker = threading.Thread(target=sleep, daemon=True)
    worker.start()
    try:
        netdb.wait_running(maria, marker)
        for sql in (
            f"KILL {victim_id}",
            f"KILL QUERY {victim_id}",
            f"KILL CONNECTION {victim_id}",
            f"KILL HARD QUERY {victim_id}",
            f"/* a comment first */ KILL {victim_id}",
            f"KILL USER '{maria.extra['user']}'",
        ):
            assert_refused(client, conn, sql)
            # The victim is still there and still running its statement.
            assert (
                my_scalar(
                    maria,
                    "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                    victim_id,
                )
                == 1
            ), sql
            assert maria.running(marker), sql
        # A statement that is nothing but an executable comment is not a statement to run.
        assert_refused(client, conn, f"/*! KILL {victim_id} */", code="sql_error")
        assert maria.running(marker)
    finally:
        with maria.extra["root"].cursor() as cur, contextlib.suppress(pymysql.MySQLError):
            cur.execute(f"KILL QUERY {int(victim_id)}")
        worker.join(10)
        victim.close()


def test_mariadb_named_locks_do_not_outlive_the_request(
    client: TestClient, maria: netdb.NetDb
) -> None:
    conn = connection_name(client, maria)
    lock = "dc_iso_lock_" + secrets.token_hex(3)
    for sql in (
        f"SELECT GET_LOCK('{lock}', 0)",
        f"SELECT get_lock ('{lock}', 0) AS got",
        f"SELECT `GET_LOCK`('{lock}', 0)",
        f"DO GET_LOCK('{lock}', 0)",
        f"SELECT 1 /*!, GET_LOCK('{lock}', 0) */",
        f"SELECT 1 /*M!100000 , GET_LOCK('{lock}', 0) */",
        f"SELECT RELEASE_LOCK('{lock}')",
        "SELECT RELEASE_ALL_LOCKS()",
    ):
        assert_refused(client, conn, sql)
        assert my_scalar(maria, "SELECT IS_FREE_LOCK(%s)", lock) == 1, sql
    # Reading lock state is fine.
    assert rows(client, conn, f"SELECT IS_FREE_LOCK('{lock}'), IS_USED_LOCK('{lock}')") == [
        [1, None]
    ]
    # A function the guard cannot look into takes the lock; the session reset frees it.
    assert rows(client, conn, f"SELECT hold_lock('{lock}')") == [[1]]
    assert my_scalar(maria, "SELECT IS_FREE_LOCK(%s)", lock) == 1


def test_mariadb_session_state_does_not_reach_the_next_request(
    client: TestClient, maria: netdb.NetDb
) -> None:
    conn = connection_name(client, maria)
    [[session_id]] = rows(client, conn, "SELECT CONNECTION_ID()")
    for sql in (
        "SET @x = 1",
        "SELECT 1 INTO @x",
        "SET SESSION sql_mode = 'ANSI'",
        "SET @@session.max_statement_time = 0",
        "SET NAMES latin1",
        "SET GLOBAL max_connections = 1",
        "SET TRANSACTION READ WRITE",
        "PREPARE dc_s FROM 'SELECT 1'",
        "EXECUTE dc_s",
        "DEALLOCATE PREPARE dc_s",
        f"USE `{maria.extra['other']}`",
        "HANDLER trades OPEN",
        "CREATE TEMPORARY TABLE dc_tmp (x INT)",
        "START TRANSACTION READ WRITE",
        "COMMIT",
    ):
        assert_refused(client, conn, sql)
    # User variables in a SELECT (the @n := @n + 1 idiom) and in functions the guard cannot
    # see into, such as remember(), are the request's own: the reset after it clears them.
    assert rows(client, conn, "SELECT @x := 1") == [[1]]
    assert rows(client, conn, "SELECT remember()") == [[1]]
    after = rows(
        client,
        conn,
        "SELECT CONNECTION_ID(), @x, @dc_remembered, DATABASE(), @@character_set_client, "
        "@@sql_mode = @@global.sql_mode",
    )
    assert after == [[session_id, None, None, maria.extra["database"], "utf8mb4", 1]]


def test_mariadb_session_is_reset_even_past_the_guard(maria: netdb.NetDb) -> None:
    run, dispose = pooled_runner(maria)
    lock = "dc_iso_raw_" + secrets.token_hex(3)
    try:
        session_id = run("SELECT CONNECTION_ID()").rows[0][0]
        for sql in (
            "SET @x = 1",
            "SELECT @y := 2",
            "PREPARE dc_s FROM 'SELECT 1'",
            "SET SESSION sql_mode = 'ANSI'",
            "SET NAMES latin1",
            "SET SESSION max_statement_time = 0",
            f"SELECT GET_LOCK('{lock}', 0)",
            "HANDLER trades OPEN",
            f"USE `{maria.extra['other']}`",
        ):
            run(sql)
        assert my_scalar(maria, "SELECT IS_FREE_LOCK(%s)", lock) == 1
        after = run(
            "SELECT CONNECTION_ID(), @x, @y, DATABASE(), @@character_set_client, "
            "@@sql_mode = @@global.sql_mode, @@max_statement_time > 0, @@autocommit"
        ).rows
        assert after == [(session_id, None, None, maria.extra["database"], "utf8mb4", 1, 1, 0)]
        with pytest.raises(ConnectorError, match="Unknown prepared statement"):
            run("EXECUTE dc_s")
        # HANDLER ... OPEN held a metadata lock on trades; nothing holds it now.
        with maria.extra["root"].cursor() as cur:
            cur.execute("SET SESSION lock_wait_timeout = 10")  # generous; fails only if held
            cur.execute(f"LOCK TABLES `{maria.extra['database']}`.trades WRITE")
            cur.execute("UNLOCK TABLES")
        assert run("SELECT CONNECTION_ID()").rows[0][0] == session_id  # the same session
    finally:
        dispose()


def test_mariadb_use_without_a_configured_database_gets_a_fresh_session(
    maria: netdb.NetDb,
) -> None:
    # With no database configured there is none to select again after USE: the pool drops
    # that session and the next request runs on a new one.
    run, dispose = pooled_runner(maria, database=None)
    try:
        session_id, database = run("SELECT CONNECTION_ID(), DATABASE()").rows[0]
        assert database is None
        assert run("SELECT CONNECTION_ID()").rows[0][0] == session_id  # normally kept
        run(f"USE `{maria.extra['other']}`")
        new_id, database = run("SELECT CONNECTION_ID(), DATABASE()").rows[0]
        assert database is None
        assert new_id != session_id
        # The old session is closed, not left idle; the server may take a moment to notice.
        gone = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s"
        event = threading.Event()
        for _ in range(600):  # 30 s in 0.05 s steps: generous, it only catches a leak
            if my_scalar(maria, gone, session_id) == 0:
                break
            event.wait(0.05)
        assert my_scalar(maria, gone, session_id) == 0
    finally:
        dispose()


def test_mariadb_a_transaction_left_open_is_not_the_next_requests(maria: netdb.NetDb) -> None:
    # A request's statement opens its transaction itself, with the session's access mode
    # (read-only), when the server says none is open; one left open read-write is ended
    # by START TRANSACTION READ ONLY first, so a write is still refused by the server.
    backend = get_backend("mysql")
    spec = ConnectionSpec(name="raw", kind="mysql", options=maria.options, read_only=True)  # type: ignore[arg-type]
    engine = backend.create_engine(spec, maria.password)
    raw = engine.raw_connection()
    try:
        connection = raw.driver_connection
        with connection.cursor() as cur:
            cur.execute("START TRANSACTION READ WRITE")
        control = QueryControl("q_open_" + secrets.token_hex(4), "raw", "INSERT", 10)
        insert = BoundStatement("INSERT INTO trades VALUES (9, 'X', 1)", None)
        session = backend.session(connection, control, read_only=True, stream=False)
        with pytest.raises(pymysql.MySQLError) as failed, session as cursor:
            backend.execute(cursor, insert)
        assert isinstance(backend.translate_error(failed.value), ReadOnlyError)
    finally:
        raw.close()
        engine.dispose()
    table = f"`{maria.extra['database']}`.trades"
    assert my_scalar(maria, f"SELECT COUNT(*) FROM {table}") == 2


def test_mariadb_writes_stay_refused_after_a_statement_reconfigured_the_session(
    maria: netdb.NetDb,
) -> None:
    run, dispose = pooled_runner(maria)
    try:
        session_id = run("SELECT CONNECTION_ID()").rows[0][0]
        for sql in (
            "SET autocommit = 1",
            "SET SESSION tx_read_only = 0",
            "SET SESSION TRANSACTION READ WRITE",
        ):
            run(sql)
            with pytest.raises(ConnectorError, match="read-only"):
                run("INSERT INTO trades VALUES (9, 'X', 1)")
        after = run("SELECT CONNECTION_ID(), @@autocommit, @@tx_read_only").rows
        assert after == [(session_id, 0, 1)]
    finally:
        dispose()
    table = f"`{maria.extra['database']}`.trades"
    assert my_scalar(maria, f"SELECT COUNT(*) FROM {table}") == 2


def test_mariadb_a_pooled_session_the_server_killed_is_replaced(maria: netdb.NetDb) -> None:
    # No ping per query: the killed session's socket says it is closed, so the pool pings
    # it, the ping fails and the request gets a new session instead of an error.
    run, dispose = pooled_runner(maria)
    try:
        session_id = run("SELECT CONNECTION_ID()").rows[0][0]
        with maria.extra["root"].cursor() as cur:
            cur.execute(f"KILL CONNECTION {int(session_id)}")
        gone = "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s"
        event = threading.Event()
        for _ in range(600):  # 30 s in 0.05 s steps: generous, it only catches a hang
            if my_scalar(maria, gone, session_id) == 0:
                break
            event.wait(0.05)
        new_id = run("SELECT CONNECTION_ID()").rows[0][0]
        assert new_id != session_id
        assert run("SELECT CONNECTION_ID()").rows[0][0] == new_id  # and it is kept
    finally:
        dispose()


def test_mariadb_versioned_comments_are_read_as_sql(client: TestClient, maria: netdb.NetDb) -> None:
    conn = connection_name(client, maria)
    stem = f"/tmp/dc_iso_{secrets.token_hex(4)}"
    paths = [f"{stem}_{index}.txt" for index in range(6)]
    try:
        for sql in (
            f"SELECT 1 /*! INTO OUTFILE '{paths[0]}' */",
            f"SELECT 1 /*!50000 INTO OUTFILE '{paths[1]}' */",
            f"SELECT 1 /*M! INTO DUMPFILE '{paths[2]}' */",
            f"SELECT 1 /*M!100000 INTO OUTFILE '{paths[3]}' */",
            f"SELECT 1 INTO OUTFILE '{paths[4]}'",
            f"SELECT 1 INTO DUMPFILE '{paths[5]}'",
        ):
            assert_refused(client, conn, sql)
        for path in paths:
            assert my_scalar(maria, "SELECT LOAD_FILE(%s)", path) is None, path
            assert not os.path.exists(path), path
        # Ordinary comments are still comments.
        for sql in (
            "SELECT 1 /* INTO OUTFILE '/tmp/never' */ AS one",
            "-- a line comment\nSELECT 1 AS one",
            "SELECT 1 AS one # a hash comment",
        ):
            assert rows(client, conn, sql) == [[1]], sql
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)


MARIADB_REFUSED = [
    "ANALYZE TABLE trades",
    "ANALYZE TABLE trades PERSISTENT FOR ALL",
    "ANALYZE SELECT * FROM trades",
    "CHECKSUM TABLE trades",
    "OPTIMIZE TABLE trades",
    "REPAIR TABLE trades",
    "CHECK TABLE trades",
    "LOCK TABLES trades READ",
    "FLUSH TABLES",
    "FLUSH TABLES WITH READ LOCK",
    "FLUSH STATUS",
    "BACKUP LOCK trades",
    "INSTALL PLUGIN dc_nothing SONAME 'dc_nothing.so'",
    "INSTALL SONAME 'dc_nothing'",
    "SHUTDOWN",
    "LOAD DATA INFILE '/etc/hostname' INTO TABLE trades",
    "LOAD XML INFILE '/etc/hostname' INTO TABLE trades",
    "SELECT LOAD_FILE('/etc/hostname')",
    "DO 1",
    "DO SLEEP(0)",
    "CALL dc_nothing()",
    "XA START 'dc'",
    "SAVEPOINT dc",
    "RESET QUERY CACHE",
    "PURGE BINARY LOGS BEFORE NOW()",
    "CACHE INDEX trades IN dc_cache",
    "SIGNAL SQLSTATE '45000'",
    "SELECT sys_exec('touch /tmp/dc_never')",
    "WITH d AS (SELECT 1) DELETE FROM trades",
    "/* looks harmless */ DELETE FROM trades",
    "SELECT * FROM trades FOR UPDATE",
    "SELECT * FROM trades LOCK IN SHARE MODE",
    "CREATE TABLE dc_sneaky (x INT)",
]


@pytest.mark.parametrize("sql", MARIADB_REFUSED)
def test_mariadb_refuses_what_acts_beyond_the_request(
    client: TestClient, maria: netdb.NetDb, sql: str
) -> None:
    conn = connection_name(client, maria)
    assert_refused(client, conn, sql)
    assert rows(client, conn, "SELECT COUNT(*), SUM(qty) FROM trades") == [[2, 30]]


def test_mariadb_stacked_statements_are_refused(client: TestClient, maria: netdb.NetDb) -> None:
    conn = connection_name(client, maria)
    for sql in ("SELECT 1; KILL 1", "SELECT 1; SET @x = 1", "SELECT 1;\nDO GET_LOCK('x', 0)"):
        assert_refused(client, conn, sql, code="sql_error")


MARIADB_ALLOWED = [
    ("SELECT SLEEP(0) AS s", [[0]]),
    ("SELECT BENCHMARK(10, 1) AS b", [[0]]),
    ("SELECT IS_FREE_LOCK('dc_iso_nothing')", [[1]]),
    ("(SELECT 1)", [[1]]),
    ("WITH t AS (SELECT 1 AS a) SELECT a FROM t", [[1]]),
    ("VALUES (1)", [[1]]),
    ("SELECT 'GET_LOCK(1); KILL 1' AS s", [["GET_LOCK(1); KILL 1"]]),
    ("SELECT @x IS NULL", [[1]]),
]


@pytest.mark.parametrize(("sql", "expected"), MARIADB_ALLOWED)
def test_mariadb_reads_still_run(
    client: TestClient, maria: netdb.NetDb, sql: str, expected: list[list[Any]]
) -> None:
    conn = connection_name(client, maria)
    assert rows(client, conn, sql) == expected


def test_mariadb_read_statements_still_run(client: TestClient, maria: netdb.NetDb) -> None:
    conn = connection_name(client, maria)
    for sql in ("SHOW TABLES", "EXPLAIN SELECT * FROM trades", "DESCRIBE trades", "HELP 'SELECT'"):
        assert post(client, conn, sql).status_code == 200, sql


BENCHMARK = "SELECT BENCHMARK(1000000000000, MD5('{marker}')) AS b, '{marker}' AS m"


def test_mariadb_benchmark_past_its_timeout_is_a_timeout(
    client: TestClient, maria: netdb.NetDb
) -> None:
    conn = connection_name(client, maria)
    marker = "iso_bench_" + secrets.token_hex(3)
    answer = post(client, conn, BENCHMARK.format(marker=marker), timeout_s=1)
    assert answer.status_code == 504, answer.text
    assert answer.json()["code"] == "timeout"
    gone_from_server(maria, marker)
    marker = "iso_bench_exp_" + secrets.token_hex(3)
    exported = client.post(
        f"/connections/{conn}/export",
        json={"sql": BENCHMARK.format(marker=marker), "timeout_s": 1},
    )
    assert exported.status_code == 504, exported.text
    assert exported.json()["code"] == "timeout"
    gone_from_server(maria, marker)
    # The pooled session is fine afterwards.
    assert rows(client, conn, "SELECT 1") == [[1]]


def test_mariadb_benchmark_is_stopped_by_the_server_timeout_alone(maria: netdb.NetDb) -> None:
    # No watchdog here: only the server's max_statement_time and the connector's reading of it.
    bench = dataclasses.replace(
        maria, sleep_sql=lambda _seconds, marker: BENCHMARK.format(marker=marker)
    )
    netdb.check_server_timeout(bench, "iso_bench_srv_" + secrets.token_hex(3))


# == PostgreSQL =============================================================================


def pg_admin(dbname: str = "postgres") -> psycopg.Connection[Any]:
    return psycopg.connect(host=HOST, port=PG_PORT, user="postgres", dbname=dbname, autocommit=True)


@pytest.fixture(scope="module")
def pg() -> Iterator[netdb.NetDb]:
    require_service(netdb.port_open(HOST, PG_PORT), f"no PostgreSQL server on {HOST}:{PG_PORT}")
    suffix = secrets.token_hex(4)
    database, user = f"dc_iso_{suffix}", f"dc_iso_{suffix}"
    root = pg_admin()
    root.execute(
        pgsql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
            pgsql.Identifier(user), pgsql.Literal(netdb.PASSWORD)
        )
    )
    # The server-file roles a careless set-up might give a read-only login.
    root.execute(
        pgsql.SQL("GRANT pg_read_server_files, pg_write_server_files TO {}").format(
            pgsql.Identifier(user)
        )
    )
    root.execute(
        pgsql.SQL("CREATE DATABASE {} OWNER {}").format(
            pgsql.Identifier(database), pgsql.Identifier(user)
        )
    )
    with pg_admin(database) as in_db:
        for function in (
            "pg_read_file(text)",
            "pg_read_binary_file(text)",
            "pg_ls_dir(text)",
            "pg_stat_file(text)",
            "lo_export(oid, text)",
            "lo_import(text)",
        ):
            in_db.execute(
                pgsql.SQL("GRANT EXECUTE ON FUNCTION {} TO {}").format(
                    pgsql.SQL(function), pgsql.Identifier(user)
                )
            )
    with psycopg.connect(
        host=HOST,
        port=PG_PORT,
        user=user,
        dbname=database,
        password=netdb.PASSWORD,
        autocommit=True,
    ) as owner:
        owner.execute("CREATE TABLE trades (id int PRIMARY KEY, symbol text, qty int)")
        owner.execute("INSERT INTO trades VALUES (1, 'AAPL', 10), (2, 'MSFT', 20)")
        owner.execute("CREATE SEQUENCE seq")
        owner.execute("CREATE MATERIALIZED VIEW mv AS SELECT * FROM trades")
        # Side effects the guard cannot see: only the session reset undoes them.
        owner.execute(
            "CREATE FUNCTION hold_lock(k bigint) RETURNS int LANGUAGE sql "
            "AS $$ SELECT pg_advisory_lock(k); SELECT 1 $$"
        )
        owner.execute(
            "CREATE FUNCTION remember() RETURNS int LANGUAGE plpgsql AS "
            "$$ BEGIN EXECUTE 'PREPARE dc_sneaky AS SELECT 1'; RETURN 1; END $$"
        )
        blob = owner.execute("SELECT lo_from_bytea(0, 'dc secret')").fetchone()
        assert blob is not None

    def running(marker: str) -> list[str]:
        found = root.execute(
            "SELECT query FROM pg_stat_activity WHERE usename = %s AND state = 'active' "
            "AND pid <> pg_backend_pid() AND query LIKE %s",
            (user, f"%{marker}%"),
        ).fetchall()
        return [str(row[0]) for row in found]

    yield netdb.NetDb(
        kind="postgresql",
        options={"host": HOST, "port": PG_PORT, "user": user, "database": database},
        password=netdb.PASSWORD,
        sleep_sql=lambda seconds, marker: f"SELECT pg_sleep({seconds}) AS s, '{marker}' AS m",
        running=running,
        extra={"database": database, "user": user, "root": root, "blob": blob[0]},
    )
    root.execute(
        pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(database))
    )
    root.execute(pgsql.SQL("DROP ROLE IF EXISTS {}").format(pgsql.Identifier(user)))
    root.close()


def pg_in_db(db: netdb.NetDb) -> psycopg.Connection[Any]:
    return pg_admin(db.extra["database"])


def pg_scalar(db: netdb.NetDb, sql: str, *args: Any) -> Any:
    with pg_in_db(db) as admin:
        found = admin.execute(sql, args or None).fetchone()
    assert found is not None
    return found[0]


def advisory_locks(db: netdb.NetDb, key: int) -> int:
    return int(
        pg_scalar(
            db,
            "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = %s",
            key,
        )
    )


def test_postgresql_other_sessions_are_not_signalled(client: TestClient, pg: netdb.NetDb) -> None:
    conn = connection_name(client, pg)
    marker = "iso_victim_" + secrets.token_hex(3)
    victim = psycopg.connect(
        host=HOST,
        port=PG_PORT,
        user=pg.extra["user"],
        dbname=pg.extra["database"],
        password=pg.password,
        autocommit=True,
    )
    pid = victim.info.backend_pid
    failures: list[BaseException] = []

    def sleep() -> None:
        try:
            victim.execute(f"SELECT pg_sleep(60), '{marker}'")
        except psycopg.Error as exc:  # cancelled by the clean-up below
            failures.append(exc)

    worker = threading.Thread(target=sleep, daemon=True)
    worker.start()
    try:
        netdb.wait_running(pg, marker)
        for sql in (
            f"SELECT pg_terminate_backend({pid})",
            f"SELECT pg_cancel_backend({pid})",
            f"SELECT pg_catalog.pg_terminate_backend({pid})",
            f'SELECT "pg_terminate_backend"({pid})',
            f'SELECT U&"pg\\005fterminate_backend"({pid})',
            f"SELECT * FROM pg_cancel_backend({pid})",
            f"SELECT pg_terminate_backend /* a comment */ ({pid}, 0)",
            f"EXPLAIN ANALYZE SELECT pg_cancel_backend({pid})",
            f"SELECT query_to_xml('SELECT pg_cancel_backend({pid})', true, true, '')",
            f"SELECT pg_log_backend_memory_contexts({pid})",
            "SELECT pg_reload_conf()",
            "SELECT pg_rotate_logfile()",
        ):
            assert_refused(client, conn, sql)
            # The victim is still connected and still running its statement.
            assert pg_scalar(pg, "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", pid) == 1
            assert pg.running(marker), sql
    finally:
        pg.extra["root"].execute("SELECT pg_cancel_backend(%s)", (pid,))
        worker.join(10)
        victim.close()


def test_postgresql_advisory_locks_do_not_outlive_the_request(
    client: TestClient, pg: netdb.NetDb
) -> None:
    conn = connection_name(client, pg)
    key = secrets.randbelow(2**31 - 1) + 1
    for sql in (
        f"SELECT pg_advisory_lock({key})",
        f"SELECT pg_try_advisory_lock({key})",
        f"SELECT pg_advisory_lock_shared({key})",
        f"SELECT pg_advisory_xact_lock({key})",
        f"SELECT pg_catalog.pg_advisory_lock({key})",
        "SELECT pg_advisory_unlock_all()",
        f"SELECT query_to_xml('SELECT pg_advisory_lock({key})', true, true, '')",
        "LOCK TABLE trades IN ACCESS SHARE MODE",
    ):
        assert_refused(client, conn, sql)
        assert advisory_locks(pg, key) == 0, sql
    # A function the guard cannot look into takes the lock; the session reset frees it.
    assert rows(client, conn, f"SELECT hold_lock({key})") == [[1]]
    assert advisory_locks(pg, key) == 0


def test_postgresql_session_state_does_not_reach_the_next_request(
    client: TestClient, pg: netdb.NetDb
) -> None:
    conn = connection_name(client, pg)
    [[pid]] = rows(client, conn, "SELECT pg_backend_pid()")
    for sql in (
        "PREPARE dc_p AS SELECT 1",
        "EXECUTE dc_p",
        "DEALLOCATE ALL",
        "SELECT set_config('work_mem', '7MB', false)",
        "SET work_mem = '7MB'",
        "SET SESSION statement_timeout = 0",
        "RESET ALL",
        "DISCARD ALL",
        "LISTEN dc_channel",
        "UNLISTEN *",
        "DECLARE dc_c CURSOR WITH HOLD FOR SELECT 1",
        "CLOSE ALL",
        "BEGIN",
        "COMMIT",
        "ROLLBACK",
        "START TRANSACTION READ WRITE",
        "SET ROLE postgres",
        "SET SESSION AUTHORIZATION DEFAULT",
    ):
        assert_refused(client, conn, sql)
    # The guard cannot see into remember(), which prepares a statement; the reset drops it.
    assert rows(client, conn, "SELECT remember()") == [[1]]
    after = rows(
        client,
        conn,
        "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements), "
        "(SELECT setting = reset_val FROM pg_settings WHERE name = 'work_mem'), "
        "current_setting('default_transaction_read_only'), "
        # Cursors left from earlier requests; this query's own (a row-limited query reads
        # through a named cursor) is the one whose statement is this one.
        "(SELECT count(*) FROM pg_cursors WHERE name <> '' "
        "AND statement NOT LIKE '%pg_listening_channels%'), "
        "(SELECT count(*) FROM pg_listening_channels())",
    )
    assert after == [[pid, 0, True, "on", 0, 0]]


def test_postgresql_session_is_reset_even_past_the_guard(pg: netdb.NetDb) -> None:
    run, dispose = pooled_runner(pg)
    key = secrets.randbelow(2**31 - 1) + 1
    try:
        pid = run("SELECT pg_backend_pid()").rows[0][0]
        for sql in (
            "PREPARE dc_p AS SELECT 1",
            f"SELECT pg_advisory_lock({key})",
            "SET work_mem = '7MB'",
            "SELECT set_config('dc.remembered', '42', false)",
            "LISTEN dc_channel",
        ):
            run(sql)
        assert advisory_locks(pg, key) == 0
        after = run(
            "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements), "
            "(SELECT setting = reset_val FROM pg_settings WHERE name = 'work_mem'), "
            "coalesce(current_setting('dc.remembered', true), ''), "
            "current_setting('default_transaction_read_only'), "
            "current_setting('IntervalStyle'), (SELECT count(*) FROM pg_listening_channels())"
        ).rows
        assert after == [(pid, 0, True, "", "on", "iso_8601", 0)]
        # Many runs of one statement (psycopg prepares it after five) keep working.
        for _ in range(8):
            assert run("SELECT 1 AS one").rows == [(1,)]
        assert run("SELECT pg_backend_pid()").rows[0][0] == pid  # the same session
    finally:
        dispose()


def test_postgresql_a_failed_capped_read_leaves_its_session_clean(pg: netdb.NetDb) -> None:
    # A row-limited read sends its FETCH with the rollback and the reset in one message; a
    # FETCH that fails leaves the rest of it unrun, and the session's end sends them.
    run, dispose = pooled_runner(pg)
    key = secrets.randbelow(2**31 - 1) + 1
    try:
        pid = run("SELECT pg_backend_pid()").rows[0][0]
        with pytest.raises(ConnectorError, match="division by zero"):
            run(f"SELECT hold_lock({key}), 1 / (x - 3) FROM generate_series(1, 5) AS x")
        assert advisory_locks(pg, key) == 0
        after = run(
            "SELECT pg_backend_pid(), (SELECT count(*) FROM pg_prepared_statements), "
            "current_setting('default_transaction_read_only'), "
            "(SELECT count(*) FROM pg_cursors WHERE statement NOT LIKE '%pg_cursors%')"
        ).rows
        assert after == [(pid, 0, "on", 0)]
        state = pg_scalar(pg, "SELECT state FROM pg_stat_activity WHERE pid = %s", pid)
        assert state == "idle"  # not idle in transaction
    finally:
        dispose()


def test_postgresql_a_pooled_session_the_server_ended_is_replaced(pg: netdb.NetDb) -> None:
    # No ping per query: the ended session's socket has the server's goodbye on it, so
    # the pool pings it, the ping fails and the request gets a new session.
    run, dispose = pooled_runner(pg)
    try:
        pid = run("SELECT pg_backend_pid()").rows[0][0]
        assert pg_scalar(pg, "SELECT pg_terminate_backend(%s)", pid) is True
        gone = "SELECT count(*) FROM pg_stat_activity WHERE pid = %s"
        event = threading.Event()
        for _ in range(600):  # 30 s in 0.05 s steps: generous, it only catches a hang
            if pg_scalar(pg, gone, pid) == 0:
                break
            event.wait(0.05)
        new_pid = run("SELECT pg_backend_pid()").rows[0][0]
        assert new_pid != pid
        assert run("SELECT pg_backend_pid()").rows[0][0] == new_pid  # and it is kept
    finally:
        dispose()


def test_postgresql_server_files_are_not_touched(client: TestClient, pg: netdb.NetDb) -> None:
    conn = connection_name(client, pg)
    stem = f"/tmp/dc_iso_{secrets.token_hex(4)}"
    paths = [f"{stem}_{index}.txt" for index in range(4)]
    blob = pg.extra["blob"]
    try:
        for sql in (
            f"SELECT lo_export({blob}, '{paths[0]}')",
            f"SELECT pg_catalog.lo_export({blob}, '{paths[1]}')",
            f"COPY trades TO '{paths[2]}'",
            f"COPY (SELECT 1) TO PROGRAM 'touch {paths[3]}'",
            "SELECT pg_read_file('/etc/hostname')",
            "SELECT pg_read_binary_file('/etc/hostname')",
            "SELECT * FROM pg_ls_dir('/tmp')",
            "SELECT pg_stat_file('/etc/hostname')",
            "SELECT lo_import('/etc/hostname')",
        ):
            assert_refused(client, conn, sql)
        for path in paths:
            assert not os.path.exists(path), path
        assert pg_scalar(pg, "SELECT count(*) FROM pg_largeobject_metadata") == 1
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)


PG_REFUSED = [
    "ANALYZE trades",
    "VACUUM trades",
    "CLUSTER trades USING trades_pkey",
    "REINDEX TABLE trades",
    "REFRESH MATERIALIZED VIEW mv",
    "CHECKPOINT",
    "DO $$ BEGIN PERFORM pg_advisory_lock(1); END $$",
    "CALL dc_nothing()",
    "COPY trades TO STDOUT",
    "LOAD 'plpgsql'",
    "NOTIFY dc_channel",
    "SAVEPOINT dc",
    "SELECT txid_current()",
    "SELECT pg_current_xact_id()",
    "SELECT pg_stat_reset()",
    "SELECT pg_create_physical_replication_slot('dc_iso_slot')",
    "SELECT pg_logical_emit_message(false, 'dc', 'x')",
    "SELECT pg_switch_wal()",
    "SELECT dblink_exec('dbname=postgres', 'SELECT 1')",
    "SELECT ts_stat('SELECT to_tsvector(symbol) FROM trades')",
    "SELECT * FROM crosstab('SELECT symbol, id, qty FROM trades') AS t(s text, a int)",
    "ALTER SYSTEM SET work_mem = '1MB'",
    "SECURITY LABEL ON TABLE trades IS 'dc'",
    "WITH gone AS (DELETE FROM trades RETURNING *) SELECT count(*) FROM gone",
    "/* looks harmless */ UPDATE trades SET qty = 0",
    "SELECT * FROM trades FOR UPDATE",
    "CREATE TEMP TABLE dc_tmp (x int)",
]


@pytest.mark.parametrize("sql", PG_REFUSED)
def test_postgresql_refuses_what_acts_beyond_the_request(
    client: TestClient, pg: netdb.NetDb, sql: str
) -> None:
    conn = connection_name(client, pg)
    assert_refused(client, conn, sql)
    assert rows(client, conn, "SELECT count(*), sum(qty) FROM trades") == [[2, 30]]


def test_postgresql_analyze_leaves_the_statistics_alone(
    client: TestClient, pg: netdb.NetDb
) -> None:
    # ANALYZE writes pg_class.reltuples in place: the request's rollback would not undo it.
    table = "fresh_" + secrets.token_hex(3)
    with pg_in_db(pg) as admin:
        admin.execute(f"CREATE TABLE {table} AS SELECT generate_series(1, 10) AS n")
        admin.execute(
            pgsql.SQL("ALTER TABLE {} OWNER TO {}").format(
                pgsql.Identifier(table), pgsql.Identifier(pg.extra["user"])
            )
        )
    reltuples = "SELECT reltuples FROM pg_class WHERE relname = %s"
    assert pg_scalar(pg, reltuples, table) == -1  # never analyzed
    conn = connection_name(client, pg)
    for sql in (f"ANALYZE {table}", "ANALYZE", f"EXPLAIN ANALYZE SELECT * FROM {table}"):
        if sql.startswith("EXPLAIN"):
            assert post(client, conn, sql).status_code == 200  # EXPLAIN only reads
        else:
            assert_refused(client, conn, sql)
    assert pg_scalar(pg, reltuples, table) == -1


def test_postgresql_sequences_are_refused_by_the_server(
    client: TestClient, pg: netdb.NetDb
) -> None:
    conn = connection_name(client, pg)
    for sql in ("SELECT nextval('seq')", "SELECT setval('seq', 100)"):
        assert_refused(client, conn, sql)
    assert pg_scalar(pg, "SELECT last_value FROM seq") == 1
    assert pg_scalar(pg, "SELECT is_called FROM seq") is False


def test_postgresql_notify_from_a_rolled_back_request_reaches_nobody(
    client: TestClient, pg: netdb.NetDb
) -> None:
    conn = connection_name(client, pg)
    channel = "dc_iso_" + secrets.token_hex(3)
    with pg_in_db(pg) as listener:
        listener.execute(pgsql.SQL("LISTEN {}").format(pgsql.Identifier(channel)))
        assert rows(client, conn, f"SELECT pg_notify('{channel}', 'hello')") == [[""]]
        # A notification would have been sent at commit, before the answer; none comes.
        assert list(listener.notifies(timeout=1.0, stop_after=1)) == []


def test_postgresql_stacked_statements_are_refused(client: TestClient, pg: netdb.NetDb) -> None:
    conn = connection_name(client, pg)
    for sql in (
        "SELECT 1; SELECT pg_terminate_backend(1)",
        "COMMIT; SET default_transaction_read_only = off",
    ):
        assert_refused(client, conn, sql, code="sql_error")


PG_ALLOWED = [
    ("SELECT 1 AS one FROM pg_sleep(0)", [[1]]),
    ("SHOW IntervalStyle", [["iso_8601"]]),
    ("TABLE trades ORDER BY id LIMIT 1", [[1, "AAPL", 10]]),
    ("VALUES (1)", [[1]]),
    ("(SELECT 1)", [[1]]),
    ("WITH t AS (SELECT 1 AS a) SELECT a FROM t", [[1]]),
    ("SELECT 'pg_terminate_backend(1)' AS s", [["pg_terminate_backend(1)"]]),
    ("SELECT 1 /* pg_advisory_lock(1) in a comment */ AS one", [[1]]),
    ("SELECT current_setting('work_mem') IS NOT NULL", [[True]]),
]


@pytest.mark.parametrize(("sql", "expected"), PG_ALLOWED)
def test_postgresql_reads_still_run(
    client: TestClient, pg: netdb.NetDb, sql: str, expected: list[list[Any]]
) -> None:
    conn = connection_name(client, pg)
    assert rows(client, conn, sql) == expected


def test_postgresql_explain_still_runs(client: TestClient, pg: netdb.NetDb) -> None:
    conn = connection_name(client, pg)
    for sql in ("EXPLAIN SELECT * FROM trades", "EXPLAIN ANALYZE SELECT * FROM trades"):
        assert post(client, conn, sql).status_code == 200, sql
