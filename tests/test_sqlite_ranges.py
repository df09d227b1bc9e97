"""SQLite range exports (``connector.backends.sqlite_ranges``): a plain table scan read in
rowid ranges, a batch per string, on two connections where the file's locking allows.

Every export here is compared byte for byte with the exact path (plans off), and each test
also checks which path ran: statements that are not a plain scan in rowid order (an
aggregate SQLite's parser knows and one it does not, a window, LIMIT, DISTINCT, an ORDER BY
that is not the rowid's, joins, a covering index, a table without rowid or with a column named rowid) never get a
range plan. From SQLite's side: while a range export reads, a writer cannot commit (both
connections read the same data), and once the export ends or its client leaves, it can.
"""

from __future__ import annotations

import math
import random
import shutil
import socket
import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

import connector.backends.sqlite as sqlite_backend
from connector.backends import sqlite_native, sqlite_ranges
from connector.backends.sqlite import SqliteBackend, connect_sqlite
from connector.statements import BoundStatement
from tests.conftest import LiveServer, start_server, stop_server, wait_until

FORMATS = ("ndjson", "csv")
ROWS = 12_000  # more than two ranges of 5,000 rowids


def _floats(rng: random.Random, count: int) -> list[float]:
    """Decimals with up to eight places (the quick exactness test takes up to six), their
    neighbouring doubles, and doubles of any digits."""
    values: list[float] = []
    while len(values) < count:
        places = rng.randint(0, 8)
        value = rng.randint(-(10 ** rng.randint(1, 15)), 10 ** rng.randint(1, 15)) / 10**places
        values += [
            value,
            math.nextafter(value, math.inf),
            math.nextafter(value, -math.inf),
            rng.uniform(-1e9, 1e9),
        ]
    return values[:count]


def _text(rng: random.Random, index: int) -> str | None:
    choices = [
        f"row {index}",
        "Apple, Inc.",
        'say "hi"',
        "line\nbreak",
        "cr\rhere",
        "tab\there",
        "",
        "é \u2028 \U0001f600",
        "\x01mark",
        "[bracket]",
        "null",
    ]
    if index % 97 == 0:
        return None
    return choices[index % len(choices)] if index % 5 == 0 else f"plain {index}"


@pytest.fixture
def ranged_db(tmp_path: Path) -> Path:
    path = tmp_path / "ranges.db"
    rng = random.Random(13)
    floats = _floats(rng, ROWS)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE mix (id INTEGER PRIMARY KEY, i INTEGER, r REAL, t TEXT, x)")
        rows: list[tuple[Any, ...]] = []
        for index in range(1, ROWS + 1):
            x: Any = [index * 1.5, f"any {index}", None, 2**62 + index][index % 4]
            integer = [2**63 - 1, -(2**63), 0, index][index % 4]
            rows.append((index, integer, floats[index - 1], _text(rng, index), x))
        db.executemany("INSERT INTO mix VALUES (?, ?, ?, ?, ?)", rows)
        db.execute("UPDATE mix SET r = -0.0 WHERE id = 3")
        db.execute("UPDATE mix SET r = 1e20 WHERE id = 4")
        db.execute("UPDATE mix SET r = 1e-5 WHERE id = 6")
        db.execute("UPDATE mix SET x = x'00ff' WHERE id = 7001")  # one BLOB
        # Company names, with commas, only: no escapes, so CSV from the arrays is exact.
        db.execute("CREATE TABLE prices (id INTEGER PRIMARY KEY, symbol TEXT, price REAL)")
        db.executemany(
            "INSERT INTO prices VALUES (?, ?, ?)",
            [(i, f"S{i % 50:03d}", round(rng.uniform(1, 900), 2)) for i in range(1, ROWS + 1)],
        )
        db.execute("CREATE TABLE sparse (id INTEGER PRIMARY KEY, v TEXT)")
        far = [-(2**63), -5, 0, 7, 10**6, 10**12, 2**63 - 1]
        db.executemany("INSERT INTO sparse VALUES (?, ?)", [(i, f"v{i}") for i in far])
        db.executemany(
            "INSERT INTO sparse VALUES (?, ?)", [(i, f"block {i}") for i in range(10, 7010)]
        )
        db.execute("CREATE TABLE gaps (id INTEGER PRIMARY KEY, v REAL)")  # every 1000th
        db.executemany("INSERT INTO gaps VALUES (?, ?)", [(i * 1000, i / 8) for i in range(ROWS)])
        db.execute("CREATE TABLE empty (id INTEGER PRIMARY KEY, v TEXT)")
        db.execute("CREATE TABLE norowid (k TEXT PRIMARY KEY, v) WITHOUT ROWID")
        db.executemany("INSERT INTO norowid VALUES (?, ?)", [(f"k{i}", i) for i in range(50)])
        db.execute("CREATE TABLE rowidcol (rowid TEXT, v)")
        db.executemany("INSERT INTO rowidcol VALUES (?, ?)", [(f"r{i}", i) for i in range(50)])
        # Rows wider than the index on s: SQLite reads s through the index, in s order.
        db.execute("CREATE TABLE indexed (id INTEGER PRIMARY KEY, s TEXT, pad TEXT)")
        db.executemany(
            "INSERT INTO indexed VALUES (?, ?, ?)", [(i, f"s{-i}", "p" * 200) for i in range(50)]
        )
        db.execute("CREATE INDEX indexed_s ON indexed (s)")
    return path


