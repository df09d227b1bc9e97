"""Benchmark harness: a real server in a child process, its peak RSS, an HTTP export, and
the raw-driver loop that does the same work, so results are ratios measured in one run.

The raw loop is what the server does per row, minus HTTP: ``fetchmany`` batches, a dict
per row keyed by column name, ``orjson.dumps`` with a newline. Results go to stdout and to
``benchmarks/results/<name>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import ssl
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType
from typing import IO, Any, Literal, TypeVar

import httpx
import orjson

from connector.values import json_default

ROOT = Path(__file__).resolve().parent
RESULTS = ROOT / "results"
T = TypeVar("T")


@dataclass
class Server:
    url: str
    api_key: str
    pid: int
    process: subprocess.Popen[bytes]

    def headers(self) -> dict[str, str]:
        return {"X-API-KEY": self.api_key}

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()


# How long a server may take to answer /health after it is started: a cold start imports
# FastAPI, SQLAlchemy and the drivers, which on a loaded two-core machine takes seconds,
# never a minute. The bound is there so a server that never comes up fails the run.
SERVER_START_S = 60.0


def wait_until(
    check: Callable[[], T],
    *,
    within_s: float,
    what: str,
    process: subprocess.Popen[Any] | None = None,
    every_s: float = 0.05,
) -> T:
    """Call ``check`` until it returns something truthy and return that: a wait on the
    condition itself, never a fixed sleep. Fails naming ``what`` when ``within_s`` passes
    first, and at once when ``process`` exits meanwhile (it would never become ready)."""
    deadline = time.monotonic() + within_s
    while True:
        if process is not None and process.poll() is not None:
            raise RuntimeError(f"{what}: the process exited ({process.returncode}) first")
        found = check()
        if found:
            return found
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not within {within_s:g} s")
        time.sleep(every_s)


def serve_command(data_dir: Path, *args: str, program: Sequence[str] | None = None) -> list[str]:
    """``data-connector --data-dir DIR serve ARGS``: this checkout's CLI, or ``program``
    (a built bundle) that takes the same arguments."""
    prefix = list(program) if program else [sys.executable, "-m", "connector.cli"]
    return [*prefix, "--data-dir", str(data_dir), "serve", *args]


def server_env(env: dict[str, str] | None = None) -> dict[str, str]:
    """The environment a child server runs in: secrets in a file, never the user's keychain."""
    return {**os.environ, "CONNECTOR_SECRET_STORE": "file", **(env or {})}


def read_log(log: IO[bytes] | None) -> str:
    """What a child wrote to ``log`` so far, without moving the offset the child writes at."""
    if log is None:
        return ""
    size = os.fstat(log.fileno()).st_size
    return os.pread(log.fileno(), size, 0).decode(errors="replace")


BANNER = re.compile(r"Data Connector \S+ at https?://localhost:(\d+)")


def free_port() -> int:
    """A free port on this machine, searched from one that depends on this process, so
    runs side by side rarely try the same ones."""
    from connector.ports import recommend_port

    return recommend_port(18000 + os.getpid() % 20000)


def launch_server(
    data_dir: Path,
    *args: str,
    env: dict[str, str] | None = None,
    log: IO[bytes] | None = None,
    port: int | Literal["auto"] | None = None,
    tls: bool = False,
    program: Sequence[str] | None = None,
) -> tuple[subprocess.Popen[bytes], str]:
    """``data-connector serve`` in a child process; returns it and its URL once ``/health``
    answers. Output goes to ``log`` (a file: a pipe nobody reads would fill and block the
    server), or nowhere.

    ``port``: a number, ``None`` for a free one picked here, or ``"auto"`` to let the server
    pick and read its choice from the banner (needs ``log``). ``tls``: ``serve --tls``; the
    URL is https://localhost and /health is checked trusting only the server's own CA."""

    data_dir.mkdir(parents=True, exist_ok=True)
    if port is None:
        port = free_port()
    if port == "auto" and log is None:
        raise ValueError("with port='auto' the port is read from the banner: pass a log")
    flags = ["--port", str(port), *(["--tls"] if tls else []), *args]
    process = subprocess.Popen(
        serve_command(data_dir, *flags, program=program),
        stdout=log if log is not None else subprocess.DEVNULL,
        stderr=subprocess.STDOUT,
        env=server_env(env),
    )

    def answering() -> str:  # the URL once /health answers, "" until then
        if port == "auto":
            shown = BANNER.search(read_log(log))
            if shown is None:
                return ""
            bound = int(shown.group(1))
        else:
            bound = int(port)
        url = f"https://localhost:{bound}" if tls else f"http://127.0.0.1:{bound}"
        try:
            verify: ssl.SSLContext | bool = True
            if tls:
                # The CA is made at start; until it is written, there is nothing to trust.
                verify = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.pem"))
            if httpx.get(f"{url}/health", timeout=1, verify=verify).status_code == 200:
                return url
        except (OSError, httpx.HTTPError):  # not listening yet; ssl.SSLError is an OSError
            pass
        return ""

    try:
        url = wait_until(
            answering, within_s=SERVER_START_S, what="the server answering /health", process=process
        )
    except (RuntimeError, TimeoutError) as exc:
        if process.poll() is None:
            process.kill()
        process.wait()
        raise RuntimeError(f"{exc}; it printed:\n{read_log(log)}") from None
    return process, url


