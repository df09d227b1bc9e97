"""Export 1M rows of trades from PostgreSQL over HTTP (NDJSON and CSV, with and without
``COPY``), against the raw psycopg loop writing arrays (a named, server-side cursor, as
the server's export uses; ``raw_array_loop``).

Run: ``.venv/bin/python -m benchmarks.bench_postgresql [--rows N] [--formats ndjson,csv]`` with PostgreSQL on
127.0.0.1:5432 (user postgres, trust). The rows, the same as the SQLite benchmark's, are
generated deterministically into the ``dc_bench`` database the first time.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

import psycopg

from benchmarks.bench_sqlite import SQL, trades
from benchmarks.harness import compare_plans, export_arguments, plan_servers, raw_array_loop
from connector.memory import tune_allocator

HOST, PORT, DATABASE = "127.0.0.1", 5432, "dc_bench"


def connect(dbname: str = DATABASE, **extra: Any) -> psycopg.Connection[Any]:
    return psycopg.connect(host=HOST, port=PORT, user="postgres", dbname=dbname, **extra)


def make_table(rows: int) -> None:
    with connect("postgres", autocommit=True) as admin:
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone():
            admin.execute(f"CREATE DATABASE {DATABASE}")
    with connect() as connection:
        exists = connection.execute("SELECT to_regclass('trades')").fetchone()
        if exists and exists[0]:
            count = connection.execute("SELECT count(*) FROM trades").fetchone()
            if count and count[0] == rows:
                return
            connection.execute("DROP TABLE trades")
        connection.execute(
            "CREATE TABLE trades (id bigint PRIMARY KEY, ts timestamp(3), symbol varchar(8), "
            "price double precision, qty int, side char(1))"
        )
        with connection.cursor().copy(
            "COPY trades (id, ts, symbol, price, qty, side) FROM STDIN"
        ) as copy:
            for row in trades(rows):
                copy.write_row(row)
    # A table read for the first time has its rows' hint bits set by that read (a write
    # per page): the first run each way would pay for it. VACUUM sets them once, here.
    with connect(autocommit=True) as connection:
        connection.execute("VACUUM ANALYZE trades")


def raw_seconds() -> tuple[int, float]:
    started = time.perf_counter()
    with connect() as connection:
        cursor = connection.cursor(name="raw_bench")
        cursor.execute(SQL)
        rows = raw_array_loop(cursor)
        cursor.close()
    return rows, time.perf_counter() - started


def main() -> None:
    tune_allocator()
    args = export_arguments(__doc__)
    make_table(args.rows)
    with connect() as connection:
        version = connection.execute("SHOW server_version").fetchone()
    options = {"host": HOST, "port": PORT, "user": "postgres", "database": DATABASE}
    with tempfile.TemporaryDirectory() as data_dir:
        servers = plan_servers(Path(data_dir))
        try:
            compare_plans(
                "postgresql_export", servers, options, "postgresql", SQL, raw_seconds,
                rows=args.rows, repeat=args.repeat, formats=args.formats,
                baseline="raw_array_loop", server_version=str(version[0] if version else ""),
            )  # fmt: skip
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
