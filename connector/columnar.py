"""Columnar exports: rows as an Arrow IPC stream or a Parquet file, batch by batch.

pyarrow is an extra (``data-connector[arrow]``); ``require_pyarrow`` says so in one
sentence before a query runs, and nothing here imports it at module load.

One Arrow schema holds for the whole export. Each column's type comes from its contract
type (``Column.type``), the precision and scale the database declares for decimals (the
backend's ``decimal_shapes``) and the values of the first batch:

============  =============================================================================
integer       ``int64``; a first batch with an integer beyond 64 bits makes the column
              ``decimal128(38, 0)``, else ``decimal256(76, 0)``, else ``string`` (exact digits)
decimal       ``decimal128(p, s)`` (``decimal256`` past 38 digits) as declared; undeclared
              (PostgreSQL ``numeric``, SQLite), the largest scale in the first batch and a
              precision of 38 (76 if the first batch needs it); ``string`` if none fits.
              NaN decimals are null, as in JSON
float         ``float64``: NaN and ±Inf stay float values (JSON writes them as null)
boolean       ``bool``
date / time   ``date32`` / ``time64[us]``; a time with a zone (PostgreSQL ``timetz``), or
              MySQL's TIME interval when its first values are intervals, is ``string`` /
              ``duration[us]``
datetime      ``timestamp[us, tz=UTC]`` when the first batch's values carry a zone (each
              value converted to UTC), naive ``timestamp[us]`` otherwise
binary        ``binary``
json          ``string`` holding the JSON text the exact path writes
string, other ``string``
============  =============================================================================

A column whose first batch does not fit the type these rules give (PostgreSQL's
``infinity`` among dates, which the backend hands over as text) is ``string``, holding
the exact path's text. A later batch whose values do not fit the chosen type is converted value by value where
that loses nothing (any value to text in a string column, an integer to a decimal or a
float, text to UTF-8 bytes, 0/1 to a boolean, a decimal to the column's scale when its
extra digits are zeros). A value that would lose digits (a 65-bit integer in an ``int64``
column) ends the export with an error naming the column: never a rounded value.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import base64
import datetime as dt
import decimal
import itertools
from collections.abc import Callable, Iterable, Iterator, Sequence
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import orjson

from connector.errors import BadParamError, BadRequestError
from connector.models import Column
from connector.values import dumps
from connector.wire import record_keys

if TYPE_CHECKING:
    import pyarrow as pa

COLUMNAR_FORMATS = ("arrow", "parquet")
# A Parquet row group gathers this many rows (a few batches) before it is written: small
# groups make large files slow to read, and memory stays that of one group. Wide rows
# close a group at PARQUET_GROUP_BYTES of Arrow data instead (65,536 rows of 10 KB held
# 655 MB).
PARQUET_GROUP_ROWS = 65_536
PARQUET_GROUP_BYTES = 8 << 20
INSTALL = "pip install 'data-connector[arrow]'"

Batch = list[tuple[Any, ...]]
Shape = tuple[int, int] | None  # a decimal column's declared (precision, scale)


def pyarrow_installed() -> bool:
    """Whether pyarrow can be imported (tried once it is asked for: a columnar export
    needs it loaded anyway)."""
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        return False
    return True


def require_pyarrow(fmt: str) -> None:
    """Refuse a columnar format, before any query runs, when pyarrow is not installed."""
    if fmt in COLUMNAR_FORMATS and not pyarrow_installed():
        raise BadParamError(
            f"format={fmt} needs pyarrow, which this server does not have: install the "
            f"connector's arrow extra ({INSTALL}) or choose ndjson, csv or json."
        )


class ColumnarError(BadRequestError):
    """A value that the export's column type cannot hold without losing digits."""


def _text(value: Any) -> str:
    """A value as text, as the exact JSON path writes it (strings and bytes unquoted)."""
    if isinstance(value, str):
        return value
    if isinstance(value, bytes | bytearray | memoryview):
        return base64.b64encode(bytes(value)).decode("ascii")
    if isinstance(value, dt.date | dt.time):
        return value.isoformat()
    text = dumps(value)  # what the JSON path writes; a JSON string without its quotes
    return str(orjson.loads(text)) if text.startswith(b'"') else text.decode()


def json_text(value: Any) -> str | None:
    """A JSON column's value (parsed by the backend) as the JSON text the exact path
    writes: a JSON string value keeps its quotes."""
    return None if value is None else dumps(value).decode()


def _first(values: Sequence[Any]) -> list[Any]:
    return [value for value in values if value is not None]


def _decimal_digits(value: Decimal) -> tuple[int, int]:
    """(digits left of the point, digits right of it) of a finite decimal."""
    _, digits, exponent = value.as_tuple()
    assert isinstance(exponent, int)
    scale = max(0, -exponent)
    return max(0, len(digits) + exponent), scale


