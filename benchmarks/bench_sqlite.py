"""Export 1M rows of trades from SQLite over HTTP (NDJSON and CSV), against the raw sqlite3
loop writing arrays (``raw_array_loop``: fetchmany + one orjson array per row).

Run: ``.venv/bin/python -m benchmarks.bench_sqlite [--rows N] [--formats ndjson,csv]``. The
data is generated deterministically into ``benchmarks/data/trades-N.db`` the first time.
"""

from __future__ import annotations

import datetime as dt
import random
import sqlite3
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from benchmarks.harness import ROOT, compare_plans, export_arguments, plan_servers, raw_array_loop
from connector.memory import tune_allocator

SYMBOLS = [f"S{i:03d}" for i in range(200)]
SQL = "SELECT * FROM trades"


def trades(count: int) -> Iterator[tuple[object, ...]]:
    rng = random.Random(7)
    start = dt.datetime(2024, 1, 2, 9, 30)
    for index in range(count):
        yield (
            index + 1,
            (start + dt.timedelta(milliseconds=index * 37)).isoformat(),
            rng.choice(SYMBOLS),
            round(rng.uniform(5, 900), 2),
            rng.randint(1, 5000),
            "B" if rng.random() < 0.5 else "S",
        )


def make_database(path: Path, rows: int) -> Path:
    if path.exists():
        with sqlite3.connect(path) as connection:
            if connection.execute("SELECT count(*) FROM trades").fetchone()[0] == rows:
                return path
        path.unlink()
    path.parent.mkdir(parents=True, exist_ok=True)
    with sqlite3.connect(path) as connection:
        connection.execute(
            "CREATE TABLE trades (id INTEGER PRIMARY KEY, ts TEXT, symbol TEXT, price REAL, "
            "qty INTEGER, side TEXT)"
        )
        connection.executemany("INSERT INTO trades VALUES (?, ?, ?, ?, ?, ?)", trades(rows))
    return path


def raw_seconds(path: Path) -> tuple[int, float]:
    started = time.perf_counter()
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    rows = raw_array_loop(connection.execute(SQL))
    connection.close()
    return rows, time.perf_counter() - started


def main() -> None:
    tune_allocator()  # the server does the same at start; both loops run alike
    args = export_arguments(__doc__)
    database = make_database(ROOT / "data" / f"trades-{args.rows}.db", args.rows)
    with tempfile.TemporaryDirectory() as data_dir:
        servers = plan_servers(Path(data_dir))
        try:
            compare_plans(
                "sqlite_export", servers, {"path": str(database)}, "sqlite", SQL,
                lambda: raw_seconds(database), rows=args.rows, repeat=args.repeat,
                formats=args.formats, baseline="raw_array_loop",
            )  # fmt: skip
        finally:
            for server in servers.values():
                server.stop()


if __name__ == "__main__":
    main()
