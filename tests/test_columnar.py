"""Columnar exports (``format=arrow`` and ``format=parquet``, ``connector.columnar``) on every
kind: each awkward value read back with pyarrow is the value the exact JSON path writes,
with the Arrow types the module's table promises; Parquet holds the same table; a large
export stays in flat memory on a real server; a client that leaves stops the query; the
CLI writes both formats; a server without pyarrow refuses them in one sentence.
"""

from __future__ import annotations

import base64
import datetime as dt
import io
import json
import secrets
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from benchmarks.harness import RssSampler
from connector.columnar import ColumnarError, encode_arrow
from connector.models import Column
from connector.values import format_timedelta
from tests import netdb
from tests.conftest import (
    LiveServer,
    assert_error,
    require_service,
    start_server,
    stop_server,
    wait_until,
)
from tests.test_snowflake import BIG_ROWS as BIG_ROWS_SF
from tests.test_snowflake import NULLS_SQL, TYPES_SQL, create, fakesnow_port, sf_options

__all__ = ["fakesnow_port"]  # a fixture, used by name

MEDIA = {
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}


# reading back and comparing ------------------------------------------------------------


def _exported(client: TestClient, name: str, sql: str, fmt: str) -> pa.Table:
    response = client.post(f"/connections/{name}/export", params={"format": fmt}, json={"sql": sql})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == MEDIA[fmt]
    assert response.headers["content-disposition"].endswith(f'.{fmt}"')
    if fmt == "arrow":
        return pyarrow.ipc.open_stream(response.content).read_all()
    return pq.read_table(io.BytesIO(response.content))


def _exact(client: TestClient, name: str, sql: str) -> list[dict[str, Any]]:
    """The exact path's rows, numbers parsed without rounding."""
    response = client.post(
        f"/connections/{name}/export", params={"format": "json"}, json={"sql": sql}
    )
    assert response.status_code == 200, response.text
    rows: list[dict[str, Any]] = json.loads(response.content, parse_float=Decimal)
    return rows


def _same(value: Any, expected: Any, kind: pa.DataType, contract: str) -> bool:
    """Whether an Arrow value stands for the contract's JSON value."""
    if pa.types.is_floating(kind):
        if value is not None and (value != value or value in (float("inf"), float("-inf"))):
            return expected is None  # NaN and ±Inf: kept in Arrow, null in JSON
        return (value is None and expected is None) or float(expected) == value
    if value is None or expected is None:
        return value is None and expected is None
    if pa.types.is_integer(kind) or pa.types.is_boolean(kind):
        return bool(value == expected and type(value) is type(expected))
    if pa.types.is_decimal(kind):
        return bool(Decimal(value) == Decimal(expected))
    if pa.types.is_binary(kind):
        return bool(base64.b64encode(value).decode() == expected)
    if pa.types.is_timestamp(kind):
        parsed = dt.datetime.fromisoformat(expected)
        aware = parsed.tzinfo is not None
        return aware == (kind.tz is not None) and value == parsed
    if pa.types.is_date(kind) or pa.types.is_time(kind):
        return bool(value.isoformat() == expected)
    if pa.types.is_duration(kind):
        return format_timedelta(value) == expected
    assert pa.types.is_string(kind), kind
    if contract == "json" or not isinstance(expected, str):
        return bool(json.loads(value, parse_float=Decimal) == expected)
    return bool(value == expected)


def check_against_exact(
    client: TestClient, name: str, sql: str, types: dict[str, pa.DataType]
) -> pa.Table:
    """Arrow and Parquet exports of ``sql`` hold the exact path's values with ``types``."""
    exact = _exact(client, name, sql)
    table = _exported(client, name, sql, "arrow")
    contract = {
        c["name"]: c["type"]
        for c in client.post(f"/connections/{name}/query", json={"sql": sql}).json()["columns"]
    }
    assert {f.name: f.type for f in table.schema if f.name in types} == types
    rows = table.to_pylist()
    assert len(rows) == len(exact)
    for index, (row, expected) in enumerate(zip(rows, exact, strict=True)):
        assert list(row) == list(expected)
        for field in table.schema:
            value, want = row[field.name], expected[field.name]
            assert _same(value, want, field.type, contract.get(field.name, "")), (
                index, field.name, field.type, value, want,
            )  # fmt: skip
    parquet = _exported(client, name, sql, "parquet")
    assert parquet.schema.equals(table.schema)
    assert parquet.to_pylist() == rows or _nan_equal(parquet.to_pylist(), rows)
    return table


