"""Time to first query, as a new user meets it: a fresh clone, the README's first command
with an empty pip cache (``--no-cache-dir``) and an empty home folder, then the first
``/health`` answer and the first query answered over HTTP.

Each run clones this checkout's HEAD into a temporary folder, so what is measured is what
a user would get from the repository, not this working tree. Results go to stdout and
``benchmarks/results/first_start.json``.

    .venv/bin/python -m benchmarks.bench_first_start [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = Path(__file__).resolve().parent / "results"
WAIT_S = 300.0  # a slow install must fail the run, not hang it


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _get(url: str, key: str | None = None, body: bytes | None = None) -> bytes | None:
    headers = {"X-API-KEY": key} if key else {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=body, headers=headers), timeout=5
        ) as answer:
            data: bytes = answer.read()
            return data
    except (urllib.error.URLError, OSError):
        return None


def run_once() -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        clone, home = Path(work) / "clone", Path(work) / "home"
        home.mkdir()
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        env = {
            "PATH": os.environ["PATH"],
            "HOME": str(home),
            "PIP_NO_CACHE_DIR": "1",
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        }
        started = time.monotonic()
        subprocess.run([sys.executable, "-m", "venv", ".venv"], cwd=clone, env=env, check=True)
        subprocess.run(
            [".venv/bin/pip", "install", "-q", "-e", "."], cwd=clone, env=env, check=True
        )
        installed = time.monotonic()
        port = _free_port()
        server = subprocess.Popen(
            [".venv/bin/data-connector", "serve", "--port", str(port)],
            cwd=clone,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            url = f"http://localhost:{port}"
            while _get(f"{url}/health") is None:
                if time.monotonic() - started > WAIT_S or server.poll() is not None:
                    raise RuntimeError("the server did not answer /health")
                time.sleep(0.02)
            healthy = time.monotonic()
            data_dir = home / ".local" / "share" / "data-connector"
            key = (data_dir / "api_key").read_text().strip()
            body = json.dumps({"sql": "SELECT count(*) FROM tickers"}).encode()
            while _get(f"{url}/connections/sample/query", key, body) is None:
                if time.monotonic() - started > WAIT_S or server.poll() is not None:
                    raise RuntimeError("the first query was not answered")
                time.sleep(0.02)
            answered = time.monotonic()
        finally:
            server.terminate()
            server.wait(timeout=30)
    return {
        "install_s": round(installed - started, 2),
        "to_health_s": round(healthy - started, 2),
        "to_first_query_s": round(answered - started, 2),
        "serve_to_first_query_s": round(answered - installed, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    runs = [run_once() for _ in range(args.repeat)]
    summary = {key: statistics.median(run[key] for run in runs) for key in runs[0]}
    result = {
        "machine": platform.platform(),
        "cpus": os.cpu_count(),
        "runs": runs,
        "median": summary,
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "first_start.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
