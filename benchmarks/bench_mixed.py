"""A 1M-row SQLite export alone, then while slow queries fill the user pool and small
queries and ``/health`` probes run, on one real server: how much the export slows, and
what the small queries and ``/health`` see meanwhile (issue 13 point 5).

Run: ``.venv/bin/python -m benchmarks.bench_mixed [--rows N] [--slow N] [--small N]``.
The data is ``bench_sqlite``'s trades file (made the first time).
"""

from __future__ import annotations

import argparse
import tempfile
import threading
import time
from pathlib import Path

import httpx

from benchmarks.bench_sqlite import make_database
from benchmarks.harness import ROOT, Server, add_connection, http_export, report, start_server

SLOW = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
SMALL = "SELECT * FROM trades WHERE symbol = 'S042' LIMIT 50"


class Load:
    """``slow`` clients re-posting a query that runs to its timeout, ``small`` clients
    posting small queries, and one ``/health`` prober, until stopped."""

    def __init__(self, server: Server, slow: int, small: int) -> None:
        self.server = server
        self.stop = threading.Event()
        self.small_latencies: list[float] = []
        self.health_latencies: list[float] = []
        self.errors: list[str] = []
        self.threads = [threading.Thread(target=self._slow) for _ in range(slow)]
        self.threads += [threading.Thread(target=self._small) for _ in range(small)]
        self.threads.append(threading.Thread(target=self._health))

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join()

    def _client(self) -> httpx.Client:
        return httpx.Client(base_url=self.server.url, headers=self.server.headers(), timeout=120)

    def _slow(self) -> None:
        with self._client() as client:
            while not self.stop.is_set():
                answer = client.post(
                    "/connections/trades/query", json={"sql": SLOW, "timeout_s": 5}
                )
                if answer.status_code != 504:
                    self.errors.append(f"slow {answer.status_code}")

    def _small(self) -> None:
        with self._client() as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                answer = client.post("/connections/trades/query", json={"sql": SMALL})
                self.small_latencies.append(time.perf_counter() - started)
                if answer.status_code != 200:
                    self.errors.append(f"small {answer.status_code}")

    def _health(self) -> None:
        with self._client() as client:
            while not self.stop.is_set():
                started = time.perf_counter()
                client.get("/health").raise_for_status()
                self.health_latencies.append(time.perf_counter() - started)
                self.stop.wait(0.02)


def p99_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[int(len(ordered) * 0.99)] * 1000, 1) if ordered else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slow", type=int, default=8, help="clients running slow queries")
    parser.add_argument("--small", type=int, default=4, help="clients running small queries")
    args = parser.parse_args()
    path = make_database(ROOT / "data" / f"trades-{args.rows}.db", args.rows)
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder) / "data")
        try:
            add_connection(
                server,
                {"name": "trades", "kind": "sqlite", "options": {"path": str(path)}},
            )
            http_export(server, "trades", "SELECT * FROM trades")  # warm-up
            alone = min(http_export(server, "trades", "SELECT * FROM trades")[1] for _ in range(3))
            with Load(server, args.slow, args.small) as load:
                time.sleep(2)  # every slow client has a query running
                small_before = len(load.small_latencies)
                rows, loaded = http_export(server, "trades", "SELECT * FROM trades")
                small_during = (len(load.small_latencies) - small_before) / loaded
            report(
                "mixed_sqlite_export",
                rows,
                loaded,
                alone,
                0.0,
                export_alone_s=round(alone, 2),
                export_under_load_s=round(loaded, 2),
                slowdown=round(loaded / alone, 2),
                slow_clients=args.slow,
                small_clients=args.small,
                small_queries=len(load.small_latencies),
                small_p99_ms=p99_ms(load.small_latencies),
                health_p99_ms=p99_ms(load.health_latencies),
                errors=len(load.errors),
                small_per_s_during_export=round(small_during, 1),
            )
        finally:
            server.stop()


if __name__ == "__main__":
    main()
