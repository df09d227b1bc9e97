"""Small queries per second over HTTP (wrk, 8 connections) against the raw sqlite3 loop.

Each request runs ``SELECT * FROM tickers WHERE symbol = :s`` on the sample database and
returns JSON; the raw loop does the same execute + fetch + orjson in one thread. Needs
``wrk`` (Debian package ``wrk``). Run: ``.venv/bin/python -m benchmarks.bench_small_queries``.
"""

from __future__ import annotations

import json
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

import orjson

from benchmarks.harness import RESULTS, RssSampler, add_connection, start_server
from connector.sample import build_sample

SQL = "SELECT * FROM tickers WHERE symbol = :s"
SECONDS = 10


def raw_per_second(path: Path, symbol: str) -> float:
    connection = sqlite3.connect(f"file:{path}?mode=ro", uri=True, check_same_thread=False)
    count = 0
    started = time.perf_counter()
    while time.perf_counter() - started < 3:
        cursor = connection.execute(SQL, {"s": symbol})
        names = [item[0] for item in cursor.description]
        rows = cursor.fetchmany(1001)
        orjson.dumps({"columns": names, "rows": rows})
        count += 1
    return count / (time.perf_counter() - started)


def main() -> None:
    wrk = shutil.which("wrk")
    if wrk is None:
        raise SystemExit("needs wrk: apt-get install wrk")
    with tempfile.TemporaryDirectory() as temp:
        data_dir = Path(temp) / "data"
        sample = build_sample(data_dir / "sample.db")
        symbol = sqlite3.connect(sample).execute("SELECT min(symbol) FROM tickers").fetchone()[0]
        server = start_server(data_dir)
        try:
            add_connection(
                server, {"name": "sample", "kind": "sqlite", "options": {"path": str(sample)}}
            )
            body = json.dumps({"sql": SQL, "params": {"s": symbol}})
            script = Path(temp) / "post.lua"
            script.write_text(
                'wrk.method = "POST"\n'
                f"wrk.body = {json.dumps(body)}\n"
                'wrk.headers["Content-Type"] = "application/json"\n'
                f'wrk.headers["X-API-KEY"] = "{server.api_key}"\n'
                "errors = 0\n"
                "response = function(status, headers, body)\n"
                '  if status ~= 200 and errors < 3 then errors = errors + 1; io.write(status .. " " .. body .. "\\n") end\n'
                "end\n"
            )
            target = f"{server.url.replace('127.0.0.1', 'localhost')}/connections/sample/query"
            subprocess.run(
                [wrk, "-t1", "-c8", "-d2s", "-s", str(script), target],
                capture_output=True,
                check=True,
            )
            with RssSampler(server.pid) as rss:
                output = subprocess.run(
                    [wrk, "-t1", "-c8", f"-d{SECONDS}s", "-s", str(script), target],
                    capture_output=True, text=True, check=True,
                ).stdout  # fmt: skip
            http = float(re.search(r"Requests/sec:\s+([\d.]+)", output).group(1))  # type: ignore[union-attr]
            non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
            raw = raw_per_second(sample, symbol)
        finally:
            server.stop()
    result = {
        "name": "sqlite_small_queries",
        "http_requests_per_s": round(http),
        "raw_queries_per_s": round(raw),
        "ratio": round(http / raw, 3),
        "errors": int(non_2xx.group(1)) if non_2xx else 0,
        "server_peak_rss_mb": round(rss.peak_mb, 1),
        "when": time.strftime("%Y-%m-%d"),
    }
    print(json.dumps(result))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "sqlite_small_queries.json").write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
