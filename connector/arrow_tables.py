"""Columnar exports from Arrow tables a driver hands over itself (Snowflake's result
chunks, ``fetch_arrow_batches``) rather than from rows: each table is cast to one export
schema, decided on the first table by the same rules as ``connector.columnar`` gives rows,
so both paths write the same file.

A cast pyarrow calls unsafe (an overflow, a rounded decimal) ends the export with
``ColumnarError``; fractions below a microsecond are dropped, as the row path's Python
values drop them; JSON columns are parsed and written again as the row path writes them.

Must not import FastAPI or any driver; pyarrow only when an export runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Sequence
from typing import TYPE_CHECKING, Any

import orjson

from connector.columnar import (
    PARQUET_GROUP_ROWS,
    ColumnarError,
    Shape,
    Sink,
    column_type,
    json_text,
)
from connector.models import Column
from connector.wire import record_keys

if TYPE_CHECKING:
    import pyarrow as pa

# The rows in one record batch written from a driver's Arrow tables: the row path's batch.
STREAM_BATCH = 5000


def _table_column_type(column: Column, shape: Shape, kind: pa.DataType) -> pa.DataType:
    """The export's type for a driver's Arrow column: the same as the rows' rules give
    (the module's table), from the type the driver chose for the first chunk."""
    import pyarrow as pa

    if column.type == "integer" and pa.types.is_integer(kind):
        return pa.int64()
    if pa.types.is_decimal(kind):
        if column.type == "integer" and kind.scale == 0:
            return pa.decimal128(38, 0) if kind.precision <= 38 else pa.decimal256(76, 0)
        return kind
    if pa.types.is_floating(kind):
        return pa.float64()
    if pa.types.is_timestamp(kind):
        return pa.timestamp("us", tz="UTC" if kind.tz is not None else None)
    if pa.types.is_time(kind):
        return pa.time64("us")
    if pa.types.is_date(kind):
        return pa.date32()
    if pa.types.is_boolean(kind):
        return pa.bool_()
    if pa.types.is_binary(kind) or pa.types.is_large_binary(kind):
        return pa.binary()
    if column.type == "json" or pa.types.is_string(kind) or pa.types.is_large_string(kind):
        return pa.string()
    return column_type(column, shape, [])


def _json_texts(array: pa.Array) -> pa.Array:
    """JSON text as the row path writes it: parsed, then written compactly by the exact
    path's rules (text that does not parse is kept)."""
    import pyarrow as pa

    texts = []
    for value in array.to_pylist():
        try:
            texts.append(None if value is None else json_text(orjson.loads(value)))
        except orjson.JSONDecodeError:
            texts.append(json_text(value))  # the row path keeps such text as a string
    return pa.array(texts, type=pa.string())


class ArrowTables:
    """A driver's Arrow tables converted to one export schema, decided on the first."""

    def __init__(self, columns: Sequence[Column], shapes: Sequence[Shape] | None = None) -> None:
        self.columns = list(columns)
        self.names = record_keys(self.columns)
        self.shapes = list(shapes) if shapes is not None else [None] * len(self.columns)
        self.schema: pa.Schema | None = None

    def decide(self, first: pa.Table | None) -> pa.Schema:
        import pyarrow as pa

        fields = []
        for index, (name, column, shape) in enumerate(
            zip(self.names, self.columns, self.shapes, strict=True)
        ):
            if first is None:
                kind = column_type(column, shape, [])
            else:
                kind = _table_column_type(column, shape, first.schema.field(index).type)
            fields.append(pa.field(name, kind))
        self.schema = pa.schema(fields)
        return self.schema

    def convert(self, table: pa.Table) -> pa.Table:
        """``table`` in the export's schema; ``ColumnarError`` where a value would lose
        digits (a cast pyarrow calls unsafe: overflow, a rounded decimal). Time and
        timestamp fractions below a microsecond are dropped, as the row path drops them."""
        import pyarrow as pa
        import pyarrow.compute as pc

        schema = self.schema if self.schema is not None else self.decide(table)
        arrays = []
        for index, (column, field) in enumerate(zip(self.columns, schema, strict=True)):
            array = table.column(index).combine_chunks()
            if column.type == "json":
                array = _json_texts(array)
            sub_microsecond = pa.types.is_timestamp(array.type) or pa.types.is_time(array.type)
            try:
                if sub_microsecond and array.type != field.type:
                    array = pc.cast(array, field.type, safe=False)
                arrays.append(pc.cast(array, field.type, safe=True))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
                raise ColumnarError(
                    f"Column {column.name!r} holds a value after its first rows that its "
                    f"Arrow type {field.type} cannot hold exactly; cast it in the SQL (to "
                    "text or a wider type) or export as ndjson."
                ) from None
        return pa.Table.from_arrays(arrays, schema=schema)


def encode_tables(
    fmt: str,
    columns: Sequence[Column],
    tables: Iterable[pa.Table],
    shapes: Sequence[Shape] | None = None,
) -> Iterator[tuple[bytes, int]]:
    """An Arrow IPC stream or a Parquet file from a driver's Arrow tables, as (bytes, rows
    in them): a record batch per ``STREAM_BATCH`` rows, a row group per table."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    converter = ArrowTables(columns, shapes)
    iterator = iter(tables)
    first = next(iterator, None)
    schema = converter.decide(first)
    sink = Sink()
    writer: Any = (
        pa.ipc.new_stream(sink, schema) if fmt == "arrow" else pq.ParquetWriter(sink, schema)
    )
    yield sink.take(), 0  # the schema: the response starts once the statement has run
    for table in itertools.chain([first], iterator) if first is not None else ():
        converted = converter.convert(table)
        if fmt == "arrow":
            writer.write_table(converted, max_chunksize=STREAM_BATCH)
        else:
            writer.write_table(converted, row_group_size=PARQUET_GROUP_ROWS)
        yield sink.take(), converted.num_rows
    writer.close()
    tail = sink.take()
    if tail:
        yield tail, 0
