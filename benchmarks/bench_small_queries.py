"""Small queries over HTTP: the connector against Datasette on the same SQLite file, in one run.

Each request runs ``SELECT * FROM daily_prices WHERE symbol = :s LIMIT 50`` (50 rows of
seven columns) on the sample database and returns JSON: ``POST /connections/sample/query``
on the connector, ``GET /sample.json?sql=...&s=...`` on Datasette (opened immutable, its
fastest mode, default settings). The load is ``wrk`` (Debian package ``wrk``), one thread
and 16 connections; the two servers alternate ``--repeat`` times and each keeps its best
run (other work on the machine only ever slows a run). The raw ``sqlite3`` loop (execute,
fetch, orjson, one thread, in process) is there for scale.

Needs the ``bench`` extra (Datasette): ``pip install -e ".[bench]"``. Run:
``.venv/bin/python -m benchmarks.bench_small_queries [--seconds N] [--repeat N]``.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import urllib.parse
from pathlib import Path

import httpx
import orjson

from benchmarks.harness import RESULTS, RssSampler, add_connection, start_server, wait_until
from connector.ports import recommend_port
from connector.sample import build_sample

SQL = "SELECT * FROM daily_prices WHERE symbol = :s LIMIT 50"
CONNECTIONS = 16


def raw_per_second(path: Path, symbol: str) -> float:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 3:
        cursor = connection.execute(SQL, {"s": symbol})
        names = [item[0] for item in cursor.description]
        rows = cursor.fetchmany(51)
        orjson.dumps({"columns": names, "rows": rows})
        count += 1
    return count / (time.perf_counter() - started)


def _seconds(text: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0}[unit]


def run_wrk(
    script: Path, target: str, seconds: int, connections: int = CONNECTIONS
) -> dict[str, float]:
    """One wrk run: requests/s, p50 and p99 latency in ms, non-2xx count."""
    output = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", "-s", str(script), target],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip
    found = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if found is None:
        raise RuntimeError(f"wrk printed no rate:\n{output}")
    p50 = re.search(r"\s50%\s+(\S+)", output)
    p99 = re.search(r"\s99%\s+(\S+)", output)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    errors = re.search(r"Socket errors: .*", output)
    return {
        "requests_per_s": float(found.group(1)),
        "p50_ms": _seconds(p50.group(1)) * 1000 if p50 else float("nan"),
        "p99_ms": _seconds(p99.group(1)) * 1000 if p99 else float("nan"),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "socket_errors": bool(errors),
    }


def wrk_script(path: Path, *, method: str, body: str = "", headers: dict[str, str]) -> Path:
    lines = [f'wrk.method = "{method}"']
    if body:
        lines.append(f"wrk.body = {json.dumps(body)}")
    lines += [f'wrk.headers["{name}"] = "{value}"' for name, value in headers.items()]
    path.write_text("\n".join(lines) + "\n")
    return path


def start_datasette(path: Path) -> tuple[subprocess.Popen[bytes], str]:
    datasette = Path(sys.executable).with_name("datasette")
    if not datasette.exists():
        raise SystemExit('needs Datasette: pip install -e ".[bench]"')
    port = recommend_port(19000 + os.getpid() % 20000)
    process = subprocess.Popen(
        [str(datasette), "serve", "-i", str(path), "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"

    def answering() -> bool:
        try:
            return httpx.get(f"{url}/-/versions.json", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    # A cold start imports Datasette's plugins and templates: seconds on a loaded machine.
    wait_until(answering, within_s=60, what="Datasette answering", process=process)
    return process, url


def best(runs: list[dict[str, float]]) -> dict[str, float]:
    return max(runs, key=lambda run: run["requests_per_s"])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    if shutil.which("wrk") is None:
        raise SystemExit("needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as temp:
        data_dir = Path(temp) / "data"
        sample = build_sample(data_dir / "sample.db")
        symbol = sqlite3.connect(sample).execute("SELECT min(symbol) FROM tickers").fetchone()[0]
        server = start_server(data_dir)
        datasette, datasette_url = start_datasette(sample)
        try:
            add_connection(
                server, {"name": "sample", "kind": "sqlite", "options": {"path": str(sample)}}
            )
            ours = wrk_script(
                Path(temp) / "ours.lua",
                method="POST",
                body=json.dumps({"sql": SQL, "params": {"s": symbol}}),
                headers={"Content-Type": "application/json", "X-API-KEY": server.api_key},
            )
            theirs = wrk_script(Path(temp) / "theirs.lua", method="GET", headers={})
            query = urllib.parse.urlencode({"sql": SQL, "s": symbol})
            targets = {
                "connector": (ours, f"{server.url}/connections/sample/query"),
                "datasette": (theirs, f"{datasette_url}/sample.json?{query}"),
            }
            check = httpx.get(targets["datasette"][1], timeout=10).json()
            if len(check["rows"]) != 50:
                raise RuntimeError(f"Datasette answered {check}")
            for script, target in targets.values():
                run_wrk(script, target, 2)  # warm-up
            runs: dict[str, list[dict[str, float]]] = {name: [] for name in targets}
            with RssSampler(server.pid) as rss:
                for _ in range(args.repeat):
                    for name, (script, target) in targets.items():
                        runs[name].append(run_wrk(script, target, args.seconds))
            raw = raw_per_second(sample, symbol)
        finally:
            server.stop()
            datasette.terminate()
            datasette.wait(timeout=10)
    ours_best, theirs_best = best(runs["connector"]), best(runs["datasette"])
    result = {
        "name": "sqlite_small_queries",
        "sql": SQL,
        "wrk": f"-t1 -c{CONNECTIONS} -d{args.seconds}s, best of {args.repeat}",
        "connector": ours_best,
        "datasette": theirs_best,
        "requests_ratio": round(ours_best["requests_per_s"] / theirs_best["requests_per_s"], 2),
        "p99_ratio": round(ours_best["p99_ms"] / theirs_best["p99_ms"], 2),
        "raw_queries_per_s": round(raw),
        "server_peak_rss_mb": round(rss.peak_mb, 1),
        "load_average": round(os.getloadavg()[0], 1),
        "when": time.strftime("%Y-%m-%d"),
        "runs": runs,
    }
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sqlite_small_queries.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