def start_server(data_dir: Path, env: dict[str, str] | None = None) -> Server:
    """A quiet server without the sample database, for benchmarks."""
    process, url = launch_server(data_dir, "--no-sample", "--log-level", "warning", env=env)
    key = (data_dir / "api_key").read_text().strip()
    return Server(url=url, api_key=key, pid=process.pid, process=process)


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class RssSampler:
    """Samples a process's resident memory every 10 ms; ``peak_mb`` after the block."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.start_mb = 0.0
        self.peak_mb = 0.0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak_mb = max(self.peak_mb, rss_mb(self.pid))
            except OSError:
                return
            self._stop.wait(0.01)

    def __enter__(self) -> RssSampler:
        self.start_mb = rss_mb(self.pid)
        self.peak_mb = self.start_mb
        self._thread.start()
        return self

    def __exit__(
        self, _t: type[BaseException] | None, _e: BaseException | None, _tb: TracebackType | None
    ) -> None:
        self._stop.set()
        self._thread.join()


def add_connection(server: Server, body: dict[str, Any]) -> None:
    response = httpx.post(f"{server.url}/connections", json=body, headers=server.headers())
    response.raise_for_status()


def http_export(
    server: Server, connection: str, sql: str, fmt: str = "ndjson"
) -> tuple[int, float]:
    """Stream an export over HTTP; returns (lines received, seconds). An Arrow or Parquet
    export is kept in memory and its rows counted by pyarrow after the clock stops."""
    started = time.perf_counter()
    lines = 0
    columnar = fmt in ("arrow", "parquet")
    received: list[bytes] = []
    with httpx.stream(
        "POST",
        f"{server.url}/connections/{connection}/export",
        params={"format": fmt},
        json={"sql": sql},
        headers=server.headers(),
        timeout=600,
    ) as response:
        response.raise_for_status()
        for chunk in response.iter_bytes():
            if columnar:
                received.append(chunk)
            else:
                lines += chunk.count(b"\n")
    seconds = time.perf_counter() - started
    if columnar:
        lines = columnar_rows(fmt, b"".join(received))
    return lines, seconds


def columnar_rows(fmt: str, data: bytes) -> int:
    """The rows in an Arrow IPC stream or a Parquet file (read fully, so a broken one fails)."""
    import io

    import pyarrow.ipc
    import pyarrow.parquet

    if fmt == "arrow":
        return int(pyarrow.ipc.open_stream(data).read_all().num_rows)
    return int(pyarrow.parquet.read_table(io.BytesIO(data)).num_rows)


def raw_ndjson_loop(cursor: Any, batch: int = 5000) -> int:
    """The server's per-row work on a raw DBAPI cursor (after ``execute``); returns rows.

    Like the server it hands orjson ``json_default`` for the types orjson does not write
    itself (``Decimal`` from NUMBER(p,s), bytes); orjson calls it only for those."""
    keys = [item[0] for item in cursor.description]
    rows = 0
    while True:
        chunk = cursor.fetchmany(batch)
        if not chunk:
            return rows
        data = b"".join(
            [
                orjson.dumps(
                    dict(zip(keys, row, strict=True)),
                    default=json_default,
                    option=orjson.OPT_APPEND_NEWLINE,
                )
                for row in chunk
            ]
        )
        rows += len(chunk)
        del data


def raw_array_loop(cursor: Any, batch: int = 5000) -> int:
    """The naive loop the fast paths are measured against: ``fetchmany`` batches and one
    ``orjson`` array per row with a newline (no dict, no keys); returns rows."""
    rows = 0
    while True:
        chunk = cursor.fetchmany(batch)
        if not chunk:
            return rows
        data = b"".join(
            [
                orjson.dumps(row, default=json_default, option=orjson.OPT_APPEND_NEWLINE)
                for row in chunk
            ]
        )
        rows += len(chunk)
        del data


def export_arguments(description: str | None, rows: int = 1_000_000) -> argparse.Namespace:
    """``--rows`` and ``--repeat``, shared by the export benchmarks."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--rows", type=int, default=rows)
    parser.add_argument(
        "--repeat", type=int, default=6, help="N alternating runs each way (median of pairs)"
    )
    parser.add_argument("--formats", default="ndjson,csv", help="export formats to measure")
    return parser.parse_args()


