"""Wide rows (long texts, blobs) come fewer at a time: an export holds a few batches at
once (read, encoded, waiting to be sent), so a batch's size, not its row count, is what
keeps the server's memory within its bound. 5,000 rows of 10 KB were 50 MB a batch, and
the server's peak was 324 MB over idle (``benchmarks/README.md``). Each chunk the export
yields is looked at here, on every path an SQLite export can take and in every format."""

from __future__ import annotations

import io
import sqlite3
from collections.abc import Iterator
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from connector.backends import sqlite_ranges
from connector.backends.sqlite import SqliteBackend
from connector.columnar import PARQUET_GROUP_BYTES
from connector.models import ConnectionInput, QueryRequest
from connector.query import STREAM_BATCH_BYTES, STREAM_BATCH_ROWS, fitted_batch, row_bytes
from connector.runtime import Runtime

WIDTH = 20_000
ROWS = 3_000  # 60 MB of text: one batch of STREAM_BATCH_ROWS would hold all of it
# A chunk is one batch (or span) in its format: JSON escapes and CSV quotes add little
# to these letters, Parquet compresses them. Twice the target leaves room for both.
MOST = 2 * max(STREAM_BATCH_BYTES, sqlite_ranges.SPAN_BYTES, PARQUET_GROUP_BYTES)


@pytest.fixture
def wide(runtime: Runtime, tmp_path: Path) -> Iterator[str]:
    path = tmp_path / "wide.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, t TEXT, n INTEGER, b BLOB)")
        db.executemany(
            "INSERT INTO w VALUES (?, ?, ?, ?)",
            [
                (i, chr(97 + i % 26) * WIDTH, i, bytes([i % 256]) * 16 if i % 500 == 0 else None)
                for i in range(1, ROWS + 1)
            ],
        )
    runtime.connector.create_connection(
        ConnectionInput(name="wide", kind="sqlite", options={"path": str(path)})
    )
    yield "wide"


def _chunks(runtime: Runtime, sql: str, fmt: str) -> list[bytes]:
    stream = runtime.connector.open_stream("wide", QueryRequest(sql=sql), None, fmt)  # type: ignore[arg-type]
    try:
        return [chunk for chunk in stream.chunks() if chunk]
    finally:
        stream.close()


@pytest.mark.parametrize("fmt", ["ndjson", "csv", "json", "arrow", "parquet"])
@pytest.mark.parametrize(
    "sql",
    [
        "SELECT id, t, n FROM w",  # SQLite's range plan
        "SELECT id, t, n FROM w ORDER BY n",  # SQLite writing a line a row
        "SELECT * FROM w ORDER BY n",  # BLOBs: the exact path from the first one
    ],
)
@pytest.mark.parametrize("native", [True, False])
def test_an_export_of_wide_rows_comes_in_chunks_of_bounded_size(
    runtime: Runtime, wide: str, monkeypatch: pytest.MonkeyPatch, fmt: str, sql: str, native: bool
) -> None:
    if not native:
        monkeypatch.setattr(SqliteBackend, "native_export", lambda *_: None)
    chunks = _chunks(runtime, sql, fmt)
    assert max(len(chunk) for chunk in chunks) <= MOST, [len(chunk) for chunk in chunks]
    if fmt == "parquet":  # compressed: the row groups tell what was held at once
        file = pq.ParquetFile(io.BytesIO(b"".join(chunks)))
        assert file.metadata.num_rows == ROWS
        groups = [file.metadata.row_group(i).num_rows for i in range(file.metadata.num_row_groups)]
        assert max(groups) <= (PARQUET_GROUP_BYTES + STREAM_BATCH_BYTES) // WIDTH + 1, groups
    else:
        assert sum(len(chunk) for chunk in chunks) > ROWS * WIDTH  # every row is there
    if fmt == "ndjson":
        assert b"".join(chunks).count(b"\n") == ROWS


def test_a_batch_is_sized_by_its_rows_width() -> None:
    narrow = [(1, "abc", 2.5)] * 3
    assert fitted_batch(narrow, STREAM_BATCH_ROWS) == STREAM_BATCH_ROWS
    wide_rows = [(1, "x" * 100_000, b"y" * 100_000)]
    assert fitted_batch(wide_rows, STREAM_BATCH_ROWS) == STREAM_BATCH_BYTES // row_bytes(
        wide_rows[0]
    )
    assert fitted_batch([("z" * (STREAM_BATCH_BYTES * 2),)], STREAM_BATCH_ROWS) == 1
    # the widest of the first and last row decides
    mixed = [(1, "a"), (2, "b" * 1_000_000)]
    assert fitted_batch(mixed, STREAM_BATCH_ROWS) == 2
