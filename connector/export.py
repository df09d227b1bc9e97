"""Encoders that turn a ``RowStream`` into bytes: NDJSON, CSV, one JSON array, or the
columnar Arrow IPC stream and Parquet file (``connector.columnar``, on the arrow extra).

Each yields one chunk per batch, so memory stays flat however many rows the query has.
NDJSON and JSON write each row as an object keyed by column name (duplicate names get
``_2``, ``_3``... suffixes); CSV writes a header line, then values, with dates in ISO 8601,
bytes in base64 and NULL as an empty cell.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, Literal

import orjson

from connector.columnar import Shape, encode_arrow, encode_parquet
from connector.models import Column
from connector.values import (
    EXACT_TIMES,
    csv_lines,
    csv_value,
    dumps,
    exact_times_needed,
    json_default,
)
from connector.wire import record_keys

ExportFormat = Literal["ndjson", "csv", "json", "arrow", "parquet"]

MEDIA_TYPES: dict[str, str] = {
    "ndjson": "application/x-ndjson",
    "csv": "text/csv; charset=utf-8",
    "json": "application/json",
    "arrow": "application/vnd.apache.arrow.stream",
    "parquet": "application/vnd.apache.parquet",
}


def record_lines(keys: list[str], batch: list[tuple[Any, ...]]) -> list[bytes]:
    """One JSON object per row, each ending in a newline.

    The fast path is one comprehension calling orjson directly, with no per-row helper
    call (measured: a helper per row costs more than the encoding); a batch holding an
    integer beyond 64 bits is redone through the exact slow path. Dates and times are
    written by orjson itself only where that is exact (``exact_times_needed``).
    """
    option = orjson.OPT_APPEND_NEWLINE | (EXACT_TIMES if exact_times_needed(batch) else 0)
    try:
        return [
            orjson.dumps(dict(zip(keys, row, strict=True)), default=json_default, option=option)
            for row in batch
        ]
    except TypeError:
        return [
            dumps(dict(zip(keys, row, strict=True)), option=orjson.OPT_APPEND_NEWLINE)
            for row in batch
        ]


def encode_ndjson(
    columns: Sequence[Column], batches: Iterable[list[tuple[Any, ...]]]
) -> Iterator[bytes]:
    keys = record_keys(columns)
    for batch in batches:
        yield b"".join(record_lines(keys, batch))


def encode_json(
    columns: Sequence[Column], batches: Iterable[list[tuple[Any, ...]]]
) -> Iterator[bytes]:
    keys = record_keys(columns)
    separator = b"["
    for batch in batches:
        yield separator + b",".join([line[:-1] for line in record_lines(keys, batch)])
        separator = b","
    yield b"[]" if separator == b"[" else b"]"


def encode_csv(
    columns: Sequence[Column], batches: Iterable[list[tuple[Any, ...]]], *, header: bool = True
) -> Iterator[bytes]:
    head = csv_lines([[column.name for column in columns]]) if header else ""
    for batch in batches:
        yield (head + csv_lines([[csv_value(value) for value in row] for row in batch])).encode()
        head = ""
    if head:
        yield head.encode()


ENCODERS = {"ndjson": encode_ndjson, "csv": encode_csv, "json": encode_json}


def encode(
    fmt: ExportFormat,
    columns: Sequence[Column],
    batches: Iterable[list[tuple[Any, ...]]],
    shapes: Sequence[Shape] | None = None,
) -> Iterator[bytes]:
    """The export's bytes; ``shapes`` are the declared (precision, scale) of decimal
    columns, which the columnar formats keep."""
    if fmt == "arrow":
        return encode_arrow(columns, batches, shapes)
    if fmt == "parquet":
        return encode_parquet(columns, batches, shapes)
    return ENCODERS[fmt](columns, batches)


def encode_rest(
    fmt: ExportFormat, columns: Sequence[Column], batches: Iterable[list[tuple[Any, ...]]]
) -> Iterator[bytes]:
    """The rest of an NDJSON or CSV export whose first rows (and CSV header) were written
    by the database (``connector.fastpath``): the same lines, without a header."""
    if fmt == "csv":
        return encode_csv(columns, batches, header=False)
    if fmt == "ndjson":
        return encode_ndjson(columns, batches)
    raise ValueError(f"a {fmt} export cannot be continued")
