"""Export rows from a Snowflake-protocol server (fakesnow's, in a child process) as NDJSON
over HTTP, against the raw snowflake-connector loop doing the same per-row work.

Also, in the same run: Arrow and Parquet exports over HTTP, and in process the connector's
Arrow path (``fetch_arrow_batches()`` into an IPC stream) and pandas path
(``fetch_pandas_batches()``) against its row path (``fetchmany`` + the naive array loop).

Run: ``.venv/bin/python -m benchmarks.bench_snowflake [--rows N]``. fakesnow answers each
query with the whole result in one Arrow response (real Snowflake sends result chunks that
the connector downloads as they are read), so this measures the connector's and the server's
per-row cost over the real protocol, not Snowflake's chunked transfer.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import snowflake.connector

from benchmarks.harness import (
    add_connection,
    compare_export,
    export_arguments,
    http_export,
    raw_array_loop,
    raw_ndjson_loop,
    report,
    start_server,
)
from connector.ports import recommend_port

SQL = "SELECT * FROM TRADES"


def start_fakesnow(log: Path) -> tuple[subprocess.Popen[bytes], int]:
    port = recommend_port(33000)
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "fakesnow", "-s", "--host", "127.0.0.1", "-p", str(port)],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        with socket.socket() as probe:
            if probe.connect_ex(("127.0.0.1", port)) == 0:
                return process, port
        time.sleep(0.1)
    process.kill()
    raise RuntimeError("fakesnow did not listen within 60 s")


def connect(port: int, **extra: Any) -> Any:
    return snowflake.connector.connect(
        user="bench", password="bench", account="bench", host="127.0.0.1", port=port,
        protocol="http", autocommit=True, paramstyle="qmark", **extra,
    )  # fmt: skip


def make_table(port: int, rows: int) -> None:
    """The SQLite benchmark's trade columns, generated in the server."""
    connection = connect(port)
    cursor = connection.cursor()
    for sql in (
        "CREATE DATABASE IF NOT EXISTS BENCH",
        "CREATE SCHEMA IF NOT EXISTS BENCH.PUBLIC",
        "USE SCHEMA BENCH.PUBLIC",
        "CREATE OR REPLACE TABLE TRADES AS SELECT SEQ4() + 1 AS ID, "
        "DATEADD(millisecond, SEQ4() * 37, '2024-01-02 09:30:00'::TIMESTAMP_NTZ) AS TS, "
        "'S' || LPAD(MOD(SEQ4(), 200)::VARCHAR, 3, '0') AS SYMBOL, "
        "(5 + MOD(SEQ4() * 7919, 89500) / 100)::NUMBER(10,2) AS PRICE, "
        "1 + MOD(SEQ4() * 31, 5000) AS QTY, IFF(MOD(SEQ4(), 2) = 0, 'B', 'S') AS SIDE "
        f"FROM TABLE(GENERATOR(ROWCOUNT => {rows}))",
    ):
        cursor.execute(sql)
    connection.close()


def raw_seconds(port: int) -> tuple[int, float]:
    started = time.perf_counter()
    connection = connect(port, database="BENCH", schema="PUBLIC")
    cursor = connection.cursor()
    cursor.execute(SQL)
    rows = raw_ndjson_loop(cursor)
    connection.close()
    return rows, time.perf_counter() - started


def row_path(port: int) -> tuple[int, float]:
    """The connector's row path: ``fetchmany`` (a Python tuple per row) and the naive
    array loop the other exports are measured against."""
    started = time.perf_counter()
    connection = connect(port, database="BENCH", schema="PUBLIC", arrow_number_to_decimal=True)
    cursor = connection.cursor()
    cursor.execute(SQL)
    rows = raw_array_loop(cursor)
    connection.close()
    return rows, time.perf_counter() - started


def arrow_path(port: int) -> tuple[int, float]:
    """The connector's Arrow path: ``fetch_arrow_batches()`` (one pyarrow Table per result
    chunk, no Python object per value) written to an IPC stream, as an export would."""
    import pyarrow as pa

    from benchmarks.bench_columnar import Discard

    started = time.perf_counter()
    connection = connect(port, database="BENCH", schema="PUBLIC", arrow_number_to_decimal=True)
    cursor = connection.cursor()
    cursor.execute(SQL)
    rows = 0
    writer = None
    for table in cursor.fetch_arrow_batches(force_microsecond_precision=True):
        if writer is None:
            writer = pa.ipc.new_stream(Discard(), table.schema)
        writer.write_table(table)
        rows += table.num_rows
    if writer is not None:
        writer.close()
    connection.close()
    return rows, time.perf_counter() - started


def pandas_path(port: int) -> tuple[int, float]:
    """``fetch_pandas_batches()``: one DataFrame per result chunk."""
    started = time.perf_counter()
    connection = connect(port, database="BENCH", schema="PUBLIC", arrow_number_to_decimal=True)
    cursor = connection.cursor()
    cursor.execute(SQL)
    rows = sum(len(frame) for frame in cursor.fetch_pandas_batches())
    connection.close()
    return rows, time.perf_counter() - started


def compare_paths(port: int, rows: int, repeat: int) -> None:
    """The Arrow and pandas paths against the row path, in process, alternating, best of N."""
    runs = {"row": row_path, "arrow": arrow_path, "pandas": pandas_path}
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            got, seconds = run(port)
            if got != rows:
                raise RuntimeError(f"{name}: expected {rows} rows, got {got}")
            best[name] = min(best.get(name, seconds), seconds)
    for name in ("arrow", "pandas"):
        report(
            f"snowflake_fakesnow_{name}_path", rows, best[name], best["row"], 0.0,
            baseline="connector row path (fetchmany + raw_array_loop)", in_process=True,
        )  # fmt: skip


def main() -> None:
    args = export_arguments(__doc__, rows=200_000)
    with tempfile.TemporaryDirectory() as scratch:
        fakesnow, port = start_fakesnow(Path(scratch) / "fakesnow.log")
        server = None
        try:
            make_table(port, args.rows)
            server = start_server(Path(scratch) / "data")
            add_connection(
                server,
                {
                    "name": "bench",
                    "kind": "snowflake",
                    "secret": "bench",
                    "options": {
                        "account": "myorg-bench", "user": "bench", "database": "BENCH",
                        "schema": "PUBLIC", "host": "127.0.0.1", "port": port,
                        "protocol": "http",
                    },
                },
            )  # fmt: skip
            http_export(server, "bench", "SELECT * FROM TRADES LIMIT 1000")  # warm the pool
            compare_export(
                "snowflake_fakesnow_export_ndjson", server, SQL, lambda: raw_seconds(port),
                rows=args.rows, repeat=args.repeat,
                note="fakesnow 0.12 server over HTTP; fakesnow sends the whole result at once",
            )  # fmt: skip
            for fmt in ("arrow", "parquet"):
                http_export(server, "bench", "SELECT * FROM TRADES LIMIT 1000", fmt)
                compare_export(
                    f"snowflake_fakesnow_export_{fmt}", server, SQL, lambda: row_path(port),
                    rows=args.rows, repeat=args.repeat, fmt=fmt,
                    baseline="connector row path (fetchmany + raw_array_loop)",
                )  # fmt: skip
            compare_paths(port, args.rows, args.repeat)
        finally:
            if server is not None:
                server.stop()
            fakesnow.terminate()
            fakesnow.wait(timeout=10)


if __name__ == "__main__":
    main()