def _decimal_type(shape: Shape, values: Sequence[Any]) -> pa.DataType:
    import pyarrow as pa

    if shape is not None and 0 < shape[0] <= 76 and 0 <= shape[1] <= shape[0]:
        precision, scale = shape
        return pa.decimal128(precision, scale) if precision <= 38 else pa.decimal256(*shape)
    left = scale = 0
    for value in values:
        if isinstance(value, int):
            value = Decimal(value)
        if isinstance(value, Decimal) and value.is_finite():
            digits, places = _decimal_digits(value)
            left, scale = max(left, digits), max(scale, places)
        elif not isinstance(value, Decimal):
            return pa.string()
    if left + scale <= 38:
        return pa.decimal128(38, scale)
    if left + scale <= 76:
        return pa.decimal256(76, scale)
    return pa.string()


def _integer_type(values: Sequence[Any]) -> pa.DataType:
    import pyarrow as pa

    if all(isinstance(v, bool) or not isinstance(v, int) or -(2**63) <= v < 2**63 for v in values):
        return pa.int64()
    widest = max(len(str(abs(v))) for v in values if isinstance(v, int))
    if widest <= 38:
        return pa.decimal128(38, 0)
    return pa.decimal256(76, 0) if widest <= 76 else pa.string()


def column_type(column: Column, shape: Shape, first: Sequence[Any]) -> pa.DataType:
    """The Arrow type of one column, from its contract type, declared shape and the first
    batch's values (see the module's table)."""
    import pyarrow as pa

    values = _first(first)
    kind = column.type
    sample = values[0] if values else None
    if kind == "integer" and not any(isinstance(v, float | Decimal) for v in values):
        return _integer_type(values)
    if kind == "decimal" or (kind == "integer" and values):
        return _decimal_type(shape, values)
    if kind == "float":
        return pa.float64()
    if kind == "boolean":
        return pa.bool_()
    if kind == "date" and not isinstance(sample, dt.datetime):
        return pa.date32()
    if kind == "time":
        if isinstance(sample, dt.timedelta):
            return pa.duration("us")
        if isinstance(sample, dt.time) and sample.tzinfo is not None:
            return pa.string()
        return pa.time64("us")
    if kind == "datetime" or (kind == "date" and isinstance(sample, dt.datetime)):
        aware = isinstance(sample, dt.datetime) and sample.tzinfo is not None
        return pa.timestamp("us", tz="UTC" if aware else None)
    if kind == "binary":
        return pa.binary()
    return pa.string()


def _as_int(value: Any) -> Any:
    """An integral number as an int that fits 64 bits; anything else cannot be held."""
    if value is None:
        return None
    number = int(value)  # a float's or decimal's whole part; checked just below
    if number != value or not -(2**63) <= number < 2**63:
        raise ValueError
    return number


# Room for decimal256's 76 digits: the default context's 28 would refuse wider values.
_WIDE = decimal.Context(prec=100)


def _as_decimal(scale: int) -> Callable[[Any], Any]:
    quantum = Decimal(1).scaleb(-scale)

    def convert(value: Any) -> Any:
        if value is None:
            return None
        number = Decimal(str(value)) if isinstance(value, float) else Decimal(value)
        if not number.is_finite():
            return None
        exact = number.quantize(quantum, context=_WIDE)
        if exact != number:
            raise ValueError
        return exact

    return convert


def _as_bool(value: Any) -> Any:
    if value is None or isinstance(value, bool):
        return value
    if value in (0, 1):
        return bool(value)
    raise ValueError


def _as_bytes(value: Any) -> Any:
    return value.encode("utf-8") if isinstance(value, str) else value


def _as_float(value: Any) -> Any:
    return None if value is None else float(value)


def _converter(kind: pa.DataType) -> Callable[[Any], Any] | None:
    import pyarrow as pa

    if pa.types.is_string(kind):
        return lambda value: None if value is None else _text(value)
    if pa.types.is_int64(kind):
        return _as_int
    if pa.types.is_decimal(kind):
        return _as_decimal(kind.scale)
    if pa.types.is_floating(kind):
        return _as_float
    if pa.types.is_boolean(kind):
        return _as_bool
    if pa.types.is_binary(kind):
        return _as_bytes
    return None


