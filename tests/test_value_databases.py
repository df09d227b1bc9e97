"""Values end to end: literals of every awkward type selected in real SQLite, MariaDB,
PostgreSQL and DuckDB, read over HTTP from a real server process as the query body, the
NDJSON export and the CSV export, and compared with the contract's "Values as JSON" form.

JSON is read with decimals kept as their text (``parse_float=Decimal``), so a digit or an
exponent lost on the way fails. The literals include the cases orjson writes wrongly by
itself (a time with 10,000-99,999 microseconds, PostgreSQL ``timetz``, an offset with
seconds), integers past 64 bits, NaN and infinities, negative zero, bytes and JSON.
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import sqlite3
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import LiveServer, require_service
from tests.netdb import port_open


def N(text: str) -> tuple[str, str]:
    """A number with a fraction or exponent (decimal or float) as it must arrive: its text."""
    return ("number", text)


def exact(value: Any) -> Any:
    """Numbers read as ``Decimal`` compared by their text, digit for digit and sign for sign
    (``Decimal`` equality would take ``1.0`` for ``1.00`` and ``-0.0`` for ``0.0``)."""
    if isinstance(value, Decimal):
        return ("number", str(value))
    if isinstance(value, list):
        return [exact(v) for v in value]
    if isinstance(value, dict):
        return {k: exact(v) for k, v in value.items()}
    return value


# kind -> (SQL, columns as (name, type), the row in the contract's JSON, the CSV line).
CASES: dict[str, tuple[str, list[tuple[str, str]], list[Any], str]] = {
    "sqlite": (
        "SELECT 9223372036854775807 AS i, -9223372036854775808 AS j, 1.5e300 * 1e300 AS inf, "
        "-0.0 AS nz, x'00ff' AS b, 'é😀\r\n' AS s, 0.1 AS f, 'a' || char(13) || 'b' AS cr",
        [
            ("i", "integer"),
            ("j", "integer"),
            ("inf", "float"),
            ("nz", "float"),
            ("b", "binary"),
            ("s", "string"),
            ("f", "float"),
            ("cr", "string"),
        ],
        [2**63 - 1, -(2**63), None, N("-0.0"), "AP8=", "é😀\r\n", N("0.1"), "a\rb"],
        '9223372036854775807,-9223372036854775808,,-0.0,AP8=,"é😀\r\n",0.1,"a\rb"',
    ),
    "mysql": (
        "SELECT CAST('12345678901234567890.123456789' AS DECIMAL(65,30)) AS d, "
        "18446744073709551615 AS u, DATE '2024-05-01' AS day, "
        "CAST('2024-05-01 13:45:00.012345' AS DATETIME(6)) AS ts, "
        "CAST('-838:59:59' AS TIME) AS tneg, CAST('01:02:03.012345' AS TIME(6)) AS t6, "
        "x'00ff' AS b",
        [
            ("d", "decimal"),
            ("u", "integer"),
            ("day", "date"),
            ("ts", "datetime"),
            ("tneg", "time"),
            ("t6", "time"),
            ("b", "binary"),
        ],
        [
            N("12345678901234567890.123456789000000000000000000000"),
            2**64 - 1,
            "2024-05-01",
            "2024-05-01T13:45:00.012345",
            "-838:59:59",
            "01:02:03.012345",
            "AP8=",
        ],
        "12345678901234567890.123456789000000000000000000000,18446744073709551615,2024-05-01,"
        "2024-05-01T13:45:00.012345,-838:59:59,01:02:03.012345,AP8=",
    ),
    "postgresql": (
        "SELECT 123456789012345678901234567890.000100::numeric AS d, 1e-30::numeric AS small, "
        "'NaN'::float8 AS nan, '-Infinity'::float8 AS ninf, 'NaN'::numeric AS nnan, "
        "'-0'::float8 AS nz, '01:02:03.012345'::time AS t, "
        "'13:45:00.012345+05:30'::timetz AS tz, '13:45:00+00:19:32'::timetz AS tzs, "
        "'2024-05-01 13:45:00.012345'::timestamp AS ts, "
        "'2024-05-01 13:45:00+02'::timestamptz AT TIME ZONE 'UTC' AS utc, "
        "'\\x00ff'::bytea AS b, '{\"a\": [1, 2.5, null]}'::jsonb AS j, 2::numeric ^ 70 AS p",
        [
            ("d", "decimal"),
            ("small", "decimal"),
            ("nan", "float"),
            ("ninf", "float"),
            ("nnan", "decimal"),
            ("nz", "float"),
            ("t", "time"),
            ("tz", "time"),
            ("tzs", "time"),
            ("ts", "datetime"),
            ("utc", "datetime"),
            ("b", "binary"),
            ("j", "json"),
            ("p", "decimal"),
        ],
        [
            N("123456789012345678901234567890.000100"),
            N("1E-30"),
            None,
            None,
            None,
            N("-0.0"),
            "01:02:03.012345",
            "13:45:00.012345+05:30",
            "13:45:00+00:19:32",
            "2024-05-01T13:45:00.012345",
            "2024-05-01T11:45:00",
            "AP8=",
            {"a": [1, N("2.5"), None]},
            N("1180591620717411303424.0000000000000000"),
        ],
        "123456789012345678901234567890.000100,1E-30,,,,-0.0,01:02:03.012345,"
        "13:45:00.012345+05:30,13:45:00+00:19:32,2024-05-01T13:45:00.012345,"
        '2024-05-01T11:45:00,AP8=,"{""a"":[1,2.5,null]}",1180591620717411303424.0000000000000000',
    ),
    "duckdb": (
        "SELECT 170141183460469231731687303715884105727::HUGEINT AS h, "
        "1234567890123456789012345678.0123456789::DECIMAL(38,10) AS d, "
        "TIME '01:02:03.012345' AS t, '13:45:00.012345+05:30'::TIMETZ AS tz, "
        "TIMESTAMP '2024-05-01 13:45:00.012345' AS ts, '\\x00\\xFF'::BLOB AS b, "
        "'nan'::DOUBLE AS nan",
        [
            ("h", "integer"),
            ("d", "decimal"),
            ("t", "time"),
            ("tz", "time"),
            ("ts", "datetime"),
            ("b", "binary"),
            ("nan", "float"),
        ],
        [
            2**127 - 1,
            N("1234567890123456789012345678.0123456789"),
            "01:02:03.012345",
            "13:45:00.012345+05:30",
            "2024-05-01T13:45:00.012345",
            "AP8=",
            None,
        ],
        "170141183460469231731687303715884105727,1234567890123456789012345678.0123456789,"
        "01:02:03.012345,13:45:00.012345+05:30,2024-05-01T13:45:00.012345,AP8=,",
    ),
}


def connection_body(kind: str, folder: Path) -> dict[str, Any]:
    if kind == "sqlite":
        path = folder / "literals.db"
        sqlite3.connect(path).close()
        return {"kind": "sqlite", "options": {"path": str(path)}}
    if kind == "duckdb":
        import duckdb

        path = folder / "literals.duckdb"
        duckdb.connect(str(path)).close()
        return {"kind": "duckdb", "options": {"path": str(path)}}
    if kind == "mysql":
        require_service(port_open("127.0.0.1", 3306), "no MariaDB on 127.0.0.1:3306")
        return {"kind": "mysql", "options": {"host": "127.0.0.1", "port": 3306, "user": "root"}}
    require_service(port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    options = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": "postgres"}
    return {"kind": "postgresql", "options": options}


@pytest.mark.parametrize("kind", list(CASES))
def test_literals_arrive_in_the_contracts_form(
    live_server: LiveServer, tmp_path: Path, kind: str
) -> None:
    sql, columns, row, csv_line = CASES[kind]
    name = f"lit_{kind}_{secrets.token_hex(3)}"
    with live_server.client() as client:
        created = client.post(
            "/connections", json={"name": name, **connection_body(kind, tmp_path)}
        )
        assert created.status_code == 201, created.text
        try:
            body = client.post(f"/connections/{name}/query", json={"sql": sql})
            assert body.status_code == 200, body.text
            answer = json.loads(body.content, parse_float=Decimal)
            assert [(c["name"], c["type"]) for c in answer["columns"]] == columns
            assert exact(answer["rows"][0]) == row
            names = [column for column, _ in columns]

            ndjson = client.post(f"/connections/{name}/export?format=ndjson", json={"sql": sql})
            assert ndjson.status_code == 200, ndjson.text
            record = json.loads(ndjson.content.splitlines()[0], parse_float=Decimal)
            assert exact(record) == dict(zip(names, row, strict=True))

            exported = client.post(f"/connections/{name}/export?format=csv", json={"sql": sql})
            assert exported.status_code == 200, exported.text
            text = exported.content.decode()
            assert text == ",".join(names) + "\n" + csv_line + "\n"
            assert len(list(csv.reader(io.StringIO(text, newline="")))) == 2  # it reads back
        finally:
            assert client.delete(f"/connections/{name}").status_code == 204