def _nan_equal(left: list[dict[str, Any]], right: list[dict[str, Any]]) -> bool:
    def key(value: Any) -> Any:
        return "NaN" if isinstance(value, float) and value != value else value

    return [{k: key(v) for k, v in row.items()} for row in left] == [
        {k: key(v) for k, v in row.items()} for row in right
    ]


# SQLite --------------------------------------------------------------------------------


@pytest.fixture
def awkward(client: TestClient, tmp_path: Path) -> str:
    path = tmp_path / "awkward.db"
    with sqlite3.connect(path) as db:
        db.execute(
            "CREATE TABLE v (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, b BLOB, "
            "d DATE, ts DATETIME, ok BOOLEAN, j JSON, n NUMERIC, x)"
        )
        db.executemany(
            "INSERT INTO v VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                (1, 2**63 - 1, 0.1 + 0.2, "é \U0001f600", b"\x00\xff", "2024-05-01",
                 "2024-05-01 13:45:00", 1, '{"a": [1, 2.5]}', 1.5, "text"),
                (2, -(2**63), 1e308 * 10, "", b"", None, None, 0, "[]", 12, 3),
                (3, None, None, None, None, None, None, None, None, None, None),
                (4, 0, -0.0, "\n,\"", None, "2024-02-29", "2024-05-01T13:45:00.5", 1,
                 "null", 0.25, b"blob"),
            ],
        )  # fmt: skip
        # More rows than a batch; after the first batch, a text column holds numbers and
        # bytes, and a REAL column integers: converted, not an error.
        db.execute("CREATE TABLE many (id INTEGER PRIMARY KEY, t, r)")
        db.executemany(
            "INSERT INTO many VALUES (?, ?, ?)",
            [(i, f"row {i}", i / 7) for i in range(1, 12_001)],
        )
        db.execute("UPDATE many SET t = 7001, r = 5 WHERE id = 7001")
        db.execute("UPDATE many SET t = x'00ff', r = 2 WHERE id = 7002")
        db.execute("UPDATE many SET t = 0.5 WHERE id = 11000")
    body = {"name": "awk", "kind": "sqlite", "options": {"path": str(path)}}
    assert client.post("/connections", json=body).status_code == 201
    return "awk"


def test_sqlite_columnar_values_are_the_exact_paths(client: TestClient, awkward: str) -> None:
    check_against_exact(
        client,
        awkward,
        "SELECT * FROM v ORDER BY id",
        {
            "i": pa.int64(), "r": pa.float64(), "t": pa.string(), "b": pa.binary(),
            "d": pa.date32(), "ts": pa.timestamp("us"), "ok": pa.bool_(), "j": pa.string(),
        },
    )  # fmt: skip


def test_sqlite_later_batches_that_do_not_fit_are_converted(
    client: TestClient, awkward: str
) -> None:
    table = check_against_exact(
        client, awkward, "SELECT * FROM many ORDER BY id", {"t": pa.string(), "r": pa.float64()}
    )
    assert table.num_rows == 12_000
    texts = table.column("t").to_pylist()
    assert texts[7000] == "7001" and texts[7001] == base64.b64encode(b"\x00\xff").decode()
    assert texts[10_999] == "0.5" and table.column("r").to_pylist()[7000] == 5.0
    # One record batch per fetched batch of the IPC stream.
    assert [batch.num_rows for batch in table.to_batches()] == [5000, 5000, 2000]


