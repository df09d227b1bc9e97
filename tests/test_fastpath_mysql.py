"""MariaDB's own NDJSON (``connector.backends.mysql_native``) is byte for byte the exact
path's on every awkward value, on a database of its own on the MariaDB at 127.0.0.1:3306
(root, no password), dropped afterwards. Where no plan may be made (TIME, YEAR, BIT, a
JSON column, duplicate names, parameters, a statement the wrapping refuses) the export
still runs, by the exact path; each test checks which path ran."""

from __future__ import annotations

import random
import secrets
import threading
from collections.abc import Iterator
from typing import Any

import pymysql
import pytest
from fastapi.testclient import TestClient

from connector.backends import mysql_native
from connector.backends.mysql import MysqlBackend
from connector.statements import BoundStatement
from tests import netdb
from tests.conftest import require_service, wait_until

HOST, PORT = "127.0.0.1", 3306

FLOATS = [
    "0.1e0 + 0.2e0", "5", "1e20", "1e15", "1e16", "1e-5", "1e-7", "123.45", "1/3e0",
    "2.5e-300", "-0e0", "999999999999999", "1.7976931348623157e308", "-12.5", "0.0001",
    "100", "123456789012345.6",
]  # fmt: skip
DECIMALS = [
    "0.00000001", "0", "-0.5", "12345678901234567890.1234567890", "0.000001", "0.0000009",
    "-0.0000000001", "42",
]  # fmt: skip
TEXTS = [
    "plain", 'q" \\ / \n \r \t \x08 \x0c', "\x00 \x01 \x1f \x7f", "é \u2028 \u2029 \U0001f600",
    "", "literal \\u001F and \\u00e9", '":["not a mark"]', "'single'", " ",
]  # fmt: skip
BLOBS = [b"", bytes(range(256)), b"\x00", b"abc"]
DATES = ["2024-05-01", "0000-00-00", "2024-00-01", "0999-12-31", "1000-01-01", "9999-12-31"]
DATETIMES = [
    "2024-05-01 13:45:00", "2024-05-01 13:45:00.5", "0000-00-00 00:00:00",
    "2024-05-00 10:00:00", "9999-12-31 23:59:59.999999", "1000-01-01 00:00:00.000001",
]  # fmt: skip
ROWS = 24
MANY = 12_000
# Around where MariaDB's text of a double turns to an exponent (1e15) or the plan marks
# small values (1e-5), and whole numbers on both sides.
BOUNDARY_REALS = [
    1e15, -1e15, 999999999999999.9, 999999999999999.0, 9.999999999999998e14, 1e14,
    1e15 + 2, 1e-5, -1e-5, 1.0000000000000002e-5, 9.999999999999999e-6, 1e-4, 0.5,
    123456789012345.67, 4503599627370496.0, 4503599627370495.5, 3.4e38, 1.1754943508222875e-38,
    2.2250738585072014e-308, 5e-324, 1.7976931348623157e308, 0.1, 1 / 3, 2 / 3 * 1e14,
]  # fmt: skip


def random_reals(count: int) -> list[float]:
    """Doubles across every magnitude the plan writes itself and past both ends."""
    chooser = random.Random(13)
    found = []
    for _ in range(count):
        value = chooser.uniform(1, 10) * 10 ** chooser.randint(-8, 17)
        digits = chooser.choice([None, 0, 2, 6])
        found.append(value if digits is None else round(value, digits))
    return [value if index % 3 else -value for index, value in enumerate(found)]


def admin() -> Any:
    return pymysql.connect(host=HOST, port=PORT, user="root", charset="utf8mb4", autocommit=True)


