"""A 1M-row SQLite export alone, then while slow queries fill the user pool and small
queries and ``/health`` probes run, on a real server: how much the export slows, and
what the small queries and ``/health`` see meanwhile (issue 13 point 5).

Two servers in one run, alternating ``--repeat`` times, each keeping its best: one with
demotion off (``CONNECTOR_DEMOTE_AFTER_S=0``, ``_no_demotion``) and one with the default
(a user query past 1 s has its thread's nice value raised: ``connector.priority``).
During the loaded export the server's threads are sampled from ``/proc`` (Linux), and
the CPU they used is reported by nice value: what the demoted threads got, and what the
rest (the export's producer, the event loop) got.

Run: ``.venv/bin/python -m benchmarks.bench_mixed [--rows N] [--slow N] [--small N]
[--repeat N]``. The data is ``bench_sqlite``'s trades file (made the first time).
"""

from __future__ import annotations

import argparse
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

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


class ThreadCpu:
    """The CPU a process's threads use while it runs, summed by the nice value each had
    when it used it (``/proc/<pid>/task/*/stat``, sampled every 20 ms, so threads that
    come and go count, and a thread demoted meanwhile counts on both sides)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.cpu: dict[int, int] = {}
        self.ticks: dict[int, int] = {}
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.started = 0.0
        self.seconds = 0.0

    def __enter__(self) -> ThreadCpu:
        self._sample(initial=True)
        self.started = time.perf_counter()
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join()
        self._sample()
        self.seconds = time.perf_counter() - self.started

    def cores_by_nice(self) -> dict[str, float]:
        per_s = os.sysconf("SC_CLK_TCK") * max(self.seconds, 1e-9)
        return {f"nice_{nice}": round(t / per_s, 2) for nice, t in sorted(self.ticks.items())}

    def _run(self) -> None:
        while not self.stop.wait(0.02):
            self._sample()

    def _sample(self, initial: bool = False) -> None:
        folder = Path(f"/proc/{self.pid}/task")
        for task in folder.iterdir() if folder.exists() else ():
            try:
                stat = (task / "stat").read_text()
            except OSError:  # the thread ended meanwhile
                continue
            fields = stat[stat.rindex(")") + 2 :].split()
            tid, cpu, nice = int(task.name), int(fields[11]) + int(fields[12]), int(fields[16])
            if not initial:
                self.ticks[nice] = self.ticks.get(nice, 0) + cpu - self.cpu.get(tid, 0)
            self.cpu[tid] = cpu


def p99_ms(values: list[float]) -> float:
    ordered = sorted(values)
    return round(ordered[int(len(ordered) * 0.99)] * 1000, 1) if ordered else 0.0


def measure(path: Path, args: argparse.Namespace, env: dict[str, str]) -> dict[str, Any]:
    """One server: the export alone (best of 3), then once under the load."""
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder) / "data", env=env)
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
                with ThreadCpu(server.pid) as cpu:
                    rows, loaded = http_export(server, "trades", "SELECT * FROM trades")
                small_during = (len(load.small_latencies) - small_before) / loaded
        finally:
            server.stop()
    return {
        "rows": rows,
        "alone": alone,
        "loaded": loaded,
        "server_cores_during_export": cpu.cores_by_nice(),
        "small_queries": len(load.small_latencies),
        "small_p99_ms": p99_ms(load.small_latencies),
        "health_p99_ms": p99_ms(load.health_latencies),
        "errors": len(load.errors),
        "small_per_s_during_export": round(small_during, 1),
    }


SIDES = {
    "mixed_sqlite_export_no_demotion": {"CONNECTOR_DEMOTE_AFTER_S": "0"},
    "mixed_sqlite_export": {},
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--slow", type=int, default=8, help="clients running slow queries")
    parser.add_argument("--small", type=int, default=4, help="clients running small queries")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each server, alternating")
    args = parser.parse_args()
    path = make_database(ROOT / "data" / f"trades-{args.rows}.db", args.rows)
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in SIDES}
    for _ in range(args.repeat):
        for name, env in SIDES.items():
            runs[name].append(measure(path, args, env))
    for name, results in runs.items():
        alone = min(r["alone"] for r in results)
        best = min(results, key=lambda r: r["loaded"])
        report(
            name,
            best["rows"],
            best["loaded"],
            alone,
            0.0,
            export_alone_s=round(alone, 2),
            export_under_load_s=round(best["loaded"], 2),
            slowdown=round(best["loaded"] / alone, 2),
            every_run=[
                {
                    "alone_s": round(r["alone"], 2),
                    "loaded_s": round(r["loaded"], 2),
                    "server_cores": r["server_cores_during_export"],
                }
                for r in results
            ],
            slow_clients=args.slow,
            small_clients=args.small,
            **{k: v for k, v in best.items() if k not in ("rows", "alone", "loaded")},
        )


if __name__ == "__main__":
    main()
