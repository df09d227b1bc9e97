"""Export rows from a Snowflake-protocol server (fakesnow's, in a child process) as NDJSON
over HTTP, against the raw snowflake-connector loop doing the same per-row work.

Run: ``.venv/bin/python -m benchmarks.bench_snowflake [--rows N]``. fakesnow answers each
query with the whole result in one Arrow response (real Snowflake sends result chunks that
the connector downloads as they are read), so this measures the connector's and the server's
per-row cost over the real protocol, not Snowflake's chunked transfer.
"""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import orjson
import snowflake.connector

from benchmarks.harness import (
    RssSampler,
    add_connection,
    http_export,
    report,
    start_server,
)
from connector.ports import recommend_port
from connector.values import json_default

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


def raw_ndjson_loop(cursor: Any, batch: int = 5000) -> int:
    """``harness.raw_ndjson_loop`` with the server's ``json_default``: NUMBER(p,s) columns
    arrive as ``Decimal``, which orjson does not write by itself."""
    keys = [item[0] for item in cursor.description]
    rows = 0
    while chunk := cursor.fetchmany(batch):
        data = b"".join(
            [
                orjson.dumps(
                    dict(zip(keys, row, strict=True)),
                    default=json_default,
                    option=orjson.OPT_APPEND_NEWLINE,
                )
                for row in chunk
            ]
        )
        rows += len(chunk)
        del data
    return rows


def raw_seconds(port: int) -> tuple[int, float]:
    started = time.perf_counter()
    connection = connect(port, database="BENCH", schema="PUBLIC")
    cursor = connection.cursor()
    cursor.execute(SQL)
    rows = raw_ndjson_loop(cursor)
    connection.close()
    return rows, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
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
            raw = min((raw_seconds(port) for _ in range(args.repeat)), key=lambda r: r[1])
            best = (0, float("inf"))
            peak = start = 0.0
            for _ in range(args.repeat):
                with RssSampler(server.pid) as rss:
                    result = http_export(server, "bench", SQL)
                peak, start = max(peak, rss.peak_mb), start or rss.start_mb
                best = min(best, result, key=lambda r: r[1])
            assert best[0] == raw[0] == args.rows, (best, raw)
            report(
                "snowflake_fakesnow_export_ndjson",
                args.rows,
                best[1],
                raw[1],
                peak,
                server_start_rss_mb=round(start, 1),
                note="fakesnow 0.12 server over HTTP; best of "
                f"{args.repeat} each way; fakesnow sends the whole result at once",
            )
        finally:
            if server is not None:
                server.stop()
            fakesnow.terminate()
            fakesnow.wait(timeout=10)


if __name__ == "__main__":
    main()
