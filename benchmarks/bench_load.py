"""Mixed load on loopback: many concurrent clients for a while, against a real server.

Each client loops over a weighted mix of what analysts and dashboards do at once: small
queries, queries that run past their timeout, whole exports, schema reads, connection lists
and cancels of slow queries (found in ``GET /queries``, stopped with ``DELETE``). Every
answer is checked against the status the contract gives for it; anything else (another
status, a dropped connection, a client-side timeout) counts as unexpected.

Meanwhile a separate process asks ``/health`` every 50 ms on its own connection, so its
latency is the server's, not this load generator's event loop. The server's resident
memory is read after a warm-up (the same mix, shorter) and again after the run.

Goals (issue "trust"): 0 unexpected answers, ``/health`` p99 under 100 ms in every window,
RSS after the run within 20% of RSS after warm-up.

Run: ``.venv/bin/python -m benchmarks.bench_load`` (``--clients 200 --seconds 60``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import random
import sqlite3
import statistics
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import httpx

from benchmarks.harness import RESULTS, Server, add_connection, rss_mb, start_server
from connector.sample import build_sample

SMALL_SQL = "SELECT * FROM tickers WHERE symbol = :s"
# Runs until stopped: a timeout or a cancel ends it in the database.
SLOW_SQL = (
    "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
    "SELECT count(*) AS n /* {tag} */ FROM c"
)
EXPORT_ROWS = 50_000
HEALTH_EVERY_S = 0.05
WINDOW_S = 10.0
# A client gives up on one answer after this long: far beyond any healthy answer here (the
# slowest, a 50k-row export or a cancel round trip, takes well under a few seconds alone),
# so hitting it means the server stalled.
CLIENT_TIMEOUT_S = 60.0

# (action, weight)
MIX: list[tuple[str, int]] = [
    ("small", 55),
    ("connections", 10),
    ("schema", 10),
    ("timeout", 8),
    ("export", 7),
    ("cancel", 5),
    ("history", 5),
]


def make_export_table(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v REAL, s TEXT, d TEXT)")
        db.executemany(
            "INSERT INTO t VALUES (?, ?, ?, ?)",
            ((i, i * 0.5, f"row {i}", "2024-05-01") for i in range(EXPORT_ROWS)),
        )


class Tally:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.unexpected: Counter[str] = Counter()
        self.samples: list[str] = []

    def check(self, action: str, status: int | str, expected: set[int]) -> None:
        self.counts[action] += 1
        if status not in expected:
            key = f"{action}:{status}"
            self.unexpected[key] += 1
            if len(self.samples) < 20:
                self.samples.append(key)


async def run_clients(
    url: str, key: str, symbols: list[str], clients: int, seconds: float, seed: int
) -> Tally:
    tally = Tally()
    # A kept-alive connection is let go after 2 s idle: uvicorn closes its own after 5 s,
    # and a client reusing one at that moment (httpx's default is also 5 s) gets a
    # ReadError that says nothing about the server.
    limits = httpx.Limits(
        max_connections=clients + 8, max_keepalive_connections=clients + 8, keepalive_expiry=2.0
    )
    headers = {"X-API-KEY": key}
    actions = [name for name, _ in MIX]
    weights = [weight for _, weight in MIX]
    deadline = time.monotonic() + seconds
    async with httpx.AsyncClient(
        base_url=url, headers=headers, limits=limits, timeout=CLIENT_TIMEOUT_S
    ) as http:

        async def small(rng: random.Random) -> None:
            body = {"sql": SMALL_SQL, "params": {"s": rng.choice(symbols)}}
            answer = await http.post("/connections/sample/query", json=body)
            tally.check("small", answer.status_code, {200})

        async def timeout(rng: random.Random) -> None:
            body = {"sql": SLOW_SQL.format(tag="timeout"), "timeout_s": 0.5}
            answer = await http.post("/connections/sample/query", json=body)
            tally.check("timeout", answer.status_code, {504})

        async def export(rng: random.Random) -> None:
            body = {"sql": "SELECT * FROM t"}
            lines = 0
            async with http.stream("POST", "/connections/big/export", json=body) as answer:
                async for chunk in answer.aiter_bytes():
                    lines += chunk.count(b"\n")
            status = answer.status_code if lines == EXPORT_ROWS else f"{lines}-lines"
            tally.check("export", status, {200})

        async def schema(rng: random.Random) -> None:
            answer = await http.get("/connections/sample/schema")
            tally.check("schema", answer.status_code, {200})

        async def connections(rng: random.Random) -> None:
            answer = await http.get("/connections")
            tally.check("connections", answer.status_code, {200})

        async def history(rng: random.Random) -> None:
            answer = await http.get("/history", params={"limit": 20})
            tally.check("history", answer.status_code, {200})

        async def cancel(rng: random.Random) -> None:
            tag = f"cancel-{rng.getrandbits(48):x}"
            body = {"sql": SLOW_SQL.format(tag=tag), "timeout_s": 30}
            running = asyncio.create_task(http.post("/connections/sample/query", json=body))
            query_id = None
            while query_id is None and not running.done():
                listed = await http.get("/queries")
                tally.check("cancel-list", listed.status_code, {200})
                for item in listed.json() if listed.status_code == 200 else []:
                    if tag in item.get("sql", ""):
                        query_id = item["query_id"]
                if query_id is None:
                    await asyncio.sleep(0.05)
            if query_id is not None:
                stopped = await http.delete(f"/queries/{query_id}")
                tally.check("cancel-delete", stopped.status_code, {204})
            answer = await running
            tally.check("cancel", answer.status_code, {409, 499})

        work: dict[str, Callable[[random.Random], Awaitable[None]]] = {
            "small": small,
            "timeout": timeout,
            "export": export,
            "schema": schema,
            "connections": connections,
            "history": history,
            "cancel": cancel,
        }

        async def client(number: int) -> None:
            rng = random.Random(seed * 1000 + number)
            while time.monotonic() < deadline:
                action = rng.choices(actions, weights)[0]
                try:
                    await work[action](rng)
                except httpx.HTTPError as exc:
                    tally.check(action, type(exc).__name__, set())

        await asyncio.gather(*(client(n) for n in range(clients)))
    return tally


def load_process(
    url: str, key: str, symbols: list[str], clients: int, seconds: float, seed: int, out: Any
) -> None:
    tally = asyncio.run(run_clients(url, key, symbols, clients, seconds, seed))
    out.put(
        {
            "counts": dict(tally.counts),
            "unexpected": dict(tally.unexpected),
            "samples": tally.samples,
        }
    )


def health_process(url: str, seconds: float, out: Any) -> None:
    """(seconds since start, latency ms) of /health every 50 ms, one keep-alive connection."""
    samples: list[tuple[float, float]] = []
    failures = 0
    started = time.monotonic()
    limits = httpx.Limits(keepalive_expiry=2.0)  # see run_clients
    with httpx.Client(base_url=url, timeout=CLIENT_TIMEOUT_S, limits=limits) as http:
        while (now := time.monotonic()) - started < seconds:
            try:
                answer = http.get("/health")
                if answer.status_code != 200:
                    failures += 1
            except httpx.HTTPError:
                failures += 1
            done = time.monotonic()
            samples.append((now - started, (done - now) * 1000))
            time.sleep(max(0.0, HEALTH_EVERY_S - (done - now)))
    out.put({"samples": samples, "failures": failures})


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def run_mix(
    server: Server, symbols: list[str], clients: int, seconds: float, seed: int
) -> tuple[dict[str, Any], dict[str, Any]]:
    context = multiprocessing.get_context("spawn")
    loads: Any = context.Queue()
    healths: Any = context.Queue()
    load = context.Process(
        target=load_process,
        args=(server.url, server.api_key, symbols, clients, seconds, seed, loads),
    )
    health = context.Process(target=health_process, args=(server.url, seconds, healths))
    load.start()
    health.start()
    load_result = loads.get()
    health_result = healths.get()
    load.join()
    health.join()
    return load_result, health_result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--warmup", type=float, default=15.0)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as temp:
        data_dir = Path(temp) / "data"
        sample = build_sample(data_dir / "sample.db")
        big = Path(temp) / "big.db"
        make_export_table(big)
        with sqlite3.connect(sample) as db:
            symbols = [row[0] for row in db.execute("SELECT DISTINCT symbol FROM tickers")]
        server = start_server(data_dir)
        try:
            add_connection(
                server, {"name": "sample", "kind": "sqlite", "options": {"path": str(sample)}}
            )
            add_connection(server, {"name": "big", "kind": "sqlite", "options": {"path": str(big)}})
            idle_mb = rss_mb(server.pid)
            warm_load, _ = run_mix(server, symbols, args.clients, args.warmup, args.seed + 1)
            time.sleep(2)  # let the last answers' buffers go before reading memory
            warm_mb = rss_mb(server.pid)
            load_result, health_result = run_mix(
                server, symbols, args.clients, args.seconds, args.seed
            )
            time.sleep(2)
            after_mb = rss_mb(server.pid)
        finally:
            server.stop()
    samples = health_result["samples"]
    windows = []
    start = 0.0
    while start < args.seconds:
        inside = [ms for at, ms in samples if start <= at < start + WINDOW_S]
        if inside:
            windows.append(
                {"from_s": start, "n": len(inside), "p99_ms": round(percentile(inside, 0.99), 1)}
            )
        start += WINDOW_S
    latencies = [ms for _, ms in samples]
    result = {
        "clients": args.clients,
        "seconds": args.seconds,
        "answers": load_result["counts"],
        "answers_total": sum(load_result["counts"].values()),
        "unexpected": load_result["unexpected"],
        "unexpected_samples": load_result["samples"],
        "warmup_unexpected": warm_load["unexpected"],
        "health": {
            "n": len(latencies),
            "failures": health_result["failures"],
            "p50_ms": round(statistics.median(latencies), 1),
            "p99_ms": round(percentile(latencies, 0.99), 1),
            "max_ms": round(max(latencies), 1),
            "windows": windows,
        },
        "rss_mb": {
            "idle": round(idle_mb, 1),
            "after_warmup": round(warm_mb, 1),
            "after_run": round(after_mb, 1),
            "growth_pct": round(100 * (after_mb - warm_mb) / warm_mb, 1),
        },
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "load.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
