"""Where a server's export time goes: py-spy (``pip install py-spy``) samples a real server
process while it streams one export, and the top functions by own time are printed.

Run: ``.venv/bin/python -m benchmarks.profile_export --kind sqlite --format ndjson``
(``--kind mysql|postgresql`` use the export benchmarks' ``dc_bench`` tables). Needs
permission to read the child's memory (root, or ptrace allowed).
"""

from __future__ import annotations

import argparse
import collections
import shutil
import subprocess
import sys
import tempfile
import threading
from pathlib import Path
from typing import Any

from benchmarks import bench_mysql, bench_postgresql
from benchmarks.bench_sqlite import SQL, make_database
from benchmarks.harness import ROOT, add_connection, http_export, start_server


def _options(kind: str, rows: int) -> dict[str, Any]:
    if kind == "sqlite":
        return {"path": str(make_database(ROOT / "data" / f"trades-{rows}.db", rows))}
    if kind == "mysql":
        bench_mysql.make_table(rows)
        return {"host": bench_mysql.HOST, "port": bench_mysql.PORT, "user": "root",
                "database": bench_mysql.DATABASE}  # fmt: skip
    bench_postgresql.make_table(rows)
    return {"host": bench_postgresql.HOST, "port": bench_postgresql.PORT, "user": "postgres",
            "database": bench_postgresql.DATABASE}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--kind", default="sqlite", choices=("sqlite", "mysql", "postgresql"))
    parser.add_argument("--format", default="ndjson")
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--exact", action="store_true", help="CONNECTOR_NATIVE_EXPORT=false")
    parser.add_argument("--top", type=int, default=15)
    args = parser.parse_args()
    py_spy = shutil.which("py-spy") or shutil.which("py-spy", path=str(Path(sys.executable).parent))
    if py_spy is None:
        raise SystemExit("needs py-spy: pip install py-spy")
    env = {"CONNECTOR_NATIVE_EXPORT": "false"} if args.exact else {}
    with tempfile.TemporaryDirectory() as temp:
        server = start_server(Path(temp) / "data", env=env)
        try:
            add_connection(
                server,
                {"name": "bench", "kind": args.kind, "options": _options(args.kind, args.rows)},
            )
            http_export(server, "bench", "SELECT * FROM trades LIMIT 1000", args.format)
            out = Path(temp) / "profile.txt"
            spy_log = (Path(temp) / "spy.log").open("wb")
            spy = subprocess.Popen(
                [py_spy, "record", "--pid", str(server.pid), "--format", "raw", "--output",
                 str(out), "--rate", "200", "--threads", "--native"],
                stdout=subprocess.DEVNULL, stderr=spy_log,
            )  # fmt: skip
            threading.Event().wait(1.0)  # py-spy attached
            http_export(server, "bench", SQL, args.format)
            spy.send_signal(2)
            spy.wait(30)
            spy_log.close()
            if not out.exists():
                raise SystemExit((Path(temp) / "spy.log").read_text())
        finally:
            server.stop()
        own: collections.Counter[str] = collections.Counter()
        total = 0
        for line in out.read_text().splitlines():
            stack, _, count = line.rpartition(" ")
            frames = stack.split(";")
            if not frames or "idle" in frames[-1] or "epoll" in frames[-1] or "wait" in frames[-1]:
                continue
            own[frames[-1].split(" (")[0]] += int(count)
            total += int(count)
    for frame, count in own.most_common(args.top):
        print(f"{100 * count / max(total, 1):5.1f}%  {frame}")


if __name__ == "__main__":
    main()
