"""The ``duckdb`` kind: a DuckDB file and a folder of Parquet/CSV files, through the HTTP
contract in process (the ``client`` fixture), plus the read-only promises checked below the
statement guard, and afterwards by a separate DuckDB process that reads the file itself.

Every test makes its own data with DuckDB: a ``market.duckdb`` file, a ``files/`` folder
(Parquet and CSV) the connection may read, and an ``outside/`` folder it may not."""

from __future__ import annotations

import base64
import datetime as dt
import json
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

import duckdb
import httpx
import pytest
from fastapi.testclient import TestClient

from connector.backends import get_backend
from connector.backends.duckdb import DuckdbBackend, DuckdbOptions, _iso_duration, connect_duckdb
from connector.errors import (
    DatabaseUnavailableError,
    QueryCancelledError,
    ReadOnlyError,
    SqlError,
)
from connector.models import ConnectionSpec
from connector.query import QueryJob, RowStream
from connector.running import QueryControl
from connector.statements import BoundStatement, prepare
from tests.conftest import assert_error, assert_one_sentence, wait_until

# Runs far longer than any test waits (10^12 multiply-adds); only a stop ends it.
SLOW_SQL = "SELECT sum(a.range * b.range) AS s FROM range(1000000) AS a, range(1000000) AS b"
# A result no machine could hold: reading its first batches shows the export streams.
ENDLESS_SQL = "SELECT range AS n FROM range(10000000000)"


@dataclass
class Lake:
    root: Path
    db: Path
    files: Path
    outside: Path

    def body(self, name: str | None = None, *, read_only: bool = True, **options: Any) -> Any:
        body: dict[str, Any] = {
            "kind": "duckdb",
            "options": {"path": str(self.db), "files": str(self.files), **options},
            "read_only": read_only,
        }
        body["options"] = {k: v for k, v in body["options"].items() if v is not None}
        if name is not None:
            body["name"] = name
        return body

    def snapshot(self) -> dict[str, bytes]:
        """Every file under the lake with its content: what a write would change."""
        return {
            str(path.relative_to(self.root)): path.read_bytes()
            for path in sorted(self.root.rglob("*"))
            if path.is_file()
        }


@pytest.fixture
def lake(tmp_path: Path) -> Lake:
    # Not tmp_path/"data": that is the connector's own data folder (conftest).
    root = tmp_path / "lake"
    files, outside = root / "files", root / "outside"
    files.mkdir(parents=True)
    outside.mkdir()
    db = root / "market.duckdb"
    with duckdb.connect(str(db)) as con:
        con.execute(
            "CREATE TABLE trades (id INTEGER NOT NULL, symbol VARCHAR, qty INTEGER, "
            "px DECIMAL(18, 4))"
        )
        con.execute(
            "INSERT INTO trades VALUES (1, 'AAPL', 10, 189.9812), (2, 'MSFT', 20, 420.5500), "
            "(3, 'AAPL', 5, 190.0001)"
        )
        con.execute("CREATE VIEW big_trades AS SELECT * FROM trades WHERE qty > 5")
        con.execute("CREATE SCHEMA empty_one")
        con.execute("CREATE SEQUENCE ticket")
        con.execute(
            f"COPY (SELECT range AS day, range * 1.5 AS close FROM range(100)) "
            f"TO '{files}/prices.parquet' (FORMAT parquet)"
        )
        con.execute(f"COPY trades TO '{files}/trades.csv' (HEADER)")
        con.execute(f"COPY trades TO '{outside}/secret.csv' (HEADER)")
        con.execute(f"COPY trades TO '{outside}/secret.parquet' (FORMAT parquet)")
    with duckdb.connect(str(outside / "other.duckdb")) as other:
        other.execute("CREATE TABLE hidden AS SELECT 42 AS answer")
    return Lake(root=root, db=db, files=files, outside=outside)


def duckdb_reads(path: Path, sql: str) -> Any:
    """What a separate DuckDB process reads from ``path``, opened read-only: DuckDB itself,
    independent of this process (where the connector may hold the file open)."""
    code = (
        "import duckdb, json, sys\n"
        "con = duckdb.connect(sys.argv[1], read_only=True)\n"
        "print(json.dumps(con.execute(sys.argv[2]).fetchall(), default=str))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, str(path), sql],
        capture_output=True,
        text=True,
        check=True,
        timeout=120,  # a Python start and one small query; generous on a busy machine
    )
    return json.loads(done.stdout)