@pytest.fixture(scope="module")
def database() -> Iterator[str]:
    require_service(netdb.port_open(HOST, PORT), f"no MariaDB server on {HOST}:{PORT}")
    name = f"dc_fast_{secrets.token_hex(4)}"
    root = admin()
    with root.cursor() as cur:
        cur.execute("SELECT VERSION()")
        if "MariaDB" not in cur.fetchone()[0]:
            pytest.fail("these tests need MariaDB on 127.0.0.1:3306")
        cur.execute(f"CREATE DATABASE `{name}` CHARACTER SET utf8mb4")
        cur.execute(f"USE `{name}`")
        cur.execute("SET SESSION sql_mode = ''")  # lets the zero dates in
        cur.execute(
            "CREATE TABLE v (id BIGINT PRIMARY KEY, big BIGINT UNSIGNED, small TINYINT(1), "
            "f DOUBLE, g FLOAT, d DECIMAL(30,10), d2 DECIMAL(10,2), t VARCHAR(200), "
            "l TEXT CHARACTER SET latin1, c CHAR(3), b VARBINARY(300), bl BLOB, "
            "dt DATETIME(6), dt3 DATETIME(3), ts TIMESTAMP NULL, dd DATE, e ENUM('a','b'), "
            "s SET('x','y'), tm TIME, y YEAR, bits BIT(9))"
        )
        for index in range(ROWS):
            cur.execute(
                "INSERT INTO v VALUES (%s, %s, %s, "
                f"{FLOATS[index % len(FLOATS)]}, {FLOATS[(index + 5) % len(FLOATS)]}, "
                "%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)",
                (
                    index - 3,
                    2**64 - 1 - index,
                    index % 2,
                    DECIMALS[index % len(DECIMALS)],
                    f"{index * 1.25 - 7:.2f}",
                    TEXTS[index % len(TEXTS)],
                    "caf\xe9 \xa3" if index % 3 else None,
                    "ab"[: index % 3],
                    BLOBS[index % len(BLOBS)],
                    bytes(range(index * 11 % 256)),
                    DATETIMES[index % len(DATETIMES)],
                    DATETIMES[(index + 1) % len(DATETIMES)],
                    "2024-05-01 13:45:00" if index % 2 else None,
                    DATES[index % len(DATES)],
                    "ab"[index % 2],
                    "x,y" if index % 2 else "",
                    "-838:59:59",
                    2024,
                    index,
                ),
            )
        cur.execute("INSERT INTO v (id) VALUES (1000)")  # NULL everywhere else
        cur.execute("CREATE TABLE docs (id INT, doc JSON)")
        cur.execute("""INSERT INTO docs VALUES (1, '{"a": 1.0, "b": [1, 2]}')""")
        cur.execute("CREATE TABLE many (id INT PRIMARY KEY, t VARCHAR(20), r DOUBLE)")
        cur.executemany(
            "INSERT INTO many VALUES (%s, %s, %s)",
            [(i, f"row {i}", i / 7) for i in range(1, MANY + 1)],
        )
        cur.execute(
            "CREATE TABLE reals (id INT PRIMARY KEY, f DOUBLE, g FLOAT, "
            "f2 DOUBLE(30,2), g3 FLOAT(12,3), f9 DOUBLE(40,9))"
        )
        cur.executemany(
            "INSERT IGNORE INTO reals VALUES (%s, %s, %s, %s, %s, %s)",
            [(i, v, v, v, v, v) for i, v in enumerate(BOUNDARY_REALS + random_reals(5000))],
        )
        # Its JSON line (18 MB of \\u0001) is past max_allowed_packet (16 MB here), where
        # MariaDB's CONCAT gives NULL; the exact path writes it.
        cur.execute("CREATE TABLE long_texts (id INT, t MEDIUMTEXT, b LONGBLOB)")
        cur.execute(
            "INSERT INTO long_texts VALUES (1, %s, x'00ff'), (2, 'short', NULL)",
            ("\x01" * 3_000_000,),
        )
        cur.execute("SELECT COUNT(*) FROM reals WHERE ABS(g) >= 1e15 OR ABS(f) < 1e-5")
        assert cur.fetchone()[0] > 100, "the random values reach past both ends"
    yield name
    with root.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS `{name}`")
    root.close()


@pytest.fixture
def conn(client: TestClient, database: str) -> str:
    options = {"host": HOST, "port": PORT, "user": "root", "database": database}
    body = {"name": "myfast", "kind": "mysql", "options": options}
    assert client.post("/connections", json=body).status_code == 201, "connection refused"
    return "myfast"