def _array(column: Column, kind: pa.DataType, values: Sequence[Any]) -> pa.Array:
    """One column of one batch as ``kind``, converted value by value where pyarrow alone
    cannot (see the module docstring); raises ``ColumnarError`` rather than lose digits."""
    import pyarrow as pa

    if column.type == "json":
        values = [json_text(value) for value in values]
    try:
        return pa.array(values, type=kind, from_pandas=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, OverflowError, TypeError, ValueError):
        pass
    if pa.types.is_decimal(kind):
        values = [None if isinstance(v, Decimal) and not v.is_finite() else v for v in values]
    convert = _converter(kind)
    try:
        if convert is None:
            raise ValueError
        return pa.array([convert(value) for value in values], type=kind, from_pandas=False)
    except (
        pa.ArrowInvalid,
        pa.ArrowTypeError,
        OverflowError,
        TypeError,
        ValueError,
        ArithmeticError,
    ):
        raise ColumnarError(
            f"Column {column.name!r} holds a value after its first rows that its Arrow type "
            f"{kind} cannot hold exactly; cast it in the SQL (to text or a wider type) or "
            "export as ndjson."
        ) from None


class Columns:
    """The export's Arrow schema, decided on the first batch, and batches converted to it."""

    def __init__(self, columns: Sequence[Column], shapes: Sequence[Shape] | None = None) -> None:
        self.columns = list(columns)
        self.names = record_keys(self.columns)
        self.shapes = list(shapes) if shapes is not None else [None] * len(self.columns)
        self.schema: pa.Schema | None = None
        self._first: tuple[Batch, list[pa.Array]] = ([], [])

    def decide(self, first: Batch) -> pa.Schema:
        """The schema, from the column types and ``first``; a column whose first batch
        does not fit the type its rules give (a PostgreSQL ``infinity`` among dates, which
        the backend hands over as text) is ``string``. ``first`` is converted on the way."""
        import pyarrow as pa

        samples = list(zip(*first, strict=True)) if first else [()] * len(self.columns)
        fields, arrays = [], []
        for name, column, shape, sample in zip(
            self.names, self.columns, self.shapes, samples, strict=True
        ):
            kind = column_type(column, shape, sample)
            try:
                array = _array(column, kind, sample)
            except ColumnarError:
                kind = pa.string()
                array = _array(column, kind, sample)
            fields.append(pa.field(name, kind))
            arrays.append(array)
        self.schema = pa.schema(fields)
        self._first = (first, arrays)
        return self.schema

    def record_batch(self, batch: Batch) -> pa.RecordBatch:
        import pyarrow as pa

        schema = self.schema if self.schema is not None else self.decide(batch)
        if not self.columns:
            return pa.RecordBatch.from_pylist([{}] * len(batch), schema=schema)
        done, arrays = self._first
        if batch is done:
            self._first = ([], [])  # converted in ``decide``; not kept any longer
        else:
            arrays = [
                _array(column, field.type, values)
                for column, field, values in zip(
                    self.columns, schema, zip(*batch, strict=True), strict=True
                )
            ]
        return pa.RecordBatch.from_arrays(arrays, schema=schema)


class Sink:
    """A write-only file for pyarrow's writers that hands over what was written so far."""

    closed = False

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: Any) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        return None

    def take(self) -> bytes:
        data, self._parts = b"".join(self._parts), []
        return data


def _first_and_rest(batches: Iterable[Batch]) -> tuple[Batch, Iterator[Batch]]:
    """The first batch (it decides the schema) and an iterator over the others."""
    iterator = iter(batches)
    return next(iterator, []), iterator


def encode_arrow(
    columns: Sequence[Column], batches: Iterable[Batch], shapes: Sequence[Shape] | None = None
) -> Iterator[bytes]:
    """One Arrow IPC stream: the schema, then one record batch per fetched batch."""
    import pyarrow as pa

    table = Columns(columns, shapes)
    first, rest = _first_and_rest(batches)
    sink = Sink()
    writer = pa.ipc.new_stream(sink, table.decide(first))
    yield sink.take()
    for batch in itertools.chain([first], rest) if first else ():
        writer.write_batch(table.record_batch(batch))
        yield sink.take()
    writer.close()
    yield sink.take()


def encode_parquet(
    columns: Sequence[Column], batches: Iterable[Batch], shapes: Sequence[Shape] | None = None
) -> Iterator[bytes]:
    """One Parquet file, a row group per ``PARQUET_GROUP_ROWS`` rows (or
    ``PARQUET_GROUP_BYTES``), written as it goes."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = Columns(columns, shapes)
    first, rest = _first_and_rest(batches)
    sink = Sink()
    schema = table.decide(first)
    writer = pq.ParquetWriter(sink, schema)
    pending: list[pa.RecordBatch] = []
    rows = size = 0
    for batch in itertools.chain([first], rest) if first else ():
        converted = table.record_batch(batch)
        pending.append(converted)
        rows += converted.num_rows
        size += converted.nbytes
        if rows >= PARQUET_GROUP_ROWS or size >= PARQUET_GROUP_BYTES:
            writer.write_table(pa.Table.from_batches(pending, schema=schema))
            pending, rows, size = [], 0, 0
            yield sink.take()
    if pending:
        writer.write_table(pa.Table.from_batches(pending, schema=schema))
    writer.close()
    yield sink.take()