@pytest.fixture
def conn(client: TestClient, lake: Lake) -> str:
    created = client.post("/connections", json=lake.body("lake"))
    assert created.status_code == 201, created.text
    return "lake"


def run(client: TestClient, name: str, sql: str, **body: Any) -> httpx.Response:
    return client.post(f"/connections/{name}/query", json={"sql": sql, **body})


# the kind, options, connecting -----------------------------------------------------------


def test_duckdb_kind_describes_itself(client: TestClient) -> None:
    kinds = {kind["kind"]: kind for kind in client.get("/kinds").json()}
    duck = kinds["duckdb"]
    assert duck["available"] is True and duck["label"] == "DuckDB"
    options = {option["name"]: option for option in duck["options"]}
    assert set(options) == {"path", "files"}
    assert options["path"]["format"] == "path" and options["files"]["format"] == "folder"
    assert all(option["label"] and option["help"] for option in options.values())
    assert duck["capabilities"] == {
        "session_read_only": True,
        "cancel": True,
        # No statement timeout in DuckDB: the watchdog's interrupt() is the timeout.
        "server_timeout": False,
        "schema_browsing": True,
        "streaming_export": True,
    }


def test_duckdb_connect_test_and_query_with_params(
    client: TestClient, lake: Lake, conn: str
) -> None:
    tested = client.post("/connections/test", json=lake.body())
    assert tested.status_code == 200, tested.text
    assert tested.json()["ok"] is True
    assert tested.json()["server_version"].startswith("DuckDB v")
    answer = run(
        client,
        conn,
        "SELECT id, qty, px FROM trades WHERE symbol = :sym AND qty >= :least ORDER BY id",
        params={"sym": "AAPL", "least": 1},
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["columns"] == [
        {"name": "id", "type": "integer"},
        {"name": "qty", "type": "integer"},
        {"name": "px", "type": "decimal"},
    ]
    assert body["rows"] == [[1, 10, 189.9812], [3, 5, 190.0001]]
    assert "189.9812" in answer.text and body["truncated"] is False
    capped = run(client, conn, "SELECT * FROM trades ORDER BY id", limit=2)
    assert capped.json()["row_count"] == 2 and capped.json()["truncated"] is True
    records = client.post(
        f"/connections/{conn}/query?shape=records",
        json={"sql": "SELECT symbol, qty FROM trades WHERE id = :id", "params": {"id": 2}},
    )
    assert records.json()["rows"] == [{"symbol": "MSFT", "qty": 20}]
    # DuckDB's own messages, cut to their first sentence ("... not found! Candidate ...").
    assert "nope" in assert_error(run(client, conn, "SELECT nope FROM trades"), 400, "sql_error")
    assert_error(run(client, conn, "SELECT * FROM no_such_table"), 400, "sql_error")
    # A colon in a string, a :: cast, a list slice and a prefix alias are not parameters.
    odd = run(client, conn, "SELECT 'a:b' AS s, '5'::INTEGER AS n, [1, 2, 3][2:3] AS l, x: 7")
    assert odd.json()["rows"] == [["a:b", 5, [2, 3], 7]], odd.text


def test_duckdb_options_are_checked(client: TestClient, lake: Lake, tmp_path: Path) -> None:
    not_duck = tmp_path / "notes.duckdb"
    not_duck.write_text("hello, this is not a database at all")
    for options, words in [
        ({"path": str(lake.root / "missing.duckdb")}, "no file"),
        ({"path": str(lake.files)}, "folder"),
        ({"path": str(not_duck)}, "not a duckdb database"),
        ({"path": None, "files": None}, "a duckdb database file, a data folder"),
        ({"files": str(lake.root / "no-such-folder")}, "no folder"),
        ({"files": str(lake.db)}, "no folder"),
        ({"path": "md:my_db"}, "not a local path"),
        ({"nope": 1}, "nope"),
    ]:
        detail = assert_error(
            client.post("/connections/test", json=lake.body(**options)), 422, "invalid_request"
        )
        assert words in detail.lower(), (options, detail)
    # Without a database file the connection reads files only, and only read-only.
    detail = assert_error(
        client.post("/connections/test", json=lake.body(path=None, read_only=False)),
        422,
        "invalid_request",
    )
    assert "read-only" in detail
    normalised = DuckdbOptions.model_validate({"path": str(lake.files / ".." / "market.duckdb")})
    assert normalised.path == str(lake.db.resolve())


def test_duckdb_reads_parquet_and_csv_in_its_folder(
    client: TestClient, lake: Lake, conn: str
) -> None:
    files = lake.files
    for sql, rows in [
        (f"SELECT count(*), max(close) FROM '{files}/prices.parquet'", [[100, 148.5]]),
        (f"SELECT count(*) FROM read_parquet('{files}/*.parquet')", [[100]]),
        (f"SELECT symbol FROM read_csv('{files}/trades.csv') WHERE id = 2", [["MSFT"]]),
        (f"SELECT count(*) FROM glob('{files}/*')", [[2]]),
        (
            f"SELECT t.symbol, p.close FROM trades AS t JOIN '{files}/prices.parquet' AS p "
            "ON p.day = t.id ORDER BY t.id LIMIT 1",
            [["AAPL", 1.5]],
        ),
    ]:
        answer = run(client, conn, sql)
        assert answer.status_code == 200, (sql, answer.text)
        assert answer.json()["rows"] == rows, sql
    # A connection without a database file: the folder's files alone.
    created = client.post("/connections", json=lake.body("files_only", path=None))
    assert created.status_code == 201, created.text
    answer = run(client, "files_only", f"SELECT sum(day) FROM '{files}/prices.parquet'")
    assert answer.json()["rows"] == [[4950]], answer.text
    assert_error(run(client, "files_only", "SELECT * FROM trades"), 400, "sql_error")
    assert_error(run(client, "files_only", "CREATE TABLE x (a INTEGER)"), 400, "read_only")


def test_duckdb_files_only_session_refuses_writes_without_the_guard(lake: Lake) -> None:
    # No database file: the in-memory database is read-only through the session's check.
    backend = get_backend("duckdb")
    before = lake.snapshot()
    engine = raw_engine(lake, path=None)
    raw = engine.raw_connection()
    try:
        for sql in (
            "CREATE TABLE x AS SELECT 1 AS a",
            f"COPY (SELECT 1 AS a) TO '{lake.files}/x.csv'",
            f"ATTACH '{lake.db}' AS market",
        ):
            control = QueryControl("q_raw", "raw", sql, 30)
            with (
                pytest.raises(ReadOnlyError),
                backend.session(
                    raw.driver_connection, control, read_only=True, stream=False
                ) as cur,
            ):
                cur.execute(sql)
    finally:
        raw.close()
        engine.dispose()
    assert lake.snapshot() == before


# read-only, over HTTP, below the guard and in DuckDB itself ------------------------------


def refused_statements(lake: Lake) -> list[str]:
    """Statements a read-only connection must refuse, whoever refuses them."""
    files, outside = lake.files, lake.outside
    return [
        "INSERT INTO trades VALUES (9, 'TSLA', 1, 1.0)",
        "UPDATE trades SET qty = 0",
        "DELETE FROM trades",
        "CREATE TABLE sneaky (x INTEGER)",
        "CREATE TEMP TABLE scratch AS SELECT 1 AS x",
        "CREATE OR REPLACE VIEW big_trades AS SELECT 1 AS x",
        "DROP VIEW big_trades",
        "ALTER TABLE trades ADD COLUMN note VARCHAR",
        "SELECT nextval('ticket')",
        f"COPY trades TO '{files}/copy.csv'",
        f"COPY (SELECT * FROM trades) TO '{outside}/copy.parquet' (FORMAT parquet)",
        f"EXPLAIN ANALYZE COPY trades TO '{files}/explained.csv'",
        f"EXPORT DATABASE '{files}/dump'",
        f"ATTACH '{outside}/other.duckdb' AS other",
        f"ATTACH '{files}/fresh.duckdb' AS fresh",
        "DETACH market",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SET enable_external_access = true",
        "RESET allowed_directories",
        "SET lock_configuration = false",
        "PRAGMA enable_profiling",
        "CHECKPOINT",
        "CALL checkpoint()",
        "CREATE SECRET (TYPE s3, KEY_ID 'k', SECRET 's')",
        f"SELECT * FROM read_csv('{outside}/secret.csv')",
        f"SELECT * FROM '{outside}/secret.parquet'",
        f"SELECT * FROM read_text('{files}/../outside/secret.csv')",
        "SELECT * FROM read_csv('/etc/passwd')",
        "SELECT * FROM 'https://example.com/prices.csv'",
        "SELECT * FROM 's3://bucket/prices.parquet'",
    ]


def assert_nothing_changed(lake: Lake, before: dict[str, bytes]) -> None:
    assert lake.snapshot() == before
    assert duckdb_reads(lake.db, "SELECT count(*), sum(qty) FROM trades") == [[3, 35]]
    assert duckdb_reads(lake.db, "SELECT count(*) FROM duckdb_views() WHERE NOT internal") == [[1]]
    assert duckdb_reads(lake.db, "SELECT count(*) FROM duckdb_tables()") == [[1]]


def test_duckdb_read_only_refusals_over_http(client: TestClient, lake: Lake, conn: str) -> None:
    before = lake.snapshot()
    for sql in refused_statements(lake):
        answer = run(client, conn, sql)
        assert answer.status_code == 400, (sql, answer.text)
        assert answer.json()["code"] == "read_only", (sql, answer.json())
    assert_error(
        client.post(f"/connections/{conn}/export", json={"sql": "DELETE FROM trades"}),
        400,
        "read_only",
    )
    assert_nothing_changed(lake, before)
    # Reads that look like writes to a word list still run.
    for sql in ("SHOW TABLES", "DESCRIBE trades", "SUMMARIZE trades", "EXPLAIN SELECT 1"):
        assert run(client, conn, sql).status_code == 200, sql
    pivot = run(client, conn, "PIVOT (SELECT symbol, qty FROM trades) ON symbol USING sum(qty)")
    assert pivot.status_code == 200 and pivot.json()["rows"] == [[15, 20]], pivot.text


def raw_engine(lake: Lake, *, read_only: bool = True, **options: Any) -> Any:
    backend = get_backend("duckdb")
    spec = ConnectionSpec(
        name="raw",
        kind="duckdb",
        options=backend.validate_options(
            {k: v for k, v in lake.body(**options)["options"].items() if v is not None}
        ),
        read_only=read_only,
    )
    return backend.create_engine(spec, None)


def test_duckdb_session_refuses_writes_without_the_guard(lake: Lake) -> None:
    # Each statement goes straight to the session: no sqlglot guard in front of it.
    backend = get_backend("duckdb")
    before = lake.snapshot()
    engine = raw_engine(lake)
    raw = engine.raw_connection()
    try:
        for sql in refused_statements(lake):
            control = QueryControl("q_raw", "raw", sql, 30)
            with (
                pytest.raises(Exception) as caught,
                backend.session(
                    raw.driver_connection, control, read_only=True, stream=False
                ) as cursor,
            ):
                cursor.execute(sql)
                cursor.fetchmany(10)
            error = backend.translate_error(caught.value)
            assert isinstance(error, ReadOnlyError), (sql, caught.value)
            assert_one_sentence(error.detail)
        # More than one statement, as DuckDB's own parser counts them.
        control = QueryControl("q_raw", "raw", "", 30)
        with (
            pytest.raises(SqlError, match="one statement"),
            backend.session(raw.driver_connection, control, read_only=True, stream=False) as cur,
        ):
            cur.execute("SELECT 1; DELETE FROM trades")
    finally:
        raw.close()
        engine.dispose()
    assert_nothing_changed(lake, before)


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO trades VALUES (9, 'TSLA', 1, 1.0)",
        "CREATE TABLE sneaky (x INTEGER)",
        "DROP VIEW big_trades",
        "SELECT nextval('ticket')",
        "COPY trades TO '{outside}/copy.csv'",
        "EXPORT DATABASE '{outside}/dump'",
        "ATTACH '{outside}/other.duckdb' AS other",
        "ATTACH '{outside}/fresh.duckdb' AS fresh",
        "INSTALL httpfs",
        "LOAD httpfs",
        "SELECT * FROM read_csv('{outside}/secret.csv')",
        "SELECT * FROM read_text('/etc/passwd')",
        "SELECT * FROM glob('{root}/*')",
        "SELECT * FROM 'https://example.com/prices.csv'",
        "SET enable_external_access = true",
        "SET allowed_directories = ['/']",
        "RESET allowed_directories",
        "SET lock_configuration = false",
        "SET autoload_known_extensions = true",
        "CREATE PERSISTENT SECRET s (TYPE http)",
    ],
)
def test_duckdb_refuses_even_without_the_connectors_checks(lake: Lake, sql: str) -> None:
    """DuckDB's own configuration: the locked-down connection itself, with neither the
    statement guard nor the session's statement check in front of it."""
    statement = sql.format(outside=lake.outside, root=lake.root)
    before = lake.snapshot()
    connection = connect_duckdb(str(lake.db), str(lake.files), read_only=True)
    try:
        with pytest.raises(duckdb.Error) as caught:
            connection.execute(statement).fetchall()
    finally:
        connection.close()
    error = get_backend("duckdb").translate_error(caught.value)
    assert isinstance(error, ReadOnlyError), (statement, caught.value)
    assert_one_sentence(error.detail)
    assert lake.snapshot() == before
    assert not (lake.outside / "fresh.duckdb").exists()
    assert duckdb_reads(lake.db, "SELECT count(*) FROM trades") == [[3]]


