"""Every value type round-trips exactly through the wire encoding (Hypothesis).

Each property writes generated database values the way the server does — the query body
(``wire.result_body`` through ``values.dumps``, rows as arrays and as records), the NDJSON,
JSON and CSV exports (``connector.export``) — reads the bytes back as a client would
(stdlib ``json`` with decimals parsed as ``Decimal``, the ``csv`` module) and checks the
value is the one the database gave, in the contract's form ("Values as JSON" in the
contract): decimals with their exact digits and exponent, integers of any size, NaN and
infinities as ``null``, ISO 8601 dates, times and datetimes with their offset (seconds and
all), bytes as base64, JSON as the parsed value.

Examples are bounded and derandomized, so the run is fast and the same every time.
"""

from __future__ import annotations

import base64
import csv
import datetime as dt
import io
import json
import math
import re
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from connector.export import encode_csv, encode_json, encode_ndjson
from connector.models import Column, QueryResult
from connector.values import dumps, exact_times_in, exact_times_needed, format_timedelta
from connector.wire import result_body

# Derandomized: the same examples on every run; no example database written to disk.
BOUNDED = settings(
    max_examples=150,
    derandomize=True,
    database=None,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Microseconds of every magnitude: the fraction's leading zeros are where writers slip.
MICROS = st.sampled_from(
    [0, 1, 9, 10, 99, 100, 999, 1000, 9999, 10000, 12345, 99999, 100000, 999999]
) | st.integers(0, 999_999)

# Fixed offsets as databases give them: whole hours, minutes, and seconds (historical
# zones, e.g. Amsterdam in 1900 is +00:19:32), strictly inside +-24 h.
OFFSETS = st.builds(
    lambda seconds: dt.timezone(dt.timedelta(seconds=seconds)),
    st.sampled_from([0, 3600, -18000, 19800, 1172, -3723, 86399, -86399])
    | st.integers(-86399, 86399),
)

DECIMALS = st.builds(
    lambda sign, digits, exponent: Decimal((sign, tuple(digits), exponent)),
    st.integers(0, 1),
    st.lists(st.integers(0, 9), min_size=1, max_size=60),
    st.integers(-60, 60),
) | st.decimals(allow_nan=False, allow_infinity=False)

INTEGERS = st.sampled_from(
    [0, -1, 2**53 + 1, 2**63 - 1, -(2**63), 2**63, 2**64 - 1, 2**64, -(2**63) - 1]
) | st.integers(-(2**200), 2**200)

DATETIMES = st.builds(
    lambda value, micro, tz: value.replace(microsecond=micro, tzinfo=tz),
    st.datetimes(),
    MICROS,
    st.none() | OFFSETS,
)
TIMES = st.builds(
    lambda value, micro, tz: value.replace(microsecond=micro, tzinfo=tz),
    st.times(),
    MICROS,
    st.none() | OFFSETS,
)
# MySQL TIME is an interval from -838:59:59 to 838:59:59.
INTERVALS = st.timedeltas(
    min_value=-dt.timedelta(hours=838, minutes=59, seconds=59),
    max_value=dt.timedelta(hours=838, minutes=59, seconds=59),
)

ODD_TEXT = st.sampled_from(
    ["", "\x00", "a\nb", '"quoted", comma', "\u2028\u2029", "\ufeffbom", "e\u0301", "\U0001f600"]
) | st.text(st.characters(codec="utf-8"))

JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**100), 2**100)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(st.characters(codec="utf-8")),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(st.characters(codec="utf-8"), max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)

ISO_DATE = r"-?\d{4,}-\d\d-\d\d"
ISO_TIME = r"\d\d:\d\d:\d\d(\.\d{6})?([+-]\d\d:\d\d(:\d\d(\.\d{6})?)?)?"


def column(kind: str) -> list[Column]:
    return [Column("v", kind)]


def through_body(value: Any, kind: str) -> list[bytes]:
    """The value as each JSON writer sends it: the raw JSON text of the one cell."""
    result = QueryResult("q_1", column(kind), [(value,)], truncated=False, elapsed_ms=1.0)
    texts = [dumps(result_body(result)), dumps(result_body(result, "records"))]
    texts.append(b"".join(encode_ndjson(column(kind), [[(value,)]])))
    texts.append(b"".join(encode_json(column(kind), [[(value,)]])))
    return texts


