"""What a query's log line costs, per format and destination, beside a raw sqlite3 one-row
query in the same run (for scale). Each case logs the line ``Connector`` writes for every
query, through ``connector.logs``'s configuration, with stderr sent to /dev/null.

Run: ``.venv/bin/python -m benchmarks.bench_logging``.
"""

from __future__ import annotations

import json
import logging
import os
import sqlite3
import tempfile
import time
from pathlib import Path

from benchmarks.harness import RESULTS
from connector.config import Settings
from connector.logs import configure_logging

LINES = 20_000
FIELDS = {
    "query_id": "q_0123456789abcdef",
    "connection": "sample",
    "duration_ms": 1.23,
    "rows": 3,
    "outcome": "ok",
    "caller": "api_key",
    "client": "127.0.0.1",
}


def per_line_us(settings: Settings) -> float:
    configure_logging(settings)
    for handler in logging.getLogger().handlers:
        if type(handler) is logging.StreamHandler:
            handler.setStream(open(os.devnull, "w"))  # noqa: SIM115 - for the process
    log = logging.getLogger("connector.service")
    best = float("inf")
    for _ in range(3):  # other work on the machine only ever slows a run: keep the best
        started = time.perf_counter()
        for _ in range(LINES):
            log.info("query %s on %s: %s", "q_0123456789abcdef", "sample", "ok", extra=FIELDS)
        best = min(best, (time.perf_counter() - started) / LINES * 1e6)
    return best


def raw_query_us() -> float:
    connection = sqlite3.connect(":memory:")
    connection.execute("CREATE TABLE t (symbol TEXT PRIMARY KEY, close REAL)")
    connection.executemany("INSERT INTO t VALUES (?, ?)", [(f"S{i}", i) for i in range(1000)])
    started = time.perf_counter()
    for i in range(LINES):
        connection.execute("SELECT * FROM t WHERE symbol = ?", (f"S{i % 1000}",)).fetchall()
    return (time.perf_counter() - started) / LINES * 1e6


def main() -> None:
    with tempfile.TemporaryDirectory() as temp:
        folder = Path(temp)
        result: dict[str, object] = {"name": "logging", "raw_sqlite_query_us": 0.0}
        for fmt in ("text", "json"):
            for to_file in (False, True):
                settings = Settings(
                    data_dir=folder,
                    log_format=fmt,  # type: ignore[arg-type]
                    log_file=folder / f"{fmt}.log" if to_file else None,
                )
                result[f"{fmt}{'_file' if to_file else ''}_us"] = round(per_line_us(settings), 1)
        result["raw_sqlite_query_us"] = round(raw_query_us(), 1)
        result["when"] = time.strftime("%Y-%m-%d")
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "logging.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
