"""Database values as JSON and CSV (connector.values), as the contract's table says."""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal

import orjson

from connector.values import csv_value, dumps, format_timedelta, infer_column_types


def test_values_integers_beyond_64_bits_stay_exact() -> None:
    big = 2**64 + 1
    assert dumps([big, -(2**70), 2**63 - 1]) == f"[{big},{-(2**70)},{2**63 - 1}]".encode()


def test_values_integers_beyond_2_53_are_exact_numbers() -> None:
    assert dumps([2**53 + 1]) == b"[9007199254740993]"


def test_values_decimals_are_written_exactly() -> None:
    value = Decimal("12345678901234567890.123456789012345678")
    assert dumps({"d": value}) == b'{"d":12345678901234567890.123456789012345678}'
    assert dumps([Decimal("1E+5"), Decimal("-0.000")]) == b"[1E+5,-0.000]"
    assert orjson.loads(dumps([Decimal("1E+5")])) == [100000.0]


def test_values_nan_and_infinity_are_null() -> None:
    nan = float("nan")
    inf = float("inf")
    assert (
        dumps([nan, inf, -inf, Decimal("NaN"), Decimal("Infinity")])
        == b"[null,null,null,null,null]"
    )


def test_values_dates_and_times_are_iso() -> None:
    tz = dt.timezone(dt.timedelta(hours=-5))
    values = [
        dt.date(2024, 5, 1),
        dt.datetime(2024, 5, 1, 13, 45),
        dt.datetime(2024, 5, 1, 13, 45, tzinfo=tz),
        dt.time(13, 45),
    ]
    assert orjson.loads(dumps(values)) == [
        "2024-05-01",
        "2024-05-01T13:45:00",
        "2024-05-01T13:45:00-05:00",
        "13:45:00",
    ]


def test_values_mysql_time_intervals() -> None:
    assert format_timedelta(dt.timedelta(hours=13, minutes=45)) == "13:45:00"
    assert format_timedelta(-dt.timedelta(hours=838, minutes=59, seconds=59)) == "-838:59:59"
    assert format_timedelta(dt.timedelta(hours=30)) == "30:00:00"
    assert format_timedelta(-dt.timedelta(seconds=1, microseconds=500000)) == "-00:00:01.500000"


def test_values_bytes_are_base64() -> None:
    assert dumps([b"\x00\xff", memoryview(b"ab")]) == b'["AP8=","YWI="]'


def test_values_json_and_uuid_pass_through() -> None:
    ident = uuid.UUID(int=1)
    assert orjson.loads(dumps([{"a": [1, {"b": None}]}, ident])) == [
        {"a": [1, {"b": None}]},
        str(ident),
    ]


def test_values_column_types_inferred_from_values() -> None:
    rows = [(None, 1, 1, "a", b"x", dt.date(2024, 1, 1)), (None, 2, 2.5, "b", None, None)]
    assert infer_column_types(6, rows) == [
        "unknown",
        "integer",
        "float",
        "string",
        "binary",
        "date",
    ]


def test_values_csv_cells() -> None:
    assert csv_value(None) is None
    assert csv_value(True) == "true"
    assert csv_value(float("nan")) == ""
    assert csv_value(Decimal("1.50")) == "1.50"
    assert csv_value(dt.datetime(2024, 5, 1, 13, 45)) == "2024-05-01T13:45:00"
    assert csv_value(b"\x00\xff") == "AP8="
    assert csv_value({"a": 1}) == '{"a":1}'