def test_sqlite_empty_and_columnless_results(client: TestClient, awkward: str) -> None:
    empty = _exported(client, awkward, "SELECT id, t FROM v WHERE id > 100", "arrow")
    assert empty.num_rows == 0 and empty.schema.names == ["id", "t"]
    assert _exported(client, awkward, "SELECT id, t FROM v WHERE id > 100", "parquet").num_rows == 0
    duplicated = _exported(client, awkward, "SELECT id, id FROM v", "arrow")
    assert duplicated.schema.names == ["id", "id_2"]  # the NDJSON keys


def test_a_value_that_would_lose_digits_ends_the_export_with_its_column() -> None:
    batches = [[(1,)], [(2**64,)]]  # an integer beyond 64 bits after an int64 first batch
    with pytest.raises(ColumnarError, match="'n'") as raised:
        b"".join(encode_arrow([Column("n", "integer")], batches))
    assert "ndjson" in raised.value.detail
    # Decimals with more places than the first batch's are never rounded either.
    rounded = [[(Decimal("1.5"),)], [(Decimal("1.25"),)]]
    with pytest.raises(ColumnarError):
        b"".join(encode_arrow([Column("d", "decimal")], rounded))
    # ...but one whose extra places are zeros is the same number and fits.
    fits = [[(Decimal("1.5"),)], [(Decimal("2.50"),)]]
    table = pyarrow.ipc.open_stream(b"".join(encode_arrow([Column("d", "decimal")], fits)))
    assert table.read_all().column("d").to_pylist() == [Decimal("1.5"), Decimal("2.5")]


# DuckDB --------------------------------------------------------------------------------


def test_duckdb_columnar_values_are_the_exact_paths(client: TestClient, tmp_path: Path) -> None:
    import duckdb

    path = tmp_path / "awk.duckdb"
    with duckdb.connect(str(path)) as db:
        db.execute("SET TimeZone = 'UTC'")
        db.execute(
            "CREATE TABLE v AS SELECT * FROM (VALUES "
            "(1, 170141183460469231731687303715884105727::HUGEINT, 1.5::DECIMAL(18,3), "
            "12345678901234567890.1234567890::DECIMAL(38,10), 'nan'::DOUBLE, "
            "TIMESTAMPTZ '2024-05-01 13:45:00+02', TIMESTAMP '2024-05-01 13:45:00.25', "
            "DATE '2024-05-01', TIME '13:45:01.5', '\\x00\\xFF'::BLOB, {'a': [1, 2]}, "
            "'x'::VARCHAR, true, '00000000-0000-0000-0000-000000000001'::UUID), "
            "(2, -5::HUGEINT, -0.001::DECIMAL(18,3), 0::DECIMAL(38,10), 'inf'::DOUBLE, "
            "NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)) "
            "AS t(id, h, d, big, f, tz, ts, dd, tt, b, s, v, ok, u)"
        )
    body = {"name": "duck", "kind": "duckdb", "options": {"path": str(path)}}
    assert client.post("/connections", json=body).status_code == 201, client.get("/kinds").text
    check_against_exact(
        client,
        "duck",
        "SELECT * FROM v ORDER BY id",
        {
            "h": pa.decimal256(76, 0), "d": pa.decimal128(18, 3), "big": pa.decimal128(38, 10),
            "f": pa.float64(), "tz": pa.timestamp("us", tz="UTC"), "ts": pa.timestamp("us"),
            "dd": pa.date32(), "tt": pa.time64("us"), "b": pa.binary(), "s": pa.string(),
            "ok": pa.bool_(), "u": pa.string(),
        },
    )  # fmt: skip


