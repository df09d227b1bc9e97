"""Columnar exports (``format=arrow`` and ``format=parquet``) of the SQLite benchmark's 1M
trades over HTTP, and of the same rows in PostgreSQL's ``dc_bench`` (``--postgresql``),
against the raw loop the other exports are measured against (``raw_array_loop``:
``fetchmany`` + one orjson array per row), in one run.

Also measured in the same run, in-process and without HTTP (``--contenders``):
- ``raw_arrow_loop``: the raw driver's ``fetchmany`` batches made into Arrow record batches
  by pyarrow (column lists, ``pa.array`` per column) and written to an IPC stream: what the
  server does per batch, minus the connector;
- ``adbc``: the ADBC driver (``adbc-driver-sqlite`` / ``adbc-driver-postgresql``, installed by
  hand: they are not dependencies) reading Arrow record batches straight from the database
  into an IPC stream, no Python object per value.

Run: ``.venv/bin/python -m benchmarks.bench_columnar [--rows N] [--repeat N]
[--formats arrow,parquet] [--contenders] [--postgresql]``.
"""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchmarks.bench_sqlite import SQL, make_database
from benchmarks.harness import (
    ROOT,
    Server,
    add_connection,
    compare_export,
    export_arguments,
    http_export,
    raw_array_loop,
    report,
    start_server,
)
from connector.memory import tune_allocator


class Discard:
    """A write-only file that drops what it is given, as a server sending it would (the
    connector's own sink hands each batch's bytes to the response)."""

    closed = False

    def __init__(self) -> None:
        self.written = 0

    def write(self, data: Any) -> int:
        self.written += len(data)
        return len(data)

    def flush(self) -> None:
        return None


def raw_arrow_loop(cursor: Any, batch: int = 5000) -> int:
    """``fetchmany`` batches as Arrow record batches in one IPC stream; returns rows."""
    import pyarrow as pa

    names = [item[0] for item in cursor.description]
    writer = None
    rows = 0
    while True:
        chunk = cursor.fetchmany(batch)
        if not chunk:
            break
        arrays = [pa.array(column) for column in zip(*chunk, strict=True)]
        record = pa.RecordBatch.from_arrays(arrays, names=names)
        if writer is None:
            writer = pa.ipc.new_stream(Discard(), record.schema)
        writer.write_batch(record)
        rows += len(chunk)
    if writer is not None:
        writer.close()
    return rows


def adbc_arrow(cursor: Any) -> int:
    """An ADBC cursor's Arrow batches into an IPC stream; returns rows."""
    import pyarrow as pa

    reader = cursor.fetch_record_batch()
    rows = 0
    with pa.ipc.new_stream(Discard(), reader.schema) as writer:
        for record in reader:
            writer.write_batch(record)
            rows += record.num_rows
    return rows


def timed(work: Callable[[], int]) -> tuple[int, float]:
    started = time.perf_counter()
    rows = work()
    return rows, time.perf_counter() - started


def sqlite_runs(database: Path) -> dict[str, Callable[[], tuple[int, float]]]:
    def raw(loop: Callable[[Any], int]) -> Callable[[], tuple[int, float]]:
        def run() -> int:
            connection = sqlite3.connect(f"file:{database}?mode=ro", uri=True)
            try:
                return loop(connection.execute(SQL))
            finally:
                connection.close()

        return lambda: timed(run)

    def adbc() -> int:
        import adbc_driver_sqlite.dbapi

        with adbc_driver_sqlite.dbapi.connect(str(database)) as connection:
            cursor = connection.cursor()
            cursor.execute(SQL)
            return adbc_arrow(cursor)

    return {
        "raw_array_loop": raw(raw_array_loop),
        "raw_arrow_loop": raw(raw_arrow_loop),
        "adbc": lambda: timed(adbc),
    }


