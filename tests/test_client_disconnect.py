"""A client that goes away stops its query in the database, before or after the first row,
on ``/query`` and on ``/export`` in every format, on SQLite, MariaDB and PostgreSQL.

The client is a raw socket against a real server process: it sends the request, waits
until the statement runs (or reads a little of the answer), and closes. What happened is
checked from the database's own side (MariaDB's PROCESSLIST, PostgreSQL's
pg_stat_activity) and, for SQLite, from the server's list of running queries and its
history, where the query's outcome is ``cancelled``. An export cancelled mid-way is cut
short (no final chunk) with one line in the server's log, not a traceback.
"""

from __future__ import annotations

import secrets
import shutil
import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import orjson
import pytest

from tests import netdb
from tests.conftest import LiveServer, start_server, stop_server, wait_until

FORMATS = ["ndjson", "csv", "json"]
# A recursive CTE that never ends: it stops only when something stops it.
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) "
# Long enough that a statement still gone within netdb.GONE_WITHIN_S was stopped, and
# short enough that a failing test leaves nothing running for long.
SLOW_S = 120
# How much of a streaming answer the client reads before leaving: past the headers and
# well into the rows.
READ_BYTES = 200_000


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory, sample_db: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("disconnect")
    shutil.copy(sample_db, data_dir / "sample.db")
    live = start_server(data_dir)
    yield live
    stop_server(live)


@pytest.fixture(scope="module")
def http(server: LiveServer) -> Iterator[httpx.Client]:
    with server.client() as client:
        wait_until(
            lambda: any(c["name"] == "sample" for c in client.get("/connections").json()),
            within_s=120,  # the sample connection is added in the background at start
            what="the sample connection",
        )
        yield client


def send_then_leave(
    server: LiveServer,
    path: str,
    body: dict[str, Any],
    *,
    read_bytes: int,
    still_running: Callable[[], object],
) -> bytes:
    """POST ``body`` on a raw socket, read ``read_bytes`` of the answer, check that the
    statement is still running, close; what was read (the status line first)."""
    parts = urlsplit(server.url)
    host, port = parts.hostname or "127.0.0.1", parts.port or 80
    data = orjson.dumps(body)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nX-API-KEY: {server.api_key}\r\n"
        f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
    )
    received = b""
    # 60 s: only a hang guard on a loaded machine's first bytes.
    with socket.create_connection((host, port), timeout=60) as sock:
        sock.sendall(head.encode() + data)
        while len(received) < read_bytes:
            chunk = sock.recv(65536)
            if not chunk:
                break
            received += chunk
        assert still_running(), "the statement should still run before the client leaves"
    return received


class Leaver:
    """Sends a request on its own socket and leaves when told (in a thread, since the
    server answers nothing while the statement runs)."""

    def __init__(self, server: LiveServer, path: str, body: dict[str, Any]) -> None:
        parts = urlsplit(server.url)
        self.sock = socket.create_connection((parts.hostname, parts.port), timeout=60)
        data = orjson.dumps(body)
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {parts.netloc}\r\nX-API-KEY: {server.api_key}\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(data)}\r\n\r\n"
        )
        self.sock.sendall(head.encode() + data)

    def leave(self) -> None:
        self.sock.close()


def path_of(connection: str, endpoint: str) -> str:
    if endpoint == "query":
        return f"/connections/{connection}/query"
    return f"/connections/{connection}/export?format={endpoint}"


# SQLite ---------------------------------------------------------------------------------


def running_sql(http: httpx.Client, sql: str) -> int:
    return sum(q["sql"] == sql for q in http.get("/queries").json())


def wait_sqlite_stopped(http: httpx.Client, sql: str) -> None:
    # The statements never end by themselves, so leaving the list at all shows the
    # disconnect stopped them; 30 s only bounds how long a loaded machine takes.
    wait_until(lambda: running_sql(http, sql) == 0, within_s=30, what="the query stopping on leave")
    entries = [e for e in http.get("/history?limit=50").json() if e["sql"] == sql]
    assert [e["outcome"] for e in entries] == ["cancelled"], entries