def test_duckdb_copy_into_the_folder_is_the_session_checks_to_refuse(lake: Lake) -> None:
    """What DuckDB's ``allowed_directories`` does not refuse: writing a file into the allowed
    folder. This is why the session classifies each statement with DuckDB's parser (and the
    guard refuses COPY and EXPORT too); both are checked refusing it above."""
    connection = connect_duckdb(str(lake.db), str(lake.files), read_only=True)
    try:
        connection.execute(f"COPY trades TO '{lake.files}/allowed.csv'")
    finally:
        connection.close()
    assert (lake.files / "allowed.csv").exists()


def test_duckdb_guard_refuses_duckdb_statements() -> None:
    backend = DuckdbBackend()

    def guard(sql: str) -> None:
        prepare(
            sql,
            {},
            dialect=backend.dialect,
            paramstyle=backend.paramstyle,
            read_only=True,
            session_enforced=backend.enforces_read_only,
            rules=backend.guard_rules,
        )

    for sql in (
        "INSTALL httpfs", "FORCE INSTALL httpfs", "LOAD httpfs", "EXPORT DATABASE 'x'",
        "IMPORT DATABASE 'x'", "PRAGMA table_info('t')", "RESET threads", "CHECKPOINT",
        "FORCE CHECKPOINT", "USE other", "PREPARE p AS SELECT 1", "DEALLOCATE p", "BEGIN",
        "ANALYZE", "COMMENT ON TABLE t IS 'x'", "EXPLAIN ANALYZE COPY t TO 'x.csv'",
        "EXPLAIN (FORMAT json) DELETE FROM t", "VACUUM", "CALL checkpoint()",
    ):  # fmt: skip
        with pytest.raises(ReadOnlyError):
            guard(sql)
    for sql in (
        "SELECT 1", "FROM t", "(SELECT 1) UNION (SELECT 2)", "WITH a AS (SELECT 1) FROM a",
        "VALUES (1)", "TABLE t", "DESCRIBE t", "SHOW TABLES", "SUMMARIZE t",
        "PIVOT t ON x USING sum(y)", "EXPLAIN SELECT 1", "EXPLAIN ANALYZE FROM t",
        "EXPLAIN (FORMAT json) SELECT 1", "/* note */ SELECT 1;",
    ):  # fmt: skip
        guard(sql)