@pytest.fixture
def conn(client: TestClient, ranged_db: Path) -> str:
    body = {"name": "ranges", "kind": "sqlite", "options": {"path": str(ranged_db)}}
    assert client.post("/connections", json=body).status_code == 201
    return "ranges"


@pytest.fixture
def ranged(monkeypatch: pytest.MonkeyPatch) -> list[bool]:
    """Whether each export got a range plan."""
    made: list[bool] = []
    real = sqlite_ranges.range_plan

    def recording(*args: Any) -> Any:
        found = real(*args)
        made.append(found is not None)
        return found

    monkeypatch.setattr(sqlite_native, "range_plan", recording)
    return made


@pytest.fixture
def exact_batches(monkeypatch: pytest.MonkeyPatch) -> list[tuple[int, int]]:
    """The (first, last) rowids of each batch a range export wrote from values."""
    seen: list[tuple[int, int]] = []
    real = sqlite_ranges.RangeExport._exact

    def recording(self: Any, connection: Any, first: int, last: int, limit: int) -> Any:
        seen.append((first, last))
        return real(self, connection, first, last, limit)

    monkeypatch.setattr(sqlite_ranges.RangeExport, "_exact", recording)
    return seen


@pytest.fixture
def second_readers(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    started: list[int] = []
    real = sqlite_ranges._SecondReader.start

    def recording(self: Any) -> None:
        started.append(len(self._ranges))
        real(self)

    monkeypatch.setattr(sqlite_ranges._SecondReader, "start", recording)
    return started


def _export(client: TestClient, sql: str, fmt: str, name: str = "ranges") -> bytes:
    response = client.post(f"/connections/{name}/export", params={"format": fmt}, json={"sql": sql})
    assert response.status_code == 200, response.text
    return response.content


def _exact(client: TestClient, monkeypatch: pytest.MonkeyPatch, sql: str, fmt: str) -> bytes:
    with monkeypatch.context() as patch:
        patch.setattr(SqliteBackend, "native_export", lambda *_: None)
        return _export(client, sql, fmt)


RANGED = [
    "SELECT * FROM mix",
    "SELECT id, r * 3 AS tripled, t || '!' AS shout, -r AS negated FROM mix",
    "SELECT * FROM mix WHERE t LIKE '%,%' OR r > 100 OR x IS NULL",
    "SELECT m.id, m.t FROM mix AS m WHERE m.i % 3 = 0",
    "select *\n-- a comment before FROM\nfrom mix -- and one at the end",
    "SELECT * FROM mix;",
    "SELECT * FROM prices",
    "SELECT * FROM sparse",
    "SELECT * FROM gaps",
    "SELECT * FROM empty",
    "SELECT id, abs(random()) >= 0 AS yes FROM prices",
    "SELECT * FROM mix ORDER BY id",  # the rowid's order: the scan's, no sorting
    "SELECT * FROM prices WHERE price > 100 ORDER BY prices.id ASC;",
    "SELECT id, t FROM mix ORDER BY 1",
    "SELECT * FROM sparse ORDER BY rowid",
]
NOT_RANGED = [
    "SELECT count(*) FROM mix",
    "SELECT total(r) AS t FROM mix",  # an aggregate sqlglot does not know
    "SELECT group_concat(t) AS g FROM mix",
    "SELECT id, row_number() OVER () AS n FROM mix",
    "SELECT * FROM mix LIMIT 10",
    "SELECT * FROM mix LIMIT 10 OFFSET 3",
    "SELECT DISTINCT i FROM mix",
    "SELECT * FROM mix ORDER BY r",
    "SELECT * FROM mix ORDER BY id DESC",
    "SELECT id, t FROM mix ORDER BY 2",
    "SELECT -id AS n, t FROM mix ORDER BY n",
    "SELECT * FROM mix ORDER BY id, t",
    "SELECT * FROM indexed ORDER BY s",
    "SELECT i, max(r) AS m FROM mix GROUP BY i",
    "SELECT * FROM mix WHERE id > 100",  # a seek, not a scan
    "SELECT m.id, p.price FROM mix AS m, prices AS p WHERE m.id = p.id",
    "SELECT * FROM mix JOIN prices USING (id)",
    "SELECT id FROM mix UNION ALL SELECT id FROM prices",
    "SELECT id, (SELECT max(price) FROM prices) AS top FROM mix",
    "SELECT * FROM norowid",
    "SELECT * FROM rowidcol",
    "SELECT s FROM indexed",  # read through its covering index, in its order
]


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("sql", "plain_scan"), [(sql, True) for sql in RANGED] + [(sql, False) for sql in NOT_RANGED]
)
def test_range_plans_are_made_for_plain_scans_only_and_write_what_the_exact_path_writes(
    client: TestClient,
    conn: str,
    monkeypatch: pytest.MonkeyPatch,
    ranged: list[bool],
    sql: str,
    plain_scan: bool,
    fmt: str,
) -> None:
    fast = _export(client, sql, fmt)
    if plain_scan:
        assert ranged == [True]
    else:
        assert True not in ranged
    assert fast == _exact(client, monkeypatch, sql, fmt)


