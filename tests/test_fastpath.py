"""Exports the database writes itself (``connector.fastpath``) are byte for byte the exact
path's: every awkward value, every format, with the plan on and off. Where a plan must
not be made (a converted column type, parameters, duplicate names), the export is still
the same because it runs the exact path; the tests also check which path ran."""

from __future__ import annotations

import math
import random
import sqlite3
import struct
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from connector.backends import sqlite_native
from connector.backends.sqlite import SqliteBackend

FORMATS = ("ndjson", "csv")  # the formats SQLite writes itself; JSON runs the exact path


@pytest.fixture(autouse=True)
def _postgresql_copy_on(monkeypatch: pytest.MonkeyPatch) -> None:
    """The COPY-written exports are off by default (a client leaving mid-COPY is not yet
    stopped); these tests check what they write, so they turn them on."""
    import connector.backends.postgresql as postgresql

    monkeypatch.setattr(postgresql, "COPY_EXPORTS", True)


@pytest.fixture
def awkward(tmp_path: Path) -> Path:
    path = tmp_path / "awkward.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, i, r REAL, t TEXT, b BLOB, x)")
        values: list[tuple[Any, ...]] = [
            (1, 2**63 - 1, 0.1 + 0.2, "plain", b"\x00\xffbytes", None),
            (2, -(2**63), 1e20, 'quote " comma , newline \n cr \r tab \t', None, 1.5),
            (3, 0, 1e-5, "\x01starts with a mark", b"", "text in any column"),
            (4, None, 5.0, "\x03also\x02", None, b"blob in any column"),
            (5, 7, 123.45, "", None, 2**62),
            (6, 8, 1 / 3, "é \u2028 \U0001f600 \x7f \x1f", None, 1e300),
            (7, 9, 1e15, "\x02", None, 0.0),
            (8, 10, 999999999999999.0, ",", None, -2.5e-300),
            (9, 11, 0.0001, '"', None, 12345678.9),
            (10, 12, 1e16, "\n", None, None),
            (11, 13, None, None, None, None),
        ]
        db.executemany("INSERT INTO v VALUES (?, ?, ?, ?, ?, ?)", values)
        db.execute("CREATE TABLE dated (d DATE, ts DATETIME, ok BOOLEAN, j JSON, n INTEGER)")
        db.execute(
            "INSERT INTO dated VALUES ('2024-05-01', '2024-05-01 13:45:00', 1, '{\"a\": 1}', 1)"
        )
        db.execute("INSERT INTO dated VALUES (NULL, 'not a date', 0, 'not json', 2)")
        # More rows than a batch, a BLOB in a TEXT column after the first batch: the plan's
        # statement fails there and the export goes on by the exact path.
        db.execute("CREATE TABLE many (id INTEGER PRIMARY KEY, t TEXT, r REAL)")
        db.executemany(
            "INSERT INTO many VALUES (?, ?, ?)",
            [(i, f"row {i}", i / 7) for i in range(1, 12_001)],
        )
        db.execute("UPDATE many SET t = x'00ff' WHERE id = 7001")
        db.execute("CREATE VIEW mixed AS SELECT t FROM many UNION ALL SELECT 0.1 + 0.2")
    return path


@pytest.fixture
def conn(client: TestClient, awkward: Path) -> str:
    body = {"name": "awk", "kind": "sqlite", "options": {"path": str(awkward)}}
    assert client.post("/connections", json=body).status_code == 201
    return "awk"


def record_plans(monkeypatch: pytest.MonkeyPatch, module: Any) -> list[bool]:
    """Whether each export ``module.plan`` was asked for got a plan (True) or ran the
    exact path (False)."""
    made: list[bool] = []
    real = module.plan

    def recording(*args: Any) -> Any:
        found = real(*args)
        made.append(found is not None)
        return found

    monkeypatch.setattr(module, "plan", recording)
    return made


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[bool]]:
    """Whether each export got a plan (True) or ran the exact path (False)."""
    yield record_plans(monkeypatch, sqlite_native)