def test_duckdb_writable_connection_commits(client: TestClient, lake: Lake) -> None:
    created = client.post("/connections", json=lake.body("lake_rw", read_only=False))
    assert created.status_code == 201, created.text
    answer = run(
        client,
        "lake_rw",
        "INSERT INTO trades VALUES (:id, :sym, 1, 2.5)",
        params={"id": 4, "sym": "50% @ #1"},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["rows"] == [[1]]  # DuckDB reports the rows it inserted
    # Writable or not, files outside the folder stay out of reach.
    outside = run(client, "lake_rw", f"SELECT * FROM read_csv('{lake.outside}/secret.csv')")
    assert_error(outside, 400, "read_only")
    # Another program can read the file once this server lets it go.
    assert client.delete("/connections/lake_rw").status_code == 204
    assert duckdb_reads(lake.db, "SELECT symbol FROM trades WHERE id = 4") == [["50% @ #1"]]


# timeouts, cancel, streaming --------------------------------------------------------------


def test_duckdb_timeout_is_504_and_the_connection_still_works(
    client: TestClient, conn: str
) -> None:
    detail = assert_error(run(client, conn, SLOW_SQL, timeout_s=1), 504, "timeout")
    assert "1 s timeout" in detail
    assert client.get("/queries").json() == []
    assert run(client, conn, "SELECT count(*) FROM trades").json()["rows"] == [[3]]


def test_duckdb_cancel_is_499_in_the_database(client: TestClient, conn: str) -> None:
    results: list[httpx.Response] = []
    worker = threading.Thread(
        target=lambda: results.append(run(client, conn, SLOW_SQL, timeout_s=120))
    )
    worker.start()
    # Up to 20 s for the query to be registered: a thread start and a pool checkout, but the
    # machine is shared and may be slow; the query itself cannot finish in that time.
    running = wait_until(
        lambda: [q for q in client.get("/queries").json() if q["connection"] == conn],
        within_s=20,
        what="the query shows up as running",
    )
    assert client.delete(f"/queries/{running[0]['query_id']}").status_code == 204
    # The answer only comes once DuckDB's execute() returned: the statement is stopped.
    # 60 s is far beyond an interrupt's reach; only a cancel that failed would use it up.
    worker.join(60)
    assert results, "the cancelled query never answered"
    assert_error(results[0], 499, "cancelled")
    assert run(client, conn, "SELECT 1 AS ok").json()["rows"] == [[1]]


def test_duckdb_cancel_before_the_statement_starts_is_not_lost(lake: Lake) -> None:
    """An interrupt that lands before DuckDB starts the statement would be forgotten by
    DuckDB; the session looks at the query's control first."""
    backend = get_backend("duckdb")
    engine = raw_engine(lake)
    raw = engine.raw_connection()
    control = QueryControl("q_early", "raw", SLOW_SQL, 120)
    try:
        with backend.session(raw.driver_connection, control, read_only=True, stream=False) as cur:
            control.cancel()
            with pytest.raises(QueryCancelledError):
                cur.execute(SLOW_SQL)
    finally:
        raw.close()
        engine.dispose()


def test_duckdb_export_streams_every_row(client: TestClient, conn: str) -> None:
    sql = "SELECT range AS n, 'x' AS s, range * 0.5 AS half FROM range(120000) ORDER BY n"
    with client.stream(
        "POST", f"/connections/{conn}/export?format=ndjson", json={"sql": sql}
    ) as response:
        assert response.status_code == 200
        lines = [line for line in response.iter_lines() if line]
    assert len(lines) == 120000
    assert json.loads(lines[-1]) == {"n": 119999, "s": "x", "half": 59999.5}
    csv_text = client.post(f"/connections/{conn}/export?format=csv", json={"sql": sql}).text
    csv_lines = csv_text.splitlines()
    assert csv_lines[0] == "n,s,half" and len(csv_lines) == 120001
    records = client.post(
        f"/connections/{conn}/export?format=json", json={"sql": "SELECT * FROM trades"}
    ).json()
    assert [record["symbol"] for record in records] == ["AAPL", "MSFT", "AAPL"]


def test_duckdb_export_reads_batch_by_batch(lake: Lake) -> None:
    """Ten billion rows cannot be held in memory: reading the first batches at all shows the
    rows are fetched as they come; closing the stream early stops the query in DuckDB."""
    backend = get_backend("duckdb")
    engine = raw_engine(lake)
    spec = ConnectionSpec(name="raw", kind="duckdb", options={}, read_only=True)
    control = QueryControl("q_stream", "raw", ENDLESS_SQL, 600)
    job = QueryJob(backend, engine, spec, BoundStatement(ENDLESS_SQL, None), control, {})
    stream = RowStream(job, batch_size=1000).open()
    try:
        batches = stream.batches()
        first = [next(batches) for _ in range(3)]
        assert [len(batch) for batch in first] == [1000, 1000, 1000]
        assert first[2][-1] == (2999,)
    finally:
        stream.close()
    assert control.cancelled  # the unfinished export was stopped, not read to its end
    raw = engine.raw_connection()  # and the pool's connection is usable again
    try:
        assert raw.driver_connection.execute("SELECT 1").fetchall() == [(1,)]
    finally:
        raw.close()
        engine.dispose()


# values, schema --------------------------------------------------------------------------

AWKWARD_SQL = """
SELECT 12345678901234567890.1234567891::DECIMAL(38, 10) AS big_decimal,
       170141183460469231731687303715884105727::HUGEINT AS huge,
       18446744073709551615::UBIGINT AS ubig,
       '123456789012345678901234567890'::VARINT AS bignum,
       'nan'::DOUBLE AS nan, 'inf'::DOUBLE AS inf, 1.25::REAL AS real,
       DATE '2024-05-01' AS d, TIMESTAMP '2024-05-01 13:45:00' AS ts,
       TIMESTAMPTZ '2024-05-01 13:45:00+02' AS tstz, TIME '13:45:00' AS t,
       TIMETZ '13:45:00+02' AS ttz, INTERVAL '1 year 2 months 3 days 04:05:06.5' AS iv,
       '\\x00\\xFF\\x10'::BLOB AS b, '{"a": [1, 2.5, null], "b": "ü🚀"}'::JSON AS j,
       {'x': 1, 'y': [1, 2]} AS st, [1, NULL, 3] AS l, [1, 2]::INTEGER[2] AS arr,
       MAP {DATE '2024-01-01': 1.5} AS m, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11'::UUID AS u,
       true AS ok, '101'::BIT AS bits, NULL::INTEGER AS nothing
"""


def test_duckdb_values_map_as_the_contract_says(client: TestClient, conn: str) -> None:
    answer = run(client, conn, AWKWARD_SQL)
    assert answer.status_code == 200, answer.text
    types = {column["name"]: column["type"] for column in answer.json()["columns"]}
    assert types == {
        "big_decimal": "decimal", "huge": "integer", "ubig": "integer", "bignum": "integer",
        "nan": "float", "inf": "float", "real": "float", "d": "date", "ts": "datetime",
        "tstz": "datetime", "t": "time", "ttz": "time", "iv": "string", "b": "binary",
        "j": "json", "st": "json", "l": "json", "arr": "json", "m": "json", "u": "string",
        "ok": "boolean", "bits": "string", "nothing": "integer",
    }  # fmt: skip
    # Exact, unquoted numbers: no float rounding on the way.
    assert (
        "[[12345678901234567890.1234567891,170141183460469231731687303715884105727,"
        "18446744073709551615,123456789012345678901234567890,"
    ) in answer.text
    (row,) = answer.json()["rows"]
    values = dict(zip(types, row, strict=True))
    assert values["nan"] is None and values["inf"] is None and values["real"] == 1.25
    assert values["d"] == "2024-05-01" and values["ts"] == "2024-05-01T13:45:00"
    # The instant, with an offset (DuckDB writes it in its TimeZone, the machine's own).
    tstz = dt.datetime.fromisoformat(values["tstz"])
    assert tstz.utcoffset() is not None
    assert tstz == dt.datetime(2024, 5, 1, 11, 45, tzinfo=dt.UTC)
    assert values["t"] == "13:45:00" and values["ttz"] == "13:45:00+02:00"
    assert values["iv"] == "P423DT4H5M6.5S"  # DuckDB's client counts a month as 30 days
    assert base64.b64decode(values["b"]) == b"\x00\xff\x10"
    assert values["j"] == {"a": [1, 2.5, None], "b": "ü🚀"}
    assert values["st"] == {"x": 1, "y": [1, 2]} and values["l"] == [1, None, 3]
    assert values["arr"] == [1, 2] and values["m"] == {"2024-01-01": 1.5}
    assert values["u"] == "a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"
    assert values["ok"] is True and values["bits"] == "101" and values["nothing"] is None
    # The same values export as CSV and NDJSON without losing exactness.
    csv_text = client.post(f"/connections/{conn}/export?format=csv", json={"sql": AWKWARD_SQL})
    assert csv_text.status_code == 200
    assert "12345678901234567890.1234567891,170141183460469231731687303715884105727" in (
        csv_text.text
    )
    ndjson = client.post(f"/connections/{conn}/export?format=ndjson", json={"sql": AWKWARD_SQL})
    assert json.loads(ndjson.content, parse_float=Decimal)["big_decimal"] == Decimal(
        "12345678901234567890.1234567891"
    )


@pytest.mark.parametrize(
    ("micros", "text"),
    [
        (0, "PT0S"),
        (1, "PT0.000001S"),
        (90 * 60 * 1_000_000, "PT1H30M"),
        (86_400_000_000 + 2_500_000, "P1DT2.5S"),
        (-1_000_000, "-PT1S"),
        (-(86_400_000_000 * 3), "-P3D"),
    ],
)
def test_duckdb_interval_as_iso_duration(micros: int, text: str) -> None:
    assert _iso_duration(dt.timedelta(microseconds=micros)) == text


class CountingConnection:
    """The pooled connection, counting the statements run on it."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.executed = 0

    def execute(self, *args: Any) -> Any:
        self.executed += 1
        return self.inner.execute(*args)


def test_duckdb_schema_browsing_in_fixed_queries(
    client: TestClient, lake: Lake, tmp_path: Path
) -> None:
    many = tmp_path / "many.duckdb"
    shutil.copy(lake.db, many)
    with duckdb.connect(str(many)) as con:
        for index in range(200):
            con.execute(f"CREATE TABLE many_{index:03d} (id INTEGER NOT NULL, label VARCHAR)")
    created = client.post("/connections", json=lake.body("many", path=str(many)))
    assert created.status_code == 201, created.text
    answer = client.get("/connections/many/schema")
    assert answer.status_code == 200, answer.text
    schemas = {schema["name"]: schema for schema in answer.json()["schemas"]}
    assert set(schemas) == {"main", "empty_one"}
    assert schemas["empty_one"]["tables"] == []
    tables = {table["name"]: table for table in schemas["main"]["tables"]}
    assert len([name for name in tables if name.startswith("many_")]) == 200
    assert tables["big_trades"]["kind"] == "view" and tables["trades"]["kind"] == "table"
    assert tables["trades"]["columns"][0] == {"name": "id", "type": "INTEGER", "nullable": False}
    assert tables["trades"]["columns"][3] == {
        "name": "px",
        "type": "DECIMAL(18,4)",
        "nullable": True,
    }
    assert tables["many_007"]["columns"] == [
        {"name": "id", "type": "INTEGER", "nullable": False},
        {"name": "label", "type": "VARCHAR", "nullable": True},
    ]
    backend = get_backend("duckdb")
    engine = raw_engine(lake, path=str(many))
    raw = engine.raw_connection()
    try:
        counting = CountingConnection(raw.driver_connection)
        backend.describe_schema(counting)
        assert counting.executed == 2  # schemas, then every column of every table and view
    finally:
        raw.close()
        engine.dispose()


# sharing the file --------------------------------------------------------------------------


def test_duckdb_one_file_two_ways_in_one_server_is_refused(client: TestClient, lake: Lake) -> None:
    assert client.post("/connections", json=lake.body("one")).status_code == 201
    assert run(client, "one", "SELECT 1").status_code == 200  # the file is open now
    # Same file, no data folder: must not inherit the first connection's folder.
    detail = assert_error(
        client.post("/connections/test", json=lake.body(files=None)), 502, "db_unavailable"
    )
    assert "already open in this server with other settings" in detail
    detail = assert_error(
        client.post("/connections/test", json=lake.body(read_only=False)), 502, "db_unavailable"
    )
    assert "already open in this server with other settings" in detail


@pytest.fixture
def writer(lake: Lake) -> Iterator[subprocess.Popen[str]]:
    """Another program with the DuckDB file open for writing until the test ends."""
    code = (
        "import duckdb, sys\n"
        "con = duckdb.connect(sys.argv[1])\n"
        "print('open', flush=True)\n"
        "sys.stdin.read()\n"
    )
    process = subprocess.Popen(
        [sys.executable, "-c", code, str(lake.db)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None and process.stdout.readline().strip() == "open"
    yield process
    assert process.stdin is not None
    process.stdin.close()
    process.wait(timeout=60)  # it exits as soon as its input closes
    process.stdout.close()


def test_duckdb_file_written_by_another_program_is_named(
    client: TestClient, lake: Lake, writer: subprocess.Popen[str]
) -> None:
    detail = assert_error(client.post("/connections/test", json=lake.body()), 502, "db_unavailable")
    assert "another program has this duckdb file open for writing" in detail.lower()
    assert isinstance(
        get_backend("duckdb").translate_error(
            duckdb.IOException('IO Error: Could not set lock on file "x": Conflicting lock')
        ),
        DatabaseUnavailableError,
    )