def test_only_a_batch_holding_a_blob_is_written_from_values(
    client: TestClient, conn: str, exact_batches: list[tuple[int, int]]
) -> None:
    body = _export(client, "SELECT * FROM mix", "ndjson")
    assert exact_batches == [(5001, 10000)]  # the range of rowid 7001, and only it
    lines = body.splitlines()
    assert len(lines) == ROWS
    assert orjson.loads(lines[7000])["x"] == "AP8="


def test_csv_batches_without_escapes_or_commas_in_texts_are_all_written_by_sqlite(
    client: TestClient,
    conn: str,
    monkeypatch: pytest.MonkeyPatch,
    exact_batches: list[tuple[int, int]],
) -> None:
    body = _export(client, "SELECT * FROM prices", "csv")
    assert exact_batches == []
    assert body == _exact(client, monkeypatch, "SELECT * FROM prices", "csv")


def test_two_connections_read_in_rollback_mode_and_one_in_wal_mode(
    client: TestClient,
    conn: str,
    ranged_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    second_readers: list[int],
) -> None:
    rollback = _export(client, "SELECT * FROM mix", "ndjson")
    assert second_readers == [1]  # three ranges: the second reader takes the middle one
    with sqlite3.connect(ranged_db) as db:
        assert db.execute("PRAGMA journal_mode = wal").fetchone()[0] == "wal"
    second_readers.clear()
    assert _export(client, "SELECT * FROM mix", "ndjson") == rollback
    assert second_readers == []
    assert rollback == _exact(client, monkeypatch, "SELECT * FROM mix", "ndjson")