def postgresql_runs() -> dict[str, Callable[[], tuple[int, float]]]:
    from benchmarks.bench_postgresql import connect

    def raw(loop: Callable[[Any], int]) -> Callable[[], tuple[int, float]]:
        def run() -> int:
            with connect() as connection:
                cursor = connection.cursor(name="raw_bench")
                cursor.execute(SQL)
                rows = loop(cursor)
                cursor.close()
                return rows

        return lambda: timed(run)

    def adbc() -> int:
        import adbc_driver_postgresql.dbapi

        uri = "postgresql://postgres@127.0.0.1:5432/dc_bench"
        with adbc_driver_postgresql.dbapi.connect(uri) as connection:
            cursor = connection.cursor()
            cursor.execute(SQL)
            return adbc_arrow(cursor)

    return {
        "raw_array_loop": raw(raw_array_loop),
        "raw_arrow_loop": raw(raw_arrow_loop),
        "adbc": lambda: timed(adbc),
    }


def contenders(
    prefix: str, runs: dict[str, Callable[[], tuple[int, float]]], rows: int, repeat: int
) -> None:
    """Each in-process contender against the raw array loop, alternating, best of N."""
    best: dict[str, float] = {}
    for _ in range(repeat):
        for name, run in runs.items():
            try:
                got, seconds = run()
            except ImportError as exc:
                print(f"{prefix}_{name}: skipped ({exc.name} is not installed)")
                continue
            if got != rows:
                raise RuntimeError(f"{name}: expected {rows} rows, got {got}")
            best[name] = min(best.get(name, seconds), seconds)
    baseline = best["raw_array_loop"]
    for name, seconds in best.items():
        if name != "raw_array_loop":
            report(f"{prefix}_{name}", rows, seconds, baseline, 0.0, in_process=True)


def export_all(
    prefix: str,
    server: Server,
    body: dict[str, Any],
    raw_run: Callable[[], tuple[int, float]],
    args: Any,
    **extra: Any,
) -> None:
    add_connection(server, body)
    for fmt in args.formats.split(","):
        http_export(server, "bench", f"{SQL} LIMIT 1000", fmt)  # loads pyarrow, warms the pool
        compare_export(
            f"{prefix}_{fmt}", server, SQL, raw_run, rows=args.rows, repeat=args.repeat,
            fmt=fmt, baseline="raw_array_loop", **extra,
        )  # fmt: skip


def main() -> None:
    tune_allocator()
    import argparse

    extra = argparse.ArgumentParser(add_help=False)
    extra.add_argument("--contenders", action="store_true")
    extra.add_argument("--postgresql", action="store_true")
    known, rest = extra.parse_known_args()
    import sys

    sys.argv = [sys.argv[0], *rest]
    args = export_arguments(__doc__)
    if args.formats == "ndjson,csv":
        args.formats = "arrow,parquet"
    database = make_database(ROOT / "data" / f"trades-{args.rows}.db", args.rows)
    sqlite = sqlite_runs(database)
    with tempfile.TemporaryDirectory() as data_dir:
        server = start_server(Path(data_dir))
        try:
            body = {"name": "bench", "kind": "sqlite", "options": {"path": str(database)}}
            export_all("sqlite_export", server, body, sqlite["raw_array_loop"], args)
            if known.postgresql:
                from benchmarks.bench_postgresql import DATABASE, HOST, PORT, make_table

                make_table(args.rows)
                options = {"host": HOST, "port": PORT, "user": "postgres", "database": DATABASE}
                server_pg = start_server(Path(data_dir) / "pg")
                try:
                    pg_body = {"name": "bench", "kind": "postgresql", "options": options}
                    pg = postgresql_runs()
                    export_all("postgresql_export", server_pg, pg_body, pg["raw_array_loop"], args)
                finally:
                    server_pg.stop()
        finally:
            server.stop()
    if known.contenders:
        contenders("sqlite", sqlite, args.rows, args.repeat)
        if known.postgresql:
            contenders("postgresql", postgresql_runs(), args.rows, args.repeat)


if __name__ == "__main__":
    main()