def _export(client: TestClient, sql: str, fmt: str, params: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"sql": sql}
    if params:
        body["params"] = params
    response = client.post("/connections/awk/export", params={"format": fmt}, json=body)
    assert response.status_code == 200, response.text
    return response.content


def _exact(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, sql: str, fmt: str, **kw: Any
) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(SqliteBackend, "native_export", lambda *_: None)
        return _export(client, sql, fmt, **kw)


FAST = [
    "SELECT * FROM v",
    "SELECT * FROM v ORDER BY id DESC",
    "SELECT id, r * 3 AS tripled, -0.0 AS negative_zero, 1e308 * 10 AS inf, "
    "-(1e308 * 10) AS minf, t || '' AS t2, json_object('a', 1) AS made_json FROM v",
    "SELECT t FROM v",
    "SELECT x FROM v",
    "WITH w AS (SELECT id, t FROM v WHERE id > 3) SELECT * FROM w  -- a trailing comment",
    "VALUES (1, 'a'), (2, NULL)",
    "SELECT * FROM v WHERE id > 100",
    "SELECT n FROM dated",
    "SELECT * FROM many",
    "SELECT * FROM many ORDER BY r DESC",
    "SELECT t FROM mixed",  # a TEXT column from one arm of a view, a REAL from the other
    "SELECT t FROM v UNION ALL SELECT 0.1 + 0.2",
]
EXACT = [
    "SELECT * FROM dated",  # DATE, DATETIME, BOOLEAN and JSON become Python values
    "SELECT d FROM dated",
    "SELECT id, id FROM v",  # duplicate names
    "PRAGMA table_info(v)",
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("sql", FAST)
def test_sqlite_plan_writes_what_the_exact_path_writes(
    client: TestClient,
    conn: str,
    monkeypatch: pytest.MonkeyPatch,
    plans: list[bool],
    sql: str,
    fmt: str,
) -> None:
    fast = _export(client, sql, fmt)
    assert plans == [True]
    assert fast == _exact(client, monkeypatch, sql, fmt)


@pytest.mark.parametrize("fmt", (*FORMATS, "json"))
@pytest.mark.parametrize("sql", EXACT)
def test_sqlite_columns_the_plan_cannot_vouch_for_run_the_exact_path(
    client: TestClient,
    conn: str,
    monkeypatch: pytest.MonkeyPatch,
    plans: list[bool],
    sql: str,
    fmt: str,
) -> None:
    body = _export(client, sql, fmt)
    assert plans == [False]
    assert body == _exact(client, monkeypatch, sql, fmt)


def test_sqlite_plan_with_parameters_runs_the_exact_path(
    client: TestClient, conn: str, monkeypatch: pytest.MonkeyPatch, plans: list[bool]
) -> None:
    sql = "SELECT * FROM v WHERE id > :n"
    body = _export(client, sql, "ndjson", {"n": 2})
    assert plans == [False]
    assert body == _exact(client, monkeypatch, sql, "ndjson", params={"n": 2})


def test_sqlite_plan_values_match_the_contract(client: TestClient, conn: str) -> None:
    lines = _export(client, "SELECT id, r, b, x FROM v WHERE id IN (1, 2, 4, 6)", "ndjson")
    assert lines.splitlines() == [
        b'{"id":1,"r":0.30000000000000004,"b":"AP9ieXRlcw==","x":null}',
        b'{"id":2,"r":1e+20,"b":null,"x":1.5}',
        b'{"id":4,"r":5.0,"b":null,"x":"YmxvYiBpbiBhbnkgY29sdW1u"}',
        b'{"id":6,"r":0.3333333333333333,"b":null,"x":1e+300}',
    ]


# REALs at the edges of the plan's check that SQLite's text is the contract's.
EDGE_REALS = [
    0.29, -0.29, 0.1 + 0.2, 0.0001, -0.0001, 0.00009999999999999999, 0.000123456,
    0.0001234567, 999999999.0, -999999999.0, 999999999.000001, 999999999.0000001,
    1000000000.0, 123456789.123456, 123456789.1234567, 2.675, 1.0000000000000002,
    4503599627370497.0, 5e-324, 1e-7, 0.0, -0.0, 1.5, 12345678.9, 1e15, 1e16, 2.5e-300,
]  # fmt: skip


def test_sqlite_reals_the_plan_lets_sqlite_write_are_the_contracts_text() -> None:
    """Every REAL that ``_clean_real`` passes is written by SQLite's JSON as orjson writes
    it: edge values, random decimals of up to eight places, random doubles, read from a
    table and through a view whose column has TEXT affinity (where SQLite would compare
    a REAL with a number as their 15-digit texts)."""
    rng = random.Random(13)
    values = list(EDGE_REALS)
    values += [rng.randint(-(10**15), 10**15) / 10 ** rng.randint(0, 8) for _ in range(20_000)]
    doubles = (
        struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))[0] for _ in range(5_000)
    )
    values += [value for value in doubles if math.isfinite(value)]
    db = sqlite3.connect(":memory:")
    db.execute("CREATE TABLE reals (v REAL)")
    db.executemany("INSERT INTO reals VALUES (?)", [(value,) for value in values])
    db.execute("CREATE TABLE words (v TEXT)")
    db.execute("CREATE VIEW texty AS SELECT v FROM words UNION ALL SELECT v FROM reals")
    # The trap is there: compared with v as is, 0.1 + 0.2 equals its six-place rounding.
    trap = dict(db.execute("SELECT v, round(v * 1e6) / 1e6 = v FROM texty").fetchall())
    assert trap[0.1 + 0.2] == 1
    for source in ("reals", "texty"):
        rows = db.execute(
            f"SELECT v, {sqlite_native._clean_real('v')}, json_array(v) FROM {source}"
        )
        passed = 0
        for value, clean, text in rows:
            if clean:
                passed += 1
                assert text == f"[{orjson.dumps(value).decode()}]", value
        assert passed > 20_000  # the decimals, nearly all of them