def test_wide_rows_are_split_into_smaller_strings_not_written_from_values(
    client: TestClient,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    exact_batches: list[tuple[int, int]],
) -> None:
    # A batch's string may not outgrow SQLite's length limit: 5,000 rows of 300 bytes
    # are over a 256 KiB limit, so each range is halved until its string fits.
    monkeypatch.setattr(sqlite_backend, "MAX_VALUE_BYTES", 256 * 1024)
    path = tmp_path / "wide.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE wide (id INTEGER PRIMARY KEY, t TEXT, n INTEGER)")
        db.executemany(
            "INSERT INTO wide VALUES (?, ?, ?)", [(i, "w" * 300, i) for i in range(1, 6001)]
        )
    body = {"name": "wide", "kind": "sqlite", "options": {"path": str(path)}}
    assert client.post("/connections", json=body).status_code == 201
    for fmt in FORMATS:
        fast = _export(client, "SELECT * FROM wide", fmt, name="wide")
        with monkeypatch.context() as patch:
            patch.setattr(SqliteBackend, "native_export", lambda *_: None)
            assert fast == _export(client, "SELECT * FROM wide", fmt, name="wide")
    assert exact_batches == []


def _session(path: Path) -> Any:
    connection = connect_sqlite(str(path), read_only=True)
    connection.progress = lambda: 0
    return connection


def _plan(connection: Any, sql: str) -> Any:
    plan = sqlite_native.plan(
        connection,
        BoundStatement(sql, None),
        "ndjson",
        sqlite_backend._second_reader(connection.cursor()),
    )
    assert plan is not None and plan.stream is not None
    return plan


def _second_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "export-second" and t.is_alive()]


def test_no_writer_commits_while_both_connections_read(
    ranged_db: Path, second_readers: list[int]
) -> None:
    connection = _session(ranged_db)
    expected = b"".join(data for data, _ in _plan(connection, "SELECT * FROM mix").stream(
        connection.cursor()
    ))  # fmt: skip
    connection.rollback()
    stream = _plan(connection, "SELECT * FROM mix").stream(connection.cursor())
    first, _ = next(stream)
    assert second_readers == [1, 1], "a second reader read a range, each time"
    writer = sqlite3.connect(ranged_db, timeout=0)
    with pytest.raises(sqlite3.OperationalError, match="locked"), writer:
        writer.execute("UPDATE mix SET t = 'changed' WHERE id = 9000")
    rest = b"".join(data for data, _ in stream)
    assert first + rest == expected
    connection.rollback()
    wait_until(lambda: not _second_threads(), within_s=30, what="the second reader ending")
    with writer:  # both read transactions are over: the write goes through
        writer.execute("UPDATE mix SET t = 'changed' WHERE id = 9000")
    writer.close()
    connection.close()


def test_an_export_closed_early_stops_its_second_reader(ranged_db: Path) -> None:
    connection = _session(ranged_db)
    stream = _plan(connection, "SELECT * FROM mix").stream(connection.cursor())
    next(stream)
    stream.close()
    # The reader stops at its next batch or progress call; 30 s only bounds a busy machine.
    wait_until(lambda: not _second_threads(), within_s=30, what="the second reader ending")
    connection.rollback()
    connection.close()


def test_a_writer_holding_its_reserved_lock_changes_nothing_the_export_reads(
    ranged_db: Path,
) -> None:
    # A writer holding RESERVED: new readers still start (rollback mode), and the export
    # is whole and the same; with the write committed before, the export shows it.
    writer = sqlite3.connect(ranged_db, timeout=0, isolation_level=None)
    writer.execute("BEGIN IMMEDIATE")
    writer.execute("UPDATE mix SET t = 'pending' WHERE id = 9000")
    connection = _session(ranged_db)
    body = b"".join(data for data, _ in _plan(connection, "SELECT * FROM mix").stream(
        connection.cursor()
    ))  # fmt: skip
    connection.rollback()
    assert b"pending" not in body and body.count(b"\n") == ROWS
    writer.execute("COMMIT")
    body = b"".join(data for data, _ in _plan(connection, "SELECT * FROM mix").stream(
        connection.cursor()
    ))  # fmt: skip
    connection.rollback()
    assert body.count(b'"pending"') == 1
    writer.close()
    connection.close()