@pytest.mark.parametrize("endpoint", ["query", *FORMATS])
def test_sqlite_client_leaving_before_the_first_row_stops_the_query(
    server: LiveServer, http: httpx.Client, endpoint: str
) -> None:
    sql = f"{ENDLESS}SELECT count(*), '{secrets.token_hex(4)}' AS marker FROM c"
    leaver = Leaver(server, path_of("sample", endpoint), {"sql": sql, "timeout_s": SLOW_S})
    try:
        wait_until(lambda: running_sql(http, sql), within_s=30, what="the query running")
    finally:
        leaver.leave()
    wait_sqlite_stopped(http, sql)
    assert http.post("/connections/sample/query", json={"sql": "SELECT 1"}).json()["rows"] == [[1]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_sqlite_client_leaving_mid_export_stops_the_query(
    server: LiveServer, http: httpx.Client, fmt: str
) -> None:
    sql = f"{ENDLESS}SELECT x, printf('%080d', x) AS pad, '{secrets.token_hex(4)}' AS m FROM c"
    received = send_then_leave(
        server,
        path_of("sample", fmt),
        {"sql": sql, "timeout_s": SLOW_S},
        read_bytes=READ_BYTES,
        still_running=lambda: running_sql(http, sql),
    )
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    wait_sqlite_stopped(http, sql)


# MariaDB and PostgreSQL -------------------------------------------------------------------


@pytest.fixture(scope="module", params=["mariadb", "postgres"])
def network(
    request: pytest.FixtureRequest, http: httpx.Client
) -> Iterator[tuple[netdb.NetDb, str]]:
    make = netdb.mariadb_database if request.param == "mariadb" else netdb.postgres_database
    with make() as db:
        name = f"{request.param}_{secrets.token_hex(3)}"
        created = http.post("/connections", json=db.body(name))
        assert created.status_code == 201, created.text
        yield db, name


def endless_rows(db: netdb.NetDb, marker: str) -> str:
    """Rows as fast as the server makes them, far more than any test reads."""
    if db.kind == "mysql":
        return f"SELECT seq AS n, '{marker}' AS m FROM seq_1_to_50000000"
    return f"SELECT g AS n, '{marker}' AS m FROM generate_series(1, 50000000) AS g"


@pytest.mark.parametrize("endpoint", ["query", *FORMATS])
def test_network_client_leaving_before_the_first_row_stops_the_statement(
    server: LiveServer, http: httpx.Client, network: tuple[netdb.NetDb, str], endpoint: str
) -> None:
    db, name = network
    marker = "mk_leave_" + secrets.token_hex(3)
    leaver = Leaver(
        server, path_of(name, endpoint), {"sql": db.sleep_sql(SLOW_S, marker), "timeout_s": 300}
    )
    try:
        netdb.wait_running(db, marker)
    finally:
        leaver.leave()
    netdb.wait_gone(db, marker)
    again = http.post(f"/connections/{name}/query", json={"sql": "SELECT 2 AS two"})
    assert again.json()["rows"] == [[2]]


@pytest.mark.parametrize("fmt", FORMATS)
def test_network_client_leaving_mid_export_stops_the_statement(
    server: LiveServer, http: httpx.Client, network: tuple[netdb.NetDb, str], fmt: str
) -> None:
    db, name = network
    marker = "mk_mid_" + secrets.token_hex(3)
    received = send_then_leave(
        server,
        path_of(name, fmt),
        {"sql": endless_rows(db, marker), "timeout_s": 300},
        read_bytes=READ_BYTES,
        still_running=lambda: db.running(marker),
    )
    assert received.startswith(b"HTTP/1.1 200"), received[:200]
    netdb.wait_gone(db, marker)
    again = http.post(f"/connections/{name}/query", json={"sql": "SELECT 2 AS two"})
    assert again.json()["rows"] == [[2]]


def test_export_cancelled_mid_way_is_cut_short_without_a_traceback(
    tmp_path: Path, sample_db: Path
) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    shutil.copy(sample_db, data_dir / "sample.db")
    live = start_server(data_dir)
    try:
        sql = f"{ENDLESS}SELECT x, '{secrets.token_hex(4)}' AS m FROM c"
        with live.client() as client:
            wait_until(
                lambda: any(c["name"] == "sample" for c in client.get("/connections").json()),
                within_s=120,  # the sample connection is added in the background at start
                what="the sample connection",
            )
            with (
                pytest.raises(httpx.RemoteProtocolError),
                client.stream(
                    "POST", "/connections/sample/export", json={"sql": sql, "timeout_s": SLOW_S}
                ) as response,
            ):
                assert response.status_code == 200
                chunks = response.iter_bytes()
                next(chunks)
                (query,) = [q for q in client.get("/queries").json() if q["sql"] == sql]
                assert client.delete(f"/queries/{query['query_id']}").status_code == 204
                for _ in chunks:  # the rest, until the server cuts the transfer short
                    pass
            wait_sqlite_stopped(client, sql)
    finally:
        output = stop_server(live)
    assert "Traceback" not in output, output