def test_sqlite_plan_with_a_semicolon_falls_back_when_sqlite_refuses_the_wrapping(
    client: TestClient, conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    sql = "SELECT id, t FROM v;"
    assert _export(client, sql, "csv") == _exact(client, monkeypatch, sql, "csv")


def test_sqlite_blob_after_the_first_batch_resumes_by_the_exact_path(
    client: TestClient, conn: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from connector.fastpath import ExportStream

    resumed: list[int] = []
    real = ExportStream._resumed

    def recording(self: ExportStream, plan: Any) -> Any:
        resumed.append(self.row_count)
        return real(self, plan)

    monkeypatch.setattr(ExportStream, "_resumed", recording)
    # A seek on the rowid, not a plain scan: the row-by-row plan (a range export redoes a
    # BLOB's batch alone: test_sqlite_ranges.py).
    body = _export(client, "SELECT * FROM many WHERE id > 0", "ndjson")
    assert resumed == [5000]
    lines = body.splitlines()
    assert len(lines) == 12_000
    assert lines[7000] == b'{"id":7001,"t":"AP8=","r":1000.1428571428571}'


# -- PostgreSQL: CSV through COPY -----------------------------------------------------


@pytest.fixture(scope="module")
def pg_database() -> Iterator[str]:
    import secrets

    import psycopg
    from psycopg import sql as pgsql

    from tests import netdb
    from tests.conftest import require_service

    require_service(netdb.port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    name = f"dc_fast_{secrets.token_hex(4)}"
    root = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name, autocommit=True) as db:
        db.execute(
            "CREATE TABLE v (id int8, f float8, g float4, t text, c varchar(20), ok bool, "
            "d date, ts timestamp, b bytea, u uuid, n numeric)"
        )
        floats = [0.1 + 0.2, 5.0, 1e20, 1e15, 1e16, -0.0, 1e-5, 123.45, 1 / 3, 2.5e-30]
        texts = ["", 'a "q", b', "line\nbreak", "cr\rhere", "\\.", "\x01mark", "é \U0001f600", " "]
        for index in range(12):
            db.execute(
                "INSERT INTO v VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    index,
                    floats[index % len(floats)],
                    floats[index % len(floats)],
                    texts[index % len(texts)],
                    texts[(index + 3) % len(texts)],
                    index % 3 == 0,
                    f"2024-05-{index + 1:02d}",
                    f"2024-05-01 13:45:{index:02d}" + (".5" if index % 2 else ""),
                    bytes(range(index * 7)),
                    f"00000000-0000-0000-0000-{index:012d}",
                    index / 8,
                ),
            )
        db.execute(
            "INSERT INTO v (id, f, g, d, ts) VALUES (98, 'NaN', 'Infinity', 'infinity', "
            "'-infinity'), (99, '-Infinity', 'NaN', '0044-03-15 BC', '0044-03-15 12:00 BC')"
        )
        db.execute("INSERT INTO v (id) VALUES (100)")
        db.execute(  # timestamps at the ends of the years isoformat writes, and fractions
            "INSERT INTO v (id, ts) VALUES (101, '0001-01-01 00:00:00'), "
            "(102, '0099-12-31 23:59:59.000001'), (103, '9999-12-31 23:59:59.999999'), "
            "(104, '2024-01-01 00:00:00.1'), (105, '10000-01-01 00:00:00'), "
            "(106, '2024-01-01 00:00:00.12'), (107, '2024-01-01 00:00:00.123'), "
            "(108, '2024-01-01 00:00:00.1234'), (109, '2024-01-01 00:00:00.12345'), "
            "(110, '2024-01-01 00:00:00.654321'), (111, '2024-01-01 00:00:00.000010')"
        )
    yield name
    root.execute(
        pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
    )
    root.close()


@pytest.fixture
def pg_conn(client: TestClient, pg_database: str) -> str:
    options = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": pg_database}
    body = {"name": "pgfast", "kind": "postgresql", "options": options}
    assert client.post("/connections", json=body).status_code == 201
    return "pgfast"


def _pg_export(client: TestClient, sql: str, fmt: str) -> bytes:
    response = client.post("/connections/pgfast/export", params={"format": fmt}, json={"sql": sql})
    assert response.status_code == 200, response.text
    return response.content


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize(
    ("sql", "planned"),
    [
        ("SELECT id, f, g, t, c, ok, d, ts, b, u FROM v ORDER BY id", True),
        ("SELECT id, t FROM v ORDER BY id DESC", True),
        ("SELECT id, f * 3 AS tripled, t || '!' AS shout, 'a\\b' AS backslash FROM v", True),
        ("SELECT id, n FROM v", False),  # numeric: not vouched for
        ("SELECT t FROM v", None),  # one column: CSV's one-field rows are Python's own
        ("SELECT id, id FROM v", None),  # duplicate names: NDJSON keys get suffixes
        ("SHOW DateStyle", False),
    ],
)
def test_postgresql_copy_writes_what_the_exact_path_writes(
    client: TestClient,
    pg_conn: str,
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    planned: bool | None,
    fmt: str,
) -> None:
    if planned is None:
        planned = fmt == "ndjson" if "id, id" not in sql else fmt == "csv"
    from connector.backends import postgresql_native
    from connector.backends.postgresql import PostgresqlBackend

    made = record_plans(monkeypatch, postgresql_native)
    fast = _pg_export(client, sql, fmt)
    assert made == [planned]
    with monkeypatch.context() as patch:
        patch.setattr(PostgresqlBackend, "native_export", lambda *_: None)
        exact = _pg_export(client, sql, fmt)
    assert fast == exact


@contextmanager
def own_pg_database(
    client: TestClient, create: str, setup: list[Any], settings: dict[str, str] | None = None
) -> Iterator[str]:
    """A PostgreSQL database of its own (``CREATE DATABASE <name> <create>``, then
    ``ALTER DATABASE <name> SET`` each of ``settings``), its statements ``setup`` run in
    it, as the connection ``pgown``; dropped afterwards."""
    import secrets

    import psycopg
    from psycopg import sql as pgsql

    from tests import netdb
    from tests.conftest import require_service

    require_service(netdb.port_open("127.0.0.1", 5432), "no PostgreSQL on 127.0.0.1:5432")
    name = f"dc_own_{secrets.token_hex(4)}"
    database = pgsql.Identifier(name)
    root = psycopg.connect(host="127.0.0.1", user="postgres", dbname="postgres", autocommit=True)
    root.execute(pgsql.SQL("CREATE DATABASE {} " + create).format(database))
    try:
        for setting, value in (settings or {}).items():
            root.execute(
                pgsql.SQL("ALTER DATABASE {} SET {} = {}").format(
                    database, pgsql.Identifier(setting), pgsql.Literal(value)
                )
            )
        with psycopg.connect(
            host="127.0.0.1", user="postgres", dbname=name, client_encoding="UTF8"
        ) as db:
            for statement in setup:
                db.execute(*statement) if isinstance(statement, tuple) else db.execute(statement)
        options = {"host": "127.0.0.1", "port": 5432, "user": "postgres", "database": name}
        created = client.post(
            "/connections", json={"name": "pgown", "kind": "postgresql", "options": options}
        )
        assert created.status_code == 201, created.text
        yield name
    finally:
        client.delete("/connections/pgown")
        root.execute(pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(database))
        root.close()


def _fast_and_exact(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, sql: str, fmt: str
) -> tuple[list[bool], bytes, bytes]:
    """Whether the plan was made, and connection ``pgown``'s export of ``sql`` by it and
    by the exact path."""
    from connector.backends import postgresql_native
    from connector.backends.postgresql import PostgresqlBackend

    def export() -> bytes:
        response = client.post(
            "/connections/pgown/export", params={"format": fmt}, json={"sql": sql}
        )
        assert response.status_code == 200, response.text
        return response.content

    with monkeypatch.context() as patch:
        made = record_plans(patch, postgresql_native)
        fast = export()
        patch.setattr(PostgresqlBackend, "native_export", lambda *_: None)
        exact = export()
    return made, fast, exact


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_postgresql_copy_reads_the_same_with_standard_conforming_strings_off(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A database (or role) may turn ``standard_conforming_strings`` off, and backslashes
    in a plain literal then escape: the plan's own literals (a key with a backslash, the
    ``\\.`` check) must read the same."""
    setup = [
        "CREATE TABLE w (id int, t text)",
        ("INSERT INTO w VALUES (1, %s), (2, %s), (3, %s), (4, NULL)", ("\\.", ".", "back\\slash")),
    ]
    with own_pg_database(client, "", setup, {"standard_conforming_strings": "off"}):
        sql = 'SELECT id AS "a\\b", t AS "q\'\\" FROM w ORDER BY id'
        made, fast, exact = _fast_and_exact(client, monkeypatch, sql, fmt)
    assert made == [True]
    assert fast == exact
    assert (b"back\\\\slash" if fmt == "ndjson" else b"back\\slash") in fast


@pytest.mark.parametrize("encoding", ["LATIN1", "SQL_ASCII"])
@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_postgresql_copy_of_a_database_not_in_utf8_is_utf8(
    client: TestClient, monkeypatch: pytest.MonkeyPatch, encoding: str, fmt: str
) -> None:
    """A LATIN1 database's session speaks LATIN1 unless told otherwise: the COPY is asked
    for UTF-8, as the exact path writes. SQL_ASCII declares no encoding at all: no plan,
    the exact path decides."""
    create = f"ENCODING '{encoding}' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0"
    setup = [
        "CREATE TABLE w (id int, t text, c varchar(10))",
        "INSERT INTO w VALUES (1, 'café £', 'é'), (2, 'plain', NULL)",
    ]
    with own_pg_database(client, create, setup):
        made, fast, exact = _fast_and_exact(
            client, monkeypatch, "SELECT id, t, c FROM w ORDER BY id", fmt
        )
    assert made == [encoding == "LATIN1"]
    assert fast == exact
    assert "café £".encode() in fast


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
@pytest.mark.parametrize(
    "sql", ["SELECT id, t, n FROM w", "SELECT id, t, n FROM w ORDER BY n"]
)  # the range plan, a line a row
@pytest.mark.parametrize("bad_row", [1, 11_000])
def test_sqlite_text_that_is_not_utf8_fails_the_export_as_the_exact_path_does(
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    fmt: str,
    sql: str,
    bad_row: int,
) -> None:
    """SQLite keeps any bytes in a TEXT value and its JSON and CSV copy them as they are;
    ``sqlite3`` cannot decode them, so the exact path refuses the export (400 when the row
    is in the first batch, the body cut short after it). The plan must do the same, never
    send bytes that are not UTF-8."""
    path = tmp_path / "bytes.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE w (id INTEGER PRIMARY KEY, t TEXT, n INTEGER)")
        db.executemany("INSERT INTO w VALUES (?, ?, ?)", [(i, f"r{i}", i) for i in range(1, 12001)])
        db.execute("UPDATE w SET t = CAST(x'63616fe9' AS TEXT) WHERE id = ?", (bad_row,))
    body = {"name": "bytes", "kind": "sqlite", "options": {"path": str(path)}}
    assert client.post("/connections", json=body).status_code == 201

    def export() -> tuple[int, bytes]:
        response = client.post(
            "/connections/bytes/export", params={"format": fmt}, json={"sql": sql}
        )
        return response.status_code, response.content

    fast = export()
    with monkeypatch.context() as patch:
        patch.setattr(SqliteBackend, "native_export", lambda *_: None)
        exact = export()
    if bad_row == 1:
        assert fast == exact
        assert fast[0] == 400 and b"decode to UTF-8" in fast[1]
    else:
        for status, content in (fast, exact):
            assert status == 200
            content.decode()  # nothing that is not UTF-8 was sent
            assert b"r10999" in content or b"r4999" in content  # rows before it were
            assert content.count(b"\n") < 12_000  # and the body ends short


@pytest.mark.parametrize("fmt", ["csv", "ndjson"])
def test_postgresql_copy_failing_in_its_first_chunk_is_the_exact_paths_error(
    client: TestClient, pg_conn: str, monkeypatch: pytest.MonkeyPatch, fmt: str
) -> None:
    """A statement that fails at row 3,000 (well within the first chunk): the exact path
    answers 400 before any byte; the COPY must too, not a 200 whose body stops at row
    2,999 (the last rows were sent before the COPY's result was read, and a CSV header
    was a chunk of its own)."""
    from connector.backends import postgresql_native
    from connector.backends.postgresql import PostgresqlBackend

    sql = "SELECT g AS id, 1 / (g - 3000) AS x FROM generate_series(1, 10000) AS g"
    made = record_plans(monkeypatch, postgresql_native)
    fast = client.post("/connections/pgfast/export", params={"format": fmt}, json={"sql": sql})
    assert made[0] is True
    with monkeypatch.context() as patch:
        patch.setattr(PostgresqlBackend, "native_export", lambda *_: None)
        exact = client.post("/connections/pgfast/export", params={"format": fmt}, json={"sql": sql})
    assert exact.status_code == 400
    assert (fast.status_code, fast.content) == (exact.status_code, exact.content)
    assert b"division by zero" in fast.content
