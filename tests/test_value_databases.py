"""Values end to end: literals of every awkward type selected in real SQLite, MariaDB,
PostgreSQL and DuckDB, read over HTTP from a real server process as the query body, the
NDJSON export and the CSV export, and compared with the contract's "Values as JSON" form.

JSON is read with numbers kept as the text sent (``parse_float``), so a digit, a sign or an
exponent lost on the way fails. The literals include the cases orjson writes wrongly by
itself (a time with 10,000-99,999 microseconds, PostgreSQL ``timetz``, an offset with
seconds), integers past 64 bits, NaN and infinities, negative zero, bytes and JSON.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import secrets
import sqlite3
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from tests.conftest import LiveServer, require_service
from tests.netdb import port_open


def N(text: str) -> tuple[str, str]:
    """A number with a fraction or exponent (decimal or float) as it must arrive: its text."""
    return ("number", text)


def number(text: str) -> tuple[str, str]:
    """``json.loads``' hook for numbers with a fraction or exponent: their text as sent."""
    return ("number", text)


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
            N("0.000000000000000000000000000001"),
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
        "123456789012345678901234567890.000100,0.000000000000000000000000000001,,,,-0.0,01:02:03.012345,"
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
            answer = json.loads(body.content, parse_float=number)
            assert [(c["name"], c["type"]) for c in answer["columns"]] == columns
            assert answer["rows"][0] == row
            names = [column for column, _ in columns]

            ndjson = client.post(f"/connections/{name}/export?format=ndjson", json={"sql": sql})
            assert ndjson.status_code == 200, ndjson.text
            record = json.loads(ndjson.content.splitlines()[0], parse_float=number)
            assert record == dict(zip(names, row, strict=True))

            exported = client.post(f"/connections/{name}/export?format=csv", json={"sql": sql})
            assert exported.status_code == 200, exported.text
            text = exported.content.decode()
            assert text == ",".join(names) + "\n" + csv_line + "\n"
            assert len(list(csv.reader(io.StringIO(text, newline="")))) == 2  # it reads back
        finally:
            assert client.delete(f"/connections/{name}").status_code == 204


# The same, generated: values bound as text, cast by the database, and the answer compared
# with the database's own text of the value (a decimal's digits as it prints them; a time
# as the same time and offset). Bounded and derandomized.
DATABASE_EXAMPLES = settings(max_examples=30, derandomize=True, database=None, deadline=None)

NUMERIC_TEXT = st.builds(
    lambda sign, digits, scale: (
        ("-" if sign else "")
        + (digits[:-scale] or "0")
        + ("." + digits[-scale:].rjust(scale, "0") if scale else "")
    ),
    st.booleans(),
    st.text("0123456789", min_size=1, max_size=40),
    st.integers(0, 30),
)
OFFSET_SECONDS = st.sampled_from([0, 3600, -18000, 19800, 1172, -3723]) | st.integers(
    -14 * 3600, 14 * 3600
)
TIMETZ_TEXT = st.builds(
    lambda t, offset: t.replace(tzinfo=dt.timezone(dt.timedelta(seconds=offset))).isoformat(),
    st.times(),
    OFFSET_SECONDS,
)


def raw_cells(content: bytes) -> list[Any]:
    """The first row's cells, numbers as their JSON text."""
    body = json.loads(
        content, parse_float=lambda s: ("number", s), parse_int=lambda s: ("number", s)
    )
    return list(body["rows"][0])


@pytest.fixture(scope="module")
def typed(
    live_server: LiveServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    folder = tmp_path_factory.mktemp("typed")
    names = {
        kind: f"typed_{kind}_{secrets.token_hex(3)}" for kind in ("postgresql", "mysql", "duckdb")
    }
    with live_server.client() as client:
        for kind, name in names.items():
            body = {"name": name, **connection_body(kind, folder)}
            assert client.post("/connections", json=body).status_code == 201
        yield names
        for name in names.values():
            client.delete(f"/connections/{name}")


@pytest.mark.parametrize(
    ("kind", "cast"),
    [
        ("postgresql", "CAST(:v AS numeric)"),
        ("mysql", "CAST(:v AS DECIMAL(65, 30))"),
        ("duckdb", "CAST(:v AS DECIMAL(38, 10))"),
    ],
)
def test_generated_decimals_arrive_as_the_database_prints_them(
    live_server: LiveServer, typed: dict[str, str], kind: str, cast: str
) -> None:
    sql = f"SELECT {cast} AS n, CAST({cast} AS CHAR(100)) AS t"
    if kind != "mysql":
        sql = f"SELECT {cast} AS n, CAST({cast} AS VARCHAR) AS t"
    digits = {"postgresql": 60, "mysql": 35, "duckdb": 28}[kind]
    scale = {"postgresql": 30, "mysql": 30, "duckdb": 10}[kind]

    @DATABASE_EXAMPLES
    @given(NUMERIC_TEXT)
    def check(text: str) -> None:
        whole, _, fraction = text.lstrip("-").partition(".")
        assume(len(whole.lstrip("0")) <= digits - scale and len(fraction) <= scale)
        with live_server.client() as client:
            answer = client.post(
                f"/connections/{typed[kind]}/query", json={"sql": sql, "params": {"v": text}}
            )
        assert answer.status_code == 200, answer.text
        number, printed = raw_cells(answer.content)
        assert number == ("number", printed), (text, number, printed)
        assert Decimal(printed) == Decimal(text)

    check()


@pytest.mark.parametrize(
    ("kind", "cast"),
    [("postgresql", "CAST(:v AS timetz)"), ("duckdb", "CAST(:v AS TIMETZ)")],
)
def test_generated_times_with_offsets_keep_time_and_offset(
    live_server: LiveServer, typed: dict[str, str], kind: str, cast: str
) -> None:
    sql = f"SELECT {cast} AS v, CAST({cast} AS VARCHAR) AS t"

    @DATABASE_EXAMPLES
    @given(TIMETZ_TEXT)
    def check(text: str) -> None:
        with live_server.client() as client:
            answer = client.post(
                f"/connections/{typed[kind]}/query", json={"sql": sql, "params": {"v": text}}
            )
        assert answer.status_code == 200, answer.text
        value, printed = answer.json()["rows"][0]
        ours, theirs = dt.time.fromisoformat(value), dt.time.fromisoformat(printed)
        assert ours == theirs and ours.utcoffset() == theirs.utcoffset(), (text, value, printed)
        assert ours == dt.time.fromisoformat(text)

    check()