def cells(text: bytes, **parse: Any) -> Any:
    """The one cell of a body or export, parsed by the stdlib (``parse`` as json.loads)."""
    body = json.loads(text, **parse)
    if isinstance(body, dict):  # the query body
        row = body["rows"][0]
        return row["v"] if isinstance(row, dict) else row[0]
    if isinstance(body, list):  # the JSON export
        return body[0]["v"]
    raise AssertionError(text)


def all_cells(value: Any, kind: str, **parse: Any) -> list[Any]:
    found = []
    for text in through_body(value, kind):
        if text.count(b"\n") == 1 and text.endswith(b"\n") and text.startswith(b"{"):
            found.append(json.loads(text, **parse)["v"])  # NDJSON: one object per line
        else:
            found.append(cells(text, **parse))
    return found


def csv_cell(value: Any, kind: str) -> str:
    text = b"".join(encode_csv(column(kind), [[(value,)]])).decode("utf-8")
    rows = list(csv.reader(io.StringIO(text, newline="")))
    assert rows[0] == ["v"] and len(rows) == 2, text
    return rows[1][0] if rows[1] else ""


def as_decimal(**_: Any) -> dict[str, Any]:
    return {"parse_float": Decimal, "parse_int": Decimal}


@BOUNDED
@given(DECIMALS)
def test_decimals_keep_their_exact_digits_and_exponent(value: Decimal) -> None:
    for cell in all_cells(value, "decimal", **as_decimal()):
        assert isinstance(cell, Decimal)
        assert cell.as_tuple() == value.as_tuple(), (value, cell)
    assert Decimal(csv_cell(value, "decimal")).as_tuple() == value.as_tuple()


@BOUNDED
@given(INTEGERS)
def test_integers_of_any_size_are_exact_numbers(value: int) -> None:
    for cell in all_cells(value, "integer"):
        assert type(cell) is int and cell == value
    assert int(csv_cell(value, "integer")) == value


@BOUNDED
@given(st.floats())
def test_floats_round_trip_and_nan_or_infinity_is_null(value: float) -> None:
    finite = math.isfinite(value)
    for cell in all_cells(value, "float"):
        if not finite:
            assert cell is None
            continue
        assert isinstance(cell, int | float) and float(cell) == value
        assert math.copysign(1, float(cell)) == math.copysign(1, value)  # -0.0 stays
    text = csv_cell(value, "float")
    assert (
        (float(text) == value and math.copysign(1, float(text)) == math.copysign(1, value))
        if (finite)
        else text == ""
    )


@BOUNDED
@given(st.dates())
def test_dates_are_iso(value: dt.date) -> None:
    for cell in [*all_cells(value, "date"), csv_cell(value, "date")]:
        assert re.fullmatch(ISO_DATE, cell), cell
        assert dt.date.fromisoformat(cell) == value


def same_instant_and_offset(parsed: Any, value: Any) -> None:
    assert parsed == value, (parsed, value)
    assert parsed.utcoffset() == value.utcoffset(), (parsed, value)
    assert (parsed.tzinfo is None) == (value.tzinfo is None)


@BOUNDED
@given(DATETIMES)
def test_datetimes_keep_microseconds_and_their_offset(value: dt.datetime) -> None:
    for cell in [*all_cells(value, "datetime"), csv_cell(value, "datetime")]:
        assert re.fullmatch(f"{ISO_DATE}T{ISO_TIME}", cell), cell
        same_instant_and_offset(dt.datetime.fromisoformat(cell), value)


@BOUNDED
@given(TIMES)
def test_times_keep_microseconds_and_their_offset(value: dt.time) -> None:
    for cell in [*all_cells(value, "time"), csv_cell(value, "time")]:
        assert re.fullmatch(ISO_TIME, cell), cell
        same_instant_and_offset(dt.time.fromisoformat(cell), value)


def parse_interval(text: str) -> dt.timedelta:
    match = re.fullmatch(r"(-?)(\d+):(\d\d):(\d\d)(?:\.(\d{6}))?", text)
    assert match, text
    sign, hours, minutes, seconds, micro = match.groups()
    span = dt.timedelta(
        hours=int(hours), minutes=int(minutes), seconds=int(seconds), microseconds=int(micro or 0)
    )
    return -span if sign else span


@BOUNDED
@given(INTERVALS)
def test_mysql_time_intervals_round_trip(value: dt.timedelta) -> None:
    assert format_timedelta(value) == csv_cell(value, "time")
    for cell in [*all_cells(value, "time"), csv_cell(value, "time")]:
        assert parse_interval(cell) == value


