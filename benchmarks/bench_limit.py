"""``/query`` with ``"limit": 50`` on a 1,000,000-row table and on a 10,000-row one, on
SQLite, MariaDB and PostgreSQL: time and server memory should not depend on the table's
size (the database produces ``limit + 1`` rows, whatever the table holds).

Run: ``.venv/bin/python -m benchmarks.bench_limit [--repeat N] [--kinds sqlite,mysql,...]``.
Uses the export benchmarks' tables (made the first time: ``benchmarks/data/`` for SQLite,
``dc_bench`` on MariaDB and PostgreSQL) plus a 10,000-row copy, ``trades_10k``.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from benchmarks import bench_mysql, bench_postgresql
from benchmarks.bench_sqlite import make_database
from benchmarks.harness import RESULTS, ROOT, RssSampler, Server, add_connection, start_server

ROWS = 1_000_000
SMALL = 10_000
LIMIT = 50


def _sqlite_options() -> dict[str, Any]:
    path = make_database(ROOT / "data" / f"trades-{ROWS}.db", ROWS)
    with sqlite3.connect(path) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS trades_10k AS SELECT * FROM trades WHERE id <= {SMALL}"
        )
    return {"path": str(path)}


def _mysql_options() -> dict[str, Any]:
    bench_mysql.make_table(ROWS)
    connection = bench_mysql.connect(autocommit=True, database=bench_mysql.DATABASE)
    with connection.cursor() as cur:
        cur.execute(
            f"CREATE TABLE IF NOT EXISTS trades_10k AS SELECT * FROM trades WHERE id <= {SMALL}"
        )
    connection.close()
    return {"host": bench_mysql.HOST, "port": bench_mysql.PORT, "user": "root",
            "database": bench_mysql.DATABASE}  # fmt: skip


def _postgresql_options() -> dict[str, Any]:
    bench_postgresql.make_table(ROWS)
    with bench_postgresql.connect(autocommit=True) as connection:
        connection.execute(
            f"CREATE TABLE IF NOT EXISTS trades_10k AS SELECT * FROM trades WHERE id <= {SMALL}"
        )
    return {"host": bench_postgresql.HOST, "port": bench_postgresql.PORT, "user": "postgres",
            "database": bench_postgresql.DATABASE}  # fmt: skip


KINDS = {"sqlite": _sqlite_options, "mysql": _mysql_options, "postgresql": _postgresql_options}


def _timed(server: Server, name: str, table: str, repeat: int) -> tuple[float, float]:
    """Median seconds of ``repeat`` requests, and the server's RSS growth (MB) over them."""
    body = {"sql": f"SELECT * FROM {table}", "limit": LIMIT}
    url = f"{server.url}/connections/{name}/query"
    times = []
    with (
        httpx.Client(headers=server.headers(), timeout=120) as client,
        RssSampler(server.pid) as rss,
    ):
        for _ in range(repeat):
            started = time.perf_counter()
            response = client.post(url, json=body)
            times.append(time.perf_counter() - started)
            response.raise_for_status()
            assert response.json()["row_count"] == LIMIT
    return statistics.median(times), rss.peak_mb - rss.start_mb


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--kinds", default=",".join(KINDS))
    args = parser.parse_args()
    results = []
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir))
        try:
            for kind in args.kinds.split(","):
                add_connection(server, {"name": kind, "kind": kind, "options": KINDS[kind]()})
                _timed(server, kind, "trades_10k", 2)  # warm the pool
                # Alternate the two tables; each keeps its best median.
                small: list[tuple[float, float]] = []
                big: list[tuple[float, float]] = []
                for _ in range(3):
                    small.append(_timed(server, kind, "trades_10k", args.repeat))
                    big.append(_timed(server, kind, "trades", args.repeat))
                result = {
                    "kind": kind,
                    "limit": LIMIT,
                    f"ms_{SMALL}_rows": round(min(s for s, _ in small) * 1000, 2),
                    f"ms_{ROWS}_rows": round(min(s for s, _ in big) * 1000, 2),
                    f"rss_growth_mb_{SMALL}_rows": round(max(m for _, m in small), 1),
                    f"rss_growth_mb_{ROWS}_rows": round(max(m for _, m in big), 1),
                }
                print(json.dumps(result), flush=True)
                results.append(result)
        finally:
            server.stop()
    RESULTS.mkdir(exist_ok=True)
    stamp = {"when": time.strftime("%Y-%m-%d"), "results": results}
    (RESULTS / "query_limit.json").write_text(json.dumps(stamp, indent=2) + "\n")


if __name__ == "__main__":
    main()
