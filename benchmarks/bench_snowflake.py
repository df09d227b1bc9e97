"""Export rows from a Snowflake-protocol server (fakesnow's, in a child process) as NDJSON
over HTTP, against the raw snowflake-connector loop doing the same per-row work.

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
    raw_ndjson_loop,
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
        finally:
            if server is not None:
                server.stop()
            fakesnow.terminate()
            fakesnow.wait(timeout=10)


if __name__ == "__main__":
    main()