@BOUNDED
@given(st.binary(max_size=200))
def test_bytes_are_base64(value: bytes) -> None:
    for cell in [*all_cells(value, "binary"), csv_cell(value, "binary")]:
        assert base64.b64decode(cell, validate=True) == value
    assert all_cells(memoryview(value), "binary")[0] == base64.b64encode(value).decode()


@BOUNDED
@given(JSON_VALUES)
def test_json_values_are_the_parsed_value(value: Any) -> None:
    for cell in all_cells(value, "json"):
        assert cell == value
    if isinstance(value, dict | list):  # a CSV cell holds the value as JSON text
        assert json.loads(csv_cell(value, "json")) == value


@BOUNDED
@given(ODD_TEXT)
def test_strings_with_odd_unicode_round_trip(value: str) -> None:
    for cell in all_cells(value, "string"):
        assert cell == value
    # CSV writes NULL and the empty string alike: an empty cell.
    assert csv_cell(value, "string") == value


@BOUNDED
@given(
    st.lists(st.none() | TIMES, min_size=1, max_size=5),
    st.lists(st.datetimes(), min_size=1),
    st.none() | OFFSETS,
)
def test_an_export_batch_with_times_after_nulls_is_exact(
    times: list[dt.time | None], naive: list[dt.datetime], tz: dt.timezone | None
) -> None:
    # The export decides per batch whether orjson may write dates itself; a time column
    # whose first rows are NULL must still be found. A database column holds one type:
    # its datetimes all have an offset, or none has.
    stamps = [value.replace(tzinfo=tz) for value in naive]
    rows = [(t, stamps[i % len(stamps)]) for i, t in enumerate(times)]
    columns = [Column("t", "time"), Column("d", "datetime")]
    lines = b"".join(encode_ndjson(columns, [rows])).splitlines()
    for line, (t, d) in zip(lines, rows, strict=True):
        record = json.loads(line)
        assert record["t"] == (None if t is None else t.isoformat())
        same_instant_and_offset(dt.datetime.fromisoformat(record["d"]), d)


def test_exact_times_are_needed_only_for_times_offsets_and_containers() -> None:
    naive = [(1, dt.date(2024, 1, 1), dt.datetime(2024, 1, 1, 1, 2, 3, 45678), "x")]
    assert not exact_times_needed(naive)
    assert not exact_times_needed([])
    utc = dt.UTC
    assert exact_times_needed([(None, 1), (dt.time(1, 2, 3, 12345), 2)])
    assert exact_times_needed([(dt.datetime(2024, 1, 1, tzinfo=utc),)])
    assert exact_times_needed([([dt.time(1)],)])  # an array of times (PostgreSQL time[])


def test_the_orjson_slips_are_written_exactly() -> None:
    # The three cases orjson 3.13 writes wrongly by itself, pinned by value.
    amsterdam_1900 = dt.timezone(dt.timedelta(minutes=19, seconds=32))
    values = [
        dt.time(1, 2, 3, 12345),
        dt.time(13, 45, tzinfo=dt.timezone(dt.timedelta(hours=2))),
        dt.datetime(1900, 1, 1, tzinfo=amsterdam_1900),
    ]
    assert json.loads(dumps(values)) == [
        "01:02:03.012345",
        "13:45:00+02:00",
        "1900-01-01T00:00:00+00:19:32",
    ]


def test_a_body_uses_the_exact_writer_only_where_it_may_hold_a_slip() -> None:
    naive = {"rows": [(1, dt.datetime(2024, 1, 1, 1, 2, 3, 45678))], "columns": [{"n": "a"}]}
    assert not exact_times_in(naive)
    assert exact_times_in({"rows": [{"t": None}, {"t": dt.time(1, 2, 3, 12345)}]})
    assert exact_times_in({"meta": [dt.time(1)]})
    assert not exact_times_in([[1], 2])  # not rows, but nothing to slip on
    assert exact_times_in([(None,), 2])  # not rows and undecidable: the exact writer
    assert dumps([[1], 2]) == b"[[1],2]"


def test_decimals_are_written_in_the_notation_databases_print() -> None:
    # psycopg and PyMySQL give NUMERIC 0.0000000 as Decimal('0E-7'), which str() writes in
    # scientific notation; PostgreSQL and MariaDB print 0.0000000 (found end to end).
    values = [Decimal("0E-7"), Decimal("1E-30"), Decimal("1E+5"), Decimal("-0.000")]
    assert dumps(values) == b"[0.0000000,0.000000000000000000000000000001,1E+5,-0.000]"
    assert csv_cell(Decimal("0E-7"), "decimal") == "0.0000000"
