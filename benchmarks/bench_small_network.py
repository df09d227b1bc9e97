"""Small queries on MariaDB and PostgreSQL at one connection: the server over HTTP against
the raw driver in process, in one run.

Each request runs ``SELECT * FROM small_prices WHERE symbol = ? LIMIT 50`` (50 rows of
seven columns, read through the primary key) and returns JSON. The raw loop is PyMySQL or
psycopg on one open connection: execute, fetch, ``orjson`` of columns and rows (with the
server's ``json_default``, for dates and decimals). The server is loaded by ``wrk`` with
one connection (``-c1``), so each request waits for the one before, as the raw loop does;
``/health`` at one connection gives what HTTP alone costs, so ``db_share`` compares the
server's own cost per query (request time less ``/health``'s) with the raw loop's. The
three measurements alternate ``--repeat`` times and the best of each is kept. The server
process's CPU time per request (``server_cpu_us_per_request``, least of the runs) is given
too: it moves far less with the machine's load than the rates do.

Run: ``.venv/bin/python -m benchmarks.bench_small_network [--seconds N] [--repeat N]`` with MariaDB on
127.0.0.1:3306 (root, no password) and PostgreSQL on 127.0.0.1:5432 (postgres, trust); the
table goes into the ``dc_bench`` database of each the first time.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

import orjson
import psycopg
import pymysql

from benchmarks.bench_small_queries import run_wrk, wrk_script
from benchmarks.harness import RESULTS, add_connection, start_server
from connector.values import json_default

DATABASE = "dc_bench"
SYMBOLS = [f"S{i:03d}" for i in range(40)]
DAYS = 250
SYMBOL = SYMBOLS[7]
DDL = (
    "CREATE TABLE small_prices (symbol VARCHAR(8) NOT NULL, day DATE NOT NULL, "
    "open DOUBLE PRECISION, high DOUBLE PRECISION, low DOUBLE PRECISION, "
    "close DOUBLE PRECISION, volume BIGINT, PRIMARY KEY (symbol, day))"
)


def rows() -> list[tuple[Any, ...]]:
    start = dt.date(2024, 1, 1)
    return [
        (s, start + dt.timedelta(days=d), 10.0 + d, 11.5 + d, 9.25 + d, 10.5 + d, 1000 * d + i)
        for i, s in enumerate(SYMBOLS)
        for d in range(DAYS)
    ]


def mysql_connect(**extra: Any) -> Any:
    return pymysql.connect(host="127.0.0.1", port=3306, user="root", charset="utf8mb4", **extra)


def pg_connect(dbname: str = DATABASE) -> psycopg.Connection[Any]:
    return psycopg.connect(host="127.0.0.1", port=5432, user="postgres", dbname=dbname)


def make_mysql() -> None:
    connection = mysql_connect(autocommit=True)
    with connection.cursor() as cur:
        cur.execute(f"CREATE DATABASE IF NOT EXISTS {DATABASE}")
        cur.execute(f"USE {DATABASE}")
        cur.execute("SHOW TABLES LIKE 'small_prices'")
        if not cur.fetchone():
            cur.execute(DDL)
            cur.executemany("INSERT INTO small_prices VALUES (%s,%s,%s,%s,%s,%s,%s)", rows())
    connection.close()


def make_pg() -> None:
    with pg_connect("postgres") as admin:
        admin.autocommit = True
        if not admin.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", (DATABASE,)
        ).fetchone():
            admin.execute(f"CREATE DATABASE {DATABASE}")
    with pg_connect() as connection:
        found = connection.execute("SELECT to_regclass('small_prices')").fetchone()
        if not (found and found[0]):
            connection.execute(DDL)
            with connection.cursor() as cur:
                cur.executemany("INSERT INTO small_prices VALUES (%s,%s,%s,%s,%s,%s,%s)", rows())


def raw_rate(execute: Callable[[], tuple[Any, list[Any]]], seconds: float = 3.0) -> float:
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < seconds:
        description, fetched = execute()
        names = [item[0] for item in description]
        orjson.dumps({"columns": names, "rows": fetched}, default=json_default)
        count += 1
    return count / (time.perf_counter() - started)


def raw_mysql() -> float:
    connection = mysql_connect(database=DATABASE)
    cursor = connection.cursor()
    sql = "SELECT * FROM small_prices WHERE symbol = %s LIMIT 50"

    def execute() -> tuple[Any, list[Any]]:
        cursor.execute(sql, (SYMBOL,))
        return cursor.description, list(cursor.fetchall())

    try:
        return raw_rate(execute)
    finally:
        connection.close()


def raw_pg() -> float:
    connection = pg_connect()
    connection.autocommit = True
    cursor = connection.cursor()
    sql = "SELECT * FROM small_prices WHERE symbol = %s LIMIT 50"

    def execute() -> tuple[Any, list[Any]]:
        cursor.execute(sql, (SYMBOL,))
        return cursor.description, cursor.fetchall()

    try:
        return raw_rate(execute)
    finally:
        connection.close()


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return max(runs, key=lambda run: run["requests_per_s"])


def cpu_s(pid: int) -> float:
    """The process's CPU time so far (user and system, all threads), from /proc."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def with_cpu(pid: int, seconds: int, run: Callable[[], dict[str, float]]) -> dict[str, float]:
    """``run()``'s wrk figures plus the server process's CPU time per request: unlike the
    rates, it hardly moves with the machine's load."""
    before = cpu_s(pid)
    result = run()
    used = cpu_s(pid) - before
    result["cpu_us_per_request"] = used / (result["requests_per_s"] * seconds) * 1e6
    return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    make_mysql()
    make_pg()
    options = {
        "mysql": {"host": "127.0.0.1", "port": 3306, "user": "root", "database": DATABASE},
        "postgresql": {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": DATABASE},
    }
    raw = {"mysql": raw_mysql, "postgresql": raw_pg}
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as temp:
        server = start_server(Path(temp) / "data")
        try:
            headers = {"Content-Type": "application/json", "X-API-KEY": server.api_key}
            health = wrk_script(Path(temp) / "health.lua", method="GET", headers={})
            for kind, opts in options.items():
                add_connection(server, {"name": kind, "kind": kind, "options": opts})
                script = wrk_script(
                    Path(temp) / f"{kind}.lua",
                    method="POST",
                    body=json.dumps(
                        {
                            "sql": "SELECT * FROM small_prices WHERE symbol = :s LIMIT 50",
                            "params": {"s": SYMBOL},
                        }
                    ),
                    headers=headers,
                )
                target = f"{server.url}/connections/{kind}/query"
                run_wrk(script, target, 2, 1)  # warm-up: the pool, the statement cache
                # The three measurements alternate, the best of each kept: the machine is
                # shared, and a slow moment should not land on one side only.
                https, floors, rates = [], [], []
                for _ in range(args.repeat):
                    https.append(
                        with_cpu(
                            server.pid,
                            args.seconds,
                            partial(run_wrk, script, target, args.seconds, 1),
                        )
                    )
                    floors.append(
                        with_cpu(
                            server.pid,
                            args.seconds,
                            partial(run_wrk, health, f"{server.url}/health", args.seconds, 1),
                        )
                    )
                    rates.append(raw[kind]())
                http, floor, rate = best(https), best(floors), max(rates)
                own = 1 / (1 / http["requests_per_s"] - 1 / floor["requests_per_s"])
                results[kind] = {
                    "http_requests_per_s": round(http["requests_per_s"]),
                    "http_p99_ms": round(http["p99_ms"], 2),
                    "errors": http["errors"],
                    "health_requests_per_s": round(floor["requests_per_s"]),
                    # Least of the runs: the CPU a request needs, with the least disturbance.
                    "server_cpu_us_per_request": round(
                        min(run["cpu_us_per_request"] for run in https)
                    ),
                    "server_cpu_us_per_health": round(
                        min(run["cpu_us_per_request"] for run in floors)
                    ),
                    "raw_queries_per_s": round(rate),
                    "ratio": round(http["requests_per_s"] / rate, 2),
                    "db_share": round(own / rate, 2),
                    "runs": {
                        "http": [round(run["requests_per_s"]) for run in https],
                        "health": [round(run["requests_per_s"]) for run in floors],
                        "raw": [round(value) for value in rates],
                    },
                }
        finally:
            server.stop()
    result = {
        "name": "network_small_queries",
        "wrk": f"-t1 -c1 -d{args.seconds}s, best of {args.repeat}",
        **results,
        "load_average": round(os.getloadavg()[0], 1),
        "when": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "network_small_queries.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