@pytest.fixture
def plans(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each export got a plan (True) or ran the exact path (False)."""
    made: list[bool] = []
    real = mysql_native.plan

    def recording(*args: Any) -> Any:
        found = real(*args)
        made.append(found is not None)
        return found

    monkeypatch.setattr(mysql_native, "plan", recording)
    return made


def _export(client: TestClient, sql: str, params: dict[str, Any] | None = None) -> bytes:
    body: dict[str, Any] = {"sql": sql, **({"params": params} if params else {})}
    response = client.post("/connections/myfast/export", params={"format": "ndjson"}, json=body)
    assert response.status_code == 200, response.text
    return response.content


def _exact(
    client: TestClient,
    monkeypatch: pytest.MonkeyPatch,
    sql: str,
    params: dict[str, Any] | None = None,
) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(MysqlBackend, "native_export", lambda *_: None)
        return _export(client, sql, params)


PLAIN = "id, big, small, f, g, d, d2, t, l, c, b, bl, dt, dt3, ts, dd, e, s"
FAST = [
    f"SELECT {PLAIN} FROM v",
    f"SELECT {PLAIN} FROM v WHERE id < 100 LIMIT 30",
    "SELECT id, f / 3 AS third, g + 0 AS widened, d * 1 AS d_again, CONCAT(t, '!') AS t2, "
    "NULL + 0e0 AS nothing, CAST('x' AS BINARY) AS bin, "
    "NOW(6) > dt AS cmp, DATE(dt) AS day, `é ``odd`` \"key\"`, `back\\slash 'q'` FROM "
    "(SELECT *, 1 AS `é ``odd`` \"key\"`, 2 AS `back\\slash 'q'` FROM v) AS w",
    "WITH w AS (SELECT id, t FROM v WHERE id > 3) SELECT * FROM w -- comment",
    "SELECT t FROM v",
    f"SELECT {PLAIN} FROM v WHERE id > 100000",
    "SELECT NULL AS n",
    "SELECT * FROM many",
    "SELECT * FROM (SELECT id, t FROM many ORDER BY id DESC LIMIT 7000) AS w",
    "SELECT 1 AS a UNION ALL SELECT 2.5",
    "SELECT id, f, g FROM reals",
    "SELECT id, f / 3 AS f3, g / 7 AS g7, -f AS minus, f2 + 0e0 AS widened, "
    "ROUND(f, 2) + 0e0 AS rounded FROM reals",
    # materialized (the GROUP BY): a DOUBLE without fixed decimals keeps its value
    "SELECT id % 7 AS k, SUM(f) AS s, AVG(f) AS a, MAX(g) AS m, MIN(f / 3) AS third "
    "FROM reals GROUP BY id % 7",
    "SELECT id % 5 AS k, SUM(d) AS sd, AVG(d) AS ad, AVG(d2) AS ad2, SUM(big) AS sb, "
    "AVG(big) AS ab, MAX(dt) AS mdt, MIN(dt3) AS mdt3, MIN(t) AS mt, "
    "COUNT(*) AS n, MAX(f) AS mf, MAX(dd) AS mdd, MAX(b) AS mb FROM v GROUP BY id % 5",
]
EXACT = [
    "SELECT * FROM v ORDER BY id",  # TIME, YEAR and BIT columns
    "SELECT tm FROM v",
    "SELECT y, id FROM v",
    "SELECT bits FROM v",
    "SELECT * FROM docs",  # a MariaDB JSON column
    "SELECT id, id FROM v",  # duplicate names
    "SELECT id AS a, t AS A FROM v",  # names MariaDB's wrapping takes as duplicates
    "SHOW TABLES",
    # MariaDB drops the order of a derived table, so an ordered statement is not wrapped
    f"SELECT {PLAIN} FROM v ORDER BY id DESC",
    "SELECT id, t FROM many UNION ALL SELECT 0, 'x' ORDER BY 1 DESC",
    "(SELECT id, t FROM many ORDER BY id DESC)",
    "(SELECT id, t FROM many ORDER BY id DESC LIMIT 7000)",
    # a DOUBLE or FLOAT with a fixed number of decimals: MariaDB sends "12.50", and a
    # materialized derived table can change the value (the AVG over DOUBLE(30,2))
    "SELECT * FROM reals",
    "SELECT id, f2 / 3 AS f2d FROM reals",
    "SELECT NULL + 1 AS n",
    "SELECT id, t, b FROM long_texts",  # a line could be past max_allowed_packet
    "SELECT id % 5 AS k, GROUP_CONCAT(c) AS gc FROM v GROUP BY id % 5",  # up to 4 MB
    "SELECT id, ROUND(f, 2) AS r2, ROUND(f, 0) AS r0, TRUNCATE(f, 4) AS t4, "
    "ROUND(f, 20) AS r20, ROUND(g, 1) AS g1, f2 * 1 AS f2x FROM reals",
    "SELECT id % 7 AS k, SUM(f2) AS s2, AVG(f2) AS a2, MAX(ROUND(f, 3)) AS m3 "
    "FROM reals GROUP BY id % 7",
]


@pytest.mark.parametrize("sql", FAST)
def test_mariadb_plan_writes_what_the_exact_path_writes(
    client: TestClient, conn: str, monkeypatch: pytest.MonkeyPatch, plans: list[bool], sql: str
) -> None:
    fast = _export(client, sql)
    assert plans == [True]
    exact = _exact(client, monkeypatch, sql)
    assert fast.splitlines() == exact.splitlines()
    assert fast == exact


@pytest.mark.parametrize("sql", EXACT)
def test_mariadb_columns_the_plan_cannot_vouch_for_run_the_exact_path(
    client: TestClient, conn: str, monkeypatch: pytest.MonkeyPatch, plans: list[bool], sql: str
) -> None:
    body = _export(client, sql)
    assert plans == [False]
    assert body == _exact(client, monkeypatch, sql)


def test_mariadb_plan_with_parameters_runs_the_exact_path(
    client: TestClient, conn: str, monkeypatch: pytest.MonkeyPatch, plans: list[bool]
) -> None:
    sql = "SELECT id, t FROM v WHERE id > :n"
    body = _export(client, sql, {"n": 2})
    assert plans == [False]
    assert body == _exact(client, monkeypatch, sql, {"n": 2})


@pytest.mark.parametrize(
    "mode", ["ANSI,NO_BACKSLASH_ESCAPES", "ORACLE", "MSSQL,PIPES_AS_CONCAT", "NO_ZERO_IN_DATE"]
)
def test_mariadb_plan_writes_the_same_lines_under_any_sql_mode(database: str, mode: str) -> None:
    """The server's sql_mode is the DBA's: double quotes as identifiers, backslashes as
    plain characters, ``||`` as concatenation, CONCAT skipping NULLs (ORACLE) must not
    change a line. The lines under the default mode are the exact path's (above)."""
    connection = admin()
    try:
        with connection.cursor() as cur:
            cur.execute(f"USE `{database}`")
            sql = f"SELECT {PLAIN} FROM v"

            def lines(sql_mode: str) -> list[bytes]:
                cur.execute(f"SET SESSION sql_mode = '{sql_mode}'")
                found = mysql_native.plan(cur, BoundStatement(sql, None, ()), "ndjson", set())
                assert found is not None
                cur.execute(found.statement.sql)
                return [row[0] for row in cur.fetchall()]

            expected = lines("")
            assert any(b'"b":null' in line for line in expected)  # a NULL binary is here
            assert lines(mode) == expected
    finally:
        connection.close()


def test_mariadb_plan_values_match_the_contract(
    client: TestClient, conn: str, plans: list[bool]
) -> None:
    sql = (
        "SELECT 1e20 AS f, 5e0 AS w, CAST('0.00000001' AS DECIMAL(20,10)) AS d, "
        "CAST('2024-05-01 13:45:00.5' AS DATETIME(3)) AS dt, 'a\\0\\Zb' AS t, "
        "x'00ff' AS b, CAST(18446744073709551615 AS UNSIGNED) AS u"
    )
    assert _export(client, sql) == (
        b'{"f":1e+20,"w":5.0,"d":0.0000000100,"dt":"2024-05-01T13:45:00.500000",'
        b'"t":"a\\u0000\\u001ab","b":"AP8=","u":18446744073709551615}\n'
    )
    assert plans == [True]


def test_mariadb_plan_is_the_statement_mariadb_runs(
    client: TestClient, conn: str, plans: list[bool]
) -> None:
    """While a planned export runs, the server's process list shows the wrapping that
    builds the JSON, not the user's statement alone."""
    marker = "dc_marker_" + secrets.token_hex(3)
    done: list[bytes] = []
    worker = threading.Thread(
        target=lambda: done.append(_export(client, f"SELECT SLEEP(3) AS s, '{marker}' AS m"))
    )
    worker.start()
    root = admin()
    seen: list[str] = []

    def running() -> bool:
        with root.cursor() as cur:
            cur.execute(
                "SELECT INFO FROM information_schema.PROCESSLIST WHERE INFO LIKE %s",
                (f"SELECT CAST(CONVERT(CONCAT(%{marker}%",),
            )
            seen.extend(str(row[0]) for row in cur.fetchall())
        return bool(seen)

    try:
        # 30 s bounds how long a loaded machine takes to start the statement.
        wait_until(running, within_s=30, what="the planned export running on the server")
    finally:
        worker.join(timeout=60)
        root.close()
    key = b'{"s":'.hex()
    assert seen[0].startswith(f"SELECT CAST(CONVERT(CONCAT(CONVERT(X'{key}' USING utf8mb4)"), seen
    assert done == [f'{{"s":0,"m":"{marker}"}}\n'.encode()]
    assert plans == [True]


def test_mariadb_plan_line_past_the_packet_limit_is_an_error_not_a_crash() -> None:
    """The plan rules such rows out; if one came, the export would end with a clear
    error, not a TypeError (and not a silently short body)."""
    from connector.errors import SqlError

    with pytest.raises(SqlError, match="too long"):
        list(mysql_native.encode_ndjson(iter([[(b'{"a":1}',), (None,)]]), {}))