# PostgreSQL ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    import psycopg
    from psycopg import sql as pgsql

    require_service(netdb.port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    name = f"dc_col_{secrets.token_hex(4)}"
    root = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as db:
        db.execute(
            "CREATE TABLE v (id int8, n10 numeric(10,2), n numeric, f float8, g float4, "
            "tz timestamptz, ts timestamp, d date, t time, b bytea, j jsonb, "
            "u uuid, ok bool, s text, iv interval)"
        )
        db.execute(
            "INSERT INTO v VALUES "
            "(1, 12345678.91, 1.5, 'NaN', 'Infinity', '2024-05-01 13:45:00+02', "
            "'2024-05-01 13:45:00.123456', '2024-05-01', '13:45:01.5', "
            "'\\x00ff', '{\"a\": [1, 2.5, null]}', '00000000-0000-0000-0000-000000000001', "
            "true, 'é', '1 day 02:00:00'), "
            "(2, -0.01, 'NaN', '-Infinity', 0.5, NULL, NULL, NULL, NULL, '', '[]', "
            "NULL, false, '', NULL), "
            "(3, NULL, 123456789012345678901234567890.125, 1e300, NULL, "
            "'1999-12-31 23:59:59.999999+00', NULL, NULL, NULL, NULL, '\"just text\"', NULL, "
            "NULL, NULL, NULL)"
        )
        db.execute(
            "CREATE TABLE slow AS SELECT g AS n, repeat('x', 50) AS pad "
            "FROM generate_series(1, 200000) AS g"
        )
    yield name
    root.execute(
        pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
    )
    root.close()


def _pg_body(database: str, name: str) -> dict[str, Any]:
    options = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": database}
    return {"name": name, "kind": "postgresql", "options": options}


def test_postgresql_columnar_values_are_the_exact_paths(
    client: TestClient, pg_database: str
) -> None:
    assert client.post("/connections", json=_pg_body(pg_database, "pgcol")).status_code == 201
    check_against_exact(
        client,
        "pgcol",
        "SELECT * FROM v ORDER BY id",
        {
            "id": pa.int64(), "n10": pa.decimal128(10, 2), "n": pa.decimal128(38, 3),
            "f": pa.float64(), "g": pa.float64(), "tz": pa.timestamp("us", tz="UTC"),
            "ts": pa.timestamp("us"), "d": pa.date32(), "t": pa.time64("us"),
            "b": pa.binary(), "j": pa.string(), "u": pa.string(),
            "ok": pa.bool_(), "s": pa.string(),
        },
    )  # fmt: skip


def test_postgresql_dates_the_first_batch_holds_as_text_make_a_text_column(
    client: TestClient, pg_database: str
) -> None:
    # PostgreSQL's infinite dates have no date value: the backend hands them over as the
    # text PostgreSQL prints, so the column is text; the finite column stays a date.
    assert client.post("/connections", json=_pg_body(pg_database, "pginf")).status_code == 201
    table = check_against_exact(
        client,
        "pginf",
        "SELECT d, ts, '2024-05-01'::date AS plain FROM (VALUES ('infinity'::date, "
        "'-infinity'::timestamptz), ('2024-05-01'::date, '2024-05-01 13:45+02'::timestamptz)) "
        "AS v(d, ts)",
        {"d": pa.string(), "ts": pa.string(), "plain": pa.date32()},
    )
    assert table.column("d").to_pylist() == ["infinity", "2024-05-01"]


def _pg_running(database: str, marker: str) -> list[str]:
    """The statements of the export still open in ``database``, a database of this test's
    own: any session there that is not idle is the export's (its statement, the ``FETCH``
    of the cursor it reads through, idle in transaction between fetches, or whatever else
    it runs in that transaction). Matching on the text alone missed the moments between."""
    import psycopg

    with psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres") as db:
        rows = db.execute(
            "SELECT query FROM pg_stat_activity WHERE datname = %s AND state <> 'idle' "
            "AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return [str(row[0]) for row in rows]


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_postgresql_client_leaving_a_columnar_export_stops_the_query(
    pg_database: str, tmp_path: Path, fmt: str
) -> None:
    import httpx

    marker = f"mk_col_{secrets.token_hex(3)}"
    # Runs for minutes: rows keep coming until the server stops the statement (in the
    # select list, generate_series streams its rows instead of gathering them first).
    sql = f"SELECT generate_series(1, 1000000000) AS n, '{marker}' AS m"
    server = start_server(tmp_path / "data")
    try:
        with httpx.Client(
            base_url=server.url, headers={"X-API-KEY": server.api_key}, timeout=60
        ) as http:
            assert http.post("/connections", json=_pg_body(pg_database, "pgx")).status_code == 201
            with http.stream(
                "POST", f"/connections/pgx/export?format={fmt}", json={"sql": sql}
            ) as response:
                assert response.status_code == 200
                received = 0
                for chunk in response.iter_bytes():
                    received += len(chunk)
                    if received > 200_000:
                        # Checked before leaving: leaving the loop closes the response, and
                        # the server may stop the query before a check made after it.
                        assert _pg_running(pg_database, marker), "the export should be running"
                        break
            # 60 s only bounds how long a loaded machine takes to notice the client left.
            wait_until(
                lambda: not _pg_running(pg_database, marker), within_s=60, what="the query stopped"
            )
            assert http.post("/connections/pgx/query", json={"sql": "SELECT 2"}).json()["rows"] == [
                [2]
            ]
    finally:
        stop_server(server)


# MariaDB -------------------------------------------------------------------------------


@pytest.fixture
def maria(client: TestClient) -> Iterator[str]:
    import pymysql

    require_service(netdb.port_open("127.0.0.1", 3306), "no MariaDB on 127.0.0.1:3306")
    database = f"dc_col_{secrets.token_hex(4)}"
    root = pymysql.connect(host="127.0.0.1", user="root", autocommit=True)
    with root.cursor() as cur:
        cur.execute(f"CREATE DATABASE `{database}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{database}`")
        cur.execute(
            "CREATE TABLE v (id INT PRIMARY KEY, big DECIMAL(65,30), d DECIMAL(10,2), "
            "u BIGINT UNSIGNED, i BIGINT, f DOUBLE, dt DATETIME(6), ts TIMESTAMP NULL, "
            "dd DATE, t TIME(6), j JSON, b BLOB, s VARCHAR(20), ok BOOLEAN)"
        )
        cur.execute(
            "INSERT INTO v VALUES "
            "(1, 12345678901234567890123456789012345.123456789012345678901234567890, 12345678.91, "
            "18446744073709551615, -9223372036854775808, 1e300, '2024-05-01 13:45:00.5', "
            "'2024-05-01 13:45:00', '2024-05-01', '-838:59:59', '{\"a\": [1, 2.5]}', "
            "x'00ff', 'é', 1), "
            "(2, -0.000000000000000000000000000001, -0.01, 0, 5, -2.5, NULL, NULL, NULL, "
            "'13:45:01.5', '[]', '', '', 0), "
            "(3, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL)"
        )
    options = {"host": "127.0.0.1", "port": 3306, "user": "root", "database": database}
    body = {"name": "maria", "kind": "mysql", "options": options}
    created = client.post("/connections", json=body)
    assert created.status_code == 201, created.text
    yield "maria"
    with root.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
    root.close()


def test_mariadb_columnar_values_are_the_exact_paths(client: TestClient, maria: str) -> None:
    check_against_exact(
        client,
        maria,
        "SELECT * FROM v ORDER BY id",
        {
            "big": pa.decimal256(66, 30), "d": pa.decimal128(11, 2),
            "u": pa.decimal128(38, 0),  # beyond int64 in the first batch
            "i": pa.int64(), "f": pa.float64(), "dt": pa.timestamp("us"),
            "ts": pa.timestamp("us"), "dd": pa.date32(), "t": pa.duration("us"),
            "j": pa.string(), "b": pa.binary(), "s": pa.string(),
        },
    )  # fmt: skip


# Snowflake (fakesnow's server) --------------------------------------------------------


def test_snowflake_columnar_values_are_the_exact_paths(
    client: TestClient, fakesnow_port: int
) -> None:
    response = create(client, "sfc", sf_options(fakesnow_port), secret="pw")
    assert response.status_code == 201, response.text
    check_against_exact(
        client,
        "sfc",
        TYPES_SQL,
        {
            "BIG": pa.decimal128(38, 0), "DEC": pa.decimal128(38, 4), "NAN": pa.float64(),
            "INF": pa.float64(), "F": pa.float64(), "NTZ": pa.timestamp("us"),
            "TZ": pa.timestamp("us", tz="UTC"), "LTZ": pa.timestamp("us", tz="UTC"),
            "D": pa.date32(), "T": pa.time64("us"), "B": pa.bool_(), "BIN": pa.binary(),
            "V": pa.string(), "O": pa.string(), "A": pa.string(),
        },
    )  # fmt: skip


@pytest.fixture
def arrow_plans(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each Snowflake export got the Arrow-chunk plan (True) or the row path."""
    from connector.backends.snowflake import SnowflakeBackend

    made: list[bool] = []
    real = SnowflakeBackend.native_export

    def recording(self: SnowflakeBackend, *args: Any) -> Any:
        plan = real(self, *args)
        made.append(plan is not None)
        return plan

    monkeypatch.setattr(SnowflakeBackend, "native_export", recording)
    return made


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
@pytest.mark.parametrize(
    "sql", [TYPES_SQL, NULLS_SQL, "SELECT * FROM BIG ORDER BY N", "SELECT * FROM BIG WHERE N < 0"]
)
def test_snowflake_arrow_chunks_export_what_the_row_path_exports(
    client: TestClient,
    fakesnow_port: int,
    arrow_plans: list[bool],
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    fmt: str,
) -> None:
    from connector.backends.snowflake import SnowflakeBackend

    assert create(client, "sfa", sf_options(fakesnow_port), secret="pw").status_code == 201
    fast = _exported(client, "sfa", sql, fmt)
    assert arrow_plans == [True]
    with monkeypatch.context() as patch:
        patch.setattr(SnowflakeBackend, "native_export", lambda *_: None)
        rows = _exported(client, "sfa", sql, fmt)
    assert fast.schema.equals(rows.schema), (fast.schema, rows.schema)
    assert _nan_equal(fast.to_pylist(), rows.to_pylist())
    if sql == "SELECT * FROM BIG ORDER BY N":
        assert fast.num_rows == BIG_ROWS_SF


def test_snowflake_arrow_chunk_that_would_lose_digits_ends_the_export() -> None:
    from connector.arrow_tables import encode_tables

    first = pa.table({"N": pa.array([1], pa.int8())})
    later = pa.table({"N": pa.array([Decimal(2**70)], pa.decimal128(38, 0))})
    with pytest.raises(ColumnarError, match="'N'"):
        list(encode_tables("arrow", [Column("N", "integer")], [first, later]))
    # A later chunk with a wider integer type that fits is only widened.
    wider = pa.table({"N": pa.array([2**40], pa.int64())})
    data = b"".join(
        part for part, _ in encode_tables("arrow", [Column("N", "integer")], [first, wider])
    )
    assert pyarrow.ipc.open_stream(data).read_all().column("N").to_pylist() == [1, 2**40]


# a real server: flat memory and a client that leaves ----------------------------------

BIG_ROWS = 1_500_000


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("columnar") / "big.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT, value REAL)")
        db.execute(
            "INSERT INTO t WITH RECURSIVE c(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM c "
            f"WHERE i + 1 < {BIG_ROWS}) SELECT i, printf('row-%08d-%s', i, "
            "'padding-padding-padding-padding'), i * 0.5 FROM c"
        )
    return path


@pytest.fixture(scope="module")
def big_server(tmp_path_factory: pytest.TempPathFactory, big_db: Path) -> Iterator[LiveServer]:
    server = start_server(tmp_path_factory.mktemp("columnar-server") / "data")
    try:
        with server.client() as http:
            body = {"name": "big", "kind": "sqlite", "options": {"path": str(big_db)}}
            assert http.post("/connections", json=body).status_code == 201
        yield server
    finally:
        stop_server(server)


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_large_columnar_export_streams_in_flat_memory(big_server: LiveServer, fmt: str) -> None:
    with big_server.client() as http:
        # A first, small export loads pyarrow and its buffers, so the memory measured
        # below is what the large one adds.
        http.post(
            f"/connections/big/export?format={fmt}", json={"sql": "SELECT * FROM t LIMIT 70000"}
        ).raise_for_status()
        data = bytearray()
        with (
            RssSampler(big_server.process.pid) as rss,
            http.stream(
                "POST",
                f"/connections/big/export?format={fmt}",
                json={"sql": "SELECT * FROM t"},
                timeout=300,  # a hang guard on a loaded machine, not a speed check
            ) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                data += chunk
    if fmt == "arrow":
        table = pyarrow.ipc.open_stream(bytes(data)).read_all()
    else:
        table = pq.read_table(io.BytesIO(bytes(data)))
        assert pq.ParquetFile(io.BytesIO(bytes(data))).metadata.num_row_groups > 10
    assert table.num_rows == BIG_ROWS
    assert table.column("id").to_pylist()[-1] == BIG_ROWS - 1
    in_arrow_mb = table.nbytes / 1e6
    # The whole result is ~90 MB as Arrow (several times that as Python rows); a server
    # that streams holds a batch (Parquet: a row group) at a time.
    assert in_arrow_mb > 80, in_arrow_mb
    assert rss.peak_mb - rss.start_mb < 50, (rss.start_mb, rss.peak_mb)


@pytest.mark.parametrize("fmt", ["arrow", "parquet"])
def test_client_leaving_a_columnar_export_stops_the_query(big_server: LiveServer, fmt: str) -> None:
    endless = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, randomblob(100) FROM c"
    with big_server.client() as http:
        with http.stream(
            "POST", f"/connections/big/export?format={fmt}", json={"sql": endless}
        ) as response:
            assert response.status_code == 200
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > 1_000_000:
                    # Checked before leaving: leaving the loop closes the response.
                    assert http.get("/queries").json() != []
                    break
        # The query never ends by itself, so leaving the list shows the disconnect stopped
        # it; 60 s only bounds how long a loaded machine takes to notice.
        wait_until(lambda: http.get("/queries").json() == [], within_s=60, what="query stopped")


# the CLI and a server without pyarrow --------------------------------------------------


def test_cli_export_writes_arrow_and_parquet_from_the_extension(
    tmp_path: Path, sample_db: Path
) -> None:
    from click.testing import CliRunner

    from connector.cli import main

    runner = CliRunner()
    data = ["--data-dir", str(tmp_path / "data")]
    added = runner.invoke(
        main, [*data, "connections", "add", "s", "--kind", "sqlite", "-o", f"path={sample_db}"]
    )
    assert added.exit_code == 0, added.output
    sql = "SELECT * FROM daily_prices WHERE symbol = 'ABF' ORDER BY date"
    expected = runner.invoke(
        main, [*data, "query", "-c", "s", "-f", "json", "--limit", "5000", sql]
    )
    rows = json.loads(expected.stdout, parse_float=Decimal)["rows"]
    for name, read in (("out.arrow", pa.ipc.open_stream), ("out.parquet", pq.read_table)):
        out = tmp_path / name
        result = runner.invoke(main, [*data, "export", "-c", "s", sql, "-o", str(out)])
        assert result.exit_code == 0, result.output
        table = read(str(out)) if name.endswith("parquet") else read(out.read_bytes()).read_all()
        assert table.num_rows == len(rows) > 0
        assert table.column_names == list(rows[0])


WITHOUT_PYARROW = (
    "import sys; sys.modules['pyarrow'] = None; from connector.cli import main; main()"
)


def test_cli_refuses_a_columnar_export_without_pyarrow_before_running(
    tmp_path: Path, sample_db: Path
) -> None:
    data = ["--data-dir", str(tmp_path / "data")]
    command = [sys.executable, "-c", WITHOUT_PYARROW, *data]
    subprocess.run(
        [*command, "connections", "add", "s", "--kind", "sqlite", "-o", f"path={sample_db}"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    out = tmp_path / "out.parquet"
    result = subprocess.run(
        [*command, "export", "-c", "s", "SELECT * FROM tickers", "-o", str(out)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode != 0
    message = result.stderr.strip()
    assert "data-connector[arrow]" in message and "Traceback" not in message, message
    assert not out.exists() and not (tmp_path / ".out.parquet.part").exists()
    # The query never ran: the history, which records every query that starts, has none.
    history = subprocess.run(
        [*command, "history", "-f", "json"], capture_output=True, text=True, timeout=120
    )
    assert history.returncode == 0, history.stderr
    assert json.loads(history.stdout) == []
    # ...where the same export as NDJSON, which needs no pyarrow, runs and is recorded.
    ndjson = tmp_path / "out.ndjson"
    subprocess.run(
        [*command, "export", "-c", "s", "SELECT * FROM tickers", "-o", str(ndjson)],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip
    history = subprocess.run(
        [*command, "history", "-f", "json"], capture_output=True, text=True, timeout=120
    )
    assert [entry["sql"] for entry in json.loads(history.stdout)] == ["SELECT * FROM tickers"]


def test_server_without_pyarrow_refuses_columnar_formats_in_one_sentence(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)  # Python itself refuses the import
    for fmt in ("arrow", "parquet"):
        answer = client.post(
            f"/connections/sample/export?format={fmt}", json={"sql": "SELECT 1 AS one"}
        )
        detail = assert_error(answer, 400, "bad_param")
        assert "data-connector[arrow]" in detail and f"format={fmt}" in detail
    # Nothing ran: the history has no export.
    assert client.get("/history").json() == []
    ndjson = client.post(
        "/connections/sample/export?format=ndjson", json={"sql": "SELECT 1 AS one"}
    )
    assert ndjson.status_code == 200
    # ...where an export that needs no pyarrow runs and is recorded.
    assert [entry["sql"] for entry in client.get("/history").json()] == ["SELECT 1 AS one"]


def test_openapi_lists_the_columnar_media_types(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    export = document["paths"]["/connections/{name}/export"]["post"]
    content = export["responses"]["200"]["content"]
    assert MEDIA["arrow"] in content and MEDIA["parquet"] in content
    (format_param,) = [p for p in export["parameters"] if p["name"] == "format"]
    assert {"arrow", "parquet"} <= set(format_param["schema"]["enum"])


# the README's example ---------------------------------------------------------------


def test_readme_columnar_example_runs(
    live_server: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    readme = (Path(__file__).parent.parent / "README.md").read_text()
    block = readme.split("<!-- columnar example: run by tests/test_columnar.py -->\n```python\n")[1]
    code = block.split("```")[0]
    server_line = 'server, key = "http://127.0.0.1:7800", "dc_..."  # data-connector key show'
    assert server_line in code
    code = code.replace(server_line, f"server, key = {live_server.url!r}, {live_server.api_key!r}")
    monkeypatch.chdir(tmp_path)
    scope: dict[str, Any] = {}
    exec(compile(code, "README.md", "exec"), scope)
    with live_server.client() as http:
        expected = http.post(
            "/connections/sample/query",
            json={
                "sql": "SELECT * FROM daily_prices WHERE symbol = 'ABF'",
                "limit": 100_000,
            },
        ).json()
    names = [column["name"] for column in expected["columns"]]
    count = len(expected["rows"])
    assert count > 100 and not expected["truncated"]
    assert scope["table"].num_rows == scope["frame"].height == len(scope["prices"]) == count
    assert scope["table"].column_names == scope["frame"].columns == list(scope["prices"]) == names