def compare_export(
    name: str,
    server: Server,
    sql: str,
    raw_run: Callable[[], tuple[int, float]],
    *,
    rows: int,
    repeat: int,
    fmt: str = "ndjson",
    **extra: Any,
) -> dict[str, Any]:
    """Alternate the raw loop and the HTTP export ``repeat`` times (one warm-up pair first,
    not counted) and report the median of each pair's ratio, with each one's median run
    and the server's peak RSS.

    A pair runs back to back, so its ratio compares the two under the same conditions;
    on a shared virtual machine the raw loop alone was seen to run anywhere from 0.6 to
    1.0 million rows a second within minutes, which a best-of-N of each side separately
    turns into ratios from 0.8 to 1.5 for the same code. The best runs are kept in the
    result too. The server must have its connection registered as ``bench``."""
    raw_times: list[float] = []
    http_times: list[float] = []
    start_mb = peak_mb = 0.0
    for run in range(repeat + 1):
        raw_rows, raw_s = raw_run()
        with RssSampler(server.pid) as rss:
            http_rows, http_s = http_export(server, "bench", sql, fmt)
        if fmt == "csv":
            http_rows -= 1  # the header line
        if raw_rows != rows or http_rows != rows:
            raise RuntimeError(f"expected {rows} rows, raw gave {raw_rows}, HTTP {http_rows}")
        start_mb = start_mb or rss.start_mb
        peak_mb = max(peak_mb, rss.peak_mb)
        if run == 0:
            continue  # warm-up
        raw_times.append(raw_s)
        http_times.append(http_s)
    ratios = [raw / http for raw, http in zip(raw_times, http_times, strict=True)]
    return report(
        name, rows, statistics.median(http_times), statistics.median(raw_times), peak_mb,
        ratio=round(statistics.median(ratios), 3),
        pair_ratios=[round(ratio, 3) for ratio in ratios],
        best_http_rows_per_s=round(rows / min(http_times)),
        best_raw_rows_per_s=round(rows / min(raw_times)),
        server_start_rss_mb=round(start_mb, 1), repeat=repeat, format=fmt, **extra,
    )  # fmt: skip


def plan_servers(data_dir: Path) -> dict[str, Server]:
    """The same server twice: the database writing export text where it can (the default,
    suffix ``""``) and the server's own encoder for every row (``"_exact"``,
    ``CONNECTOR_NATIVE_EXPORT=false``), compared in one run."""
    return {
        "": start_server(data_dir / "native"),
        "_exact": start_server(data_dir / "exact", env={"CONNECTOR_NATIVE_EXPORT": "false"}),
    }


def compare_plans(
    prefix: str,
    servers: dict[str, Server],
    options: dict[str, Any],
    kind: str,
    sql: str,
    raw_run: Callable[[], tuple[int, float]],
    *,
    rows: int,
    repeat: int,
    formats: str,
    **extra: Any,
) -> None:
    """``compare_export`` for each format on each of ``plan_servers``, all against the raw
    loop ``raw_run``."""
    for server in servers.values():
        add_connection(server, {"name": "bench", "kind": kind, "options": options})
        http_export(server, "bench", f"{sql} LIMIT 1000")  # warm the pool
    for fmt in formats.split(","):
        for suffix, server in servers.items():
            compare_export(
                f"{prefix}_{fmt}{suffix}", server, sql, raw_run, rows=rows, repeat=repeat,
                fmt=fmt, **extra,
            )  # fmt: skip


def report(
    name: str, rows: int, http_s: float, raw_s: float, peak_rss_mb: float, **extra: Any
) -> dict[str, Any]:
    """Print and save one result: rows/s both ways, their ratio (unless ``extra`` gives
    one), and the server's peak RSS."""
    result = {
        "name": name,
        "rows": rows,
        "http_rows_per_s": round(rows / http_s),
        "raw_rows_per_s": round(rows / raw_s),
        "ratio": round(raw_s / http_s, 3),
        "server_peak_rss_mb": round(peak_rss_mb, 1),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "when": time.strftime("%Y-%m-%d"),
        "load_average_1m": round(os.getloadavg()[0], 2),
        **extra,
    }
    print(
        f"{name}: {rows:,} rows  http {result['http_rows_per_s']:,}/s  raw "
        f"{result['raw_rows_per_s']:,}/s  ratio {result['ratio']}  server peak RSS "
        f"{result['server_peak_rss_mb']} MB  load {result['load_average_1m']}"
        + (f"  pairs {min(pairs)}-{max(pairs)}" if (pairs := result.get("pair_ratios")) else "")
    )
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(result, indent=2) + "\n")
    return result
