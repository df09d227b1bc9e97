"""Export 1M rows of trades from MariaDB/MySQL as NDJSON over HTTP, from a server where MariaDB
writes the JSON itself (``mysql_native``) and one with plans off, against the raw PyMySQL
loop writing one orjson array per row (``raw_array_loop``, on the unbuffered ``SSCursor``
the server's export uses too).

Run: ``.venv/bin/python -m benchmarks.bench_mysql [--rows N]`` with MariaDB on
127.0.0.1:3306 (root, no password). The rows, the same as the SQLite benchmark's, are
generated deterministically into the ``dc_bench`` database the first time.
"""

from __future__ import annotations

import itertools
import tempfile
import time
from pathlib import Path
from typing import Any

import pymysql
import pymysql.cursors

from benchmarks.bench_sqlite import SQL, trades
from benchmarks.harness import compare_plans, export_arguments, plan_servers, raw_array_loop
from connector.memory import tune_allocator

HOST, PORT, DATABASE = "127.0.0.1", 3306, "dc_bench"


def connect(**extra: Any) -> Any:
    return pymysql.connect(host=HOST, port=PORT, user="root", charset="utf8mb4", **extra)


def make_table(rows: int) -> None:
    connection = connect(autocommit=True)
    with connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        cur.execute(f"USE {DATABASE}")
        cur.execute("SHOW TABLES LIKE 'trades'")
        if cur.fetchone():
            cur.execute("SELECT COUNT(*) FROM trades")
            if cur.fetchone()[0] == rows:
                return
            cur.execute("DROP TABLE trades")
        cur.execute(
            "CREATE TABLE trades (id BIGINT PRIMARY KEY, ts DATETIME(3), symbol VARCHAR(8), "
            "price DOUBLE, qty INT, side CHAR(1))"
        )
        source = trades(rows)
        while chunk := list(itertools.islice(source, 10_000)):
            cur.executemany("INSERT INTO trades VALUES (%s, %s, %s, %s, %s, %s)", chunk)
    connection.close()


def raw_seconds() -> tuple[int, float]:
    started = time.perf_counter()
    connection = connect(database=DATABASE)
    cursor = connection.cursor(pymysql.cursors.SSCursor)
    cursor.execute(SQL)
    rows = raw_array_loop(cursor)
    cursor.close()
    connection.close()
    return rows, time.perf_counter() - started


def main() -> None:
    tune_allocator()
    args = export_arguments(__doc__)
    make_table(args.rows)
    options = {"host": HOST, "port": PORT, "user": "root", "database": DATABASE}
    with tempfile.TemporaryDirectory() as data_dir:
        servers = plan_servers(Path(data_dir))
        try:
            compare_plans(
                "mysql_export", servers, options, "mysql", SQL, raw_seconds,
                rows=args.rows, repeat=args.repeat, formats="ndjson",
                baseline="raw_array_loop", server_version=str(connect().get_server_info()),
            )  # fmt: skip
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