# A live server: the client leaves mid-export ---------------------------------------------


@pytest.fixture
def live(tmp_path: Path, sample_db: Path) -> Iterator[tuple[LiveServer, Path]]:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sample_db, data_dir / "sample.db")
    path = tmp_path / "big.db"
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE big (id INTEGER PRIMARY KEY, t TEXT, r REAL)")
        db.executemany(
            "INSERT INTO big VALUES (?, ?, ?)",
            ((i, f"row {i:08d} " + "p" * 60, i / 4) for i in range(1, 400_001)),
        )
    server = start_server(data_dir)
    try:
        with server.client() as http:
            body = {"name": "big", "kind": "sqlite", "options": {"path": str(path)}}
            assert http.post("/connections", json=body).status_code == 201
        yield server, path
    finally:
        stop_server(server)


def _can_write(path: Path) -> bool:
    writer = sqlite3.connect(path, timeout=0)
    try:
        with writer:
            writer.execute("UPDATE big SET t = t WHERE id = 1")
        return True
    except sqlite3.OperationalError:
        return False
    finally:
        writer.close()


def test_a_client_leaving_a_range_export_releases_the_file(live: tuple[LiveServer, Path]) -> None:
    server, path = live
    parts = urlsplit(server.url)
    data = orjson.dumps({"sql": "SELECT * FROM big"})
    head = (
        f"POST /connections/big/export?format=ndjson HTTP/1.1\r\nHost: {parts.netloc}\r\n"
        f"X-API-KEY: {server.api_key}\r\nContent-Type: application/json\r\n"
        f"Content-Length: {len(data)}\r\n\r\n"
    )
    with socket.create_connection((parts.hostname, parts.port), timeout=60) as sock:
        sock.sendall(head.encode() + data)
        received = b""
        while len(received) < 200_000:  # into the rows; the socket buffers hold the rest
            chunk = sock.recv(65536)
            assert chunk, "the export ended before the client left"
            received += chunk
        assert not _can_write(path), "the export's readers hold the file while it runs"
    # Gone from the client's side: both readers end and the writer gets through (30 s
    # bounds a loaded machine).
    wait_until(lambda: _can_write(path), within_s=30, what="the export releasing the file")
    with httpx.Client(base_url=server.url, headers={"X-API-KEY": server.api_key}) as http:
        wait_until(lambda: not http.get("/queries").json(), within_s=30, what="no query running")
        entries = [
            e for e in http.get("/history?limit=5").json() if e["sql"] == "SELECT * FROM big"
        ]
        assert [e["outcome"] for e in entries] == ["cancelled"], entries


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize(
    ("sql", "rows"),
    [
        ("SELECT * FROM mix", ROWS),  # texts with newlines, CRs and U+2028: escaped in JSON
        ("SELECT * FROM mix WHERE t LIKE '%,%' OR r > 100 OR x IS NULL", None),
        ("SELECT * FROM sparse", 7_007),
        ("SELECT * FROM gaps", ROWS),
        ("SELECT * FROM empty", 0),
    ],
)
def test_a_range_export_counts_the_rows_it_wrote(
    client: TestClient,
    conn: str,
    ranged: list[bool],
    ranged_db: Path,
    sql: str,
    rows: Any,
    fmt: str,
) -> None:
    """A span's rows are counted from its lines; history has the count the database has."""
    if rows is None:
        with sqlite3.connect(ranged_db) as db:
            rows = db.execute(f"SELECT count(*) FROM ({sql})").fetchone()[0]
    body = _export(client, sql, fmt)
    assert ranged == [True]
    lines = body.count(b"\n") - (1 if fmt == "csv" else 0)  # the header
    entry = next(e for e in client.get("/history?limit=20").json() if e["sql"] == sql)
    assert entry["outcome"] == "ok"
    assert entry["row_count"] == rows
    if fmt == "ndjson":
        assert lines == rows
