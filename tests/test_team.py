"""A team's deployment: two real server processes (replicas) on one PostgreSQL metadata
database. What one replica saves the other serves; a stale edit is refused, never lost; a
named key works on both and is refused by both the moment it is revoked; a query running
on one is listed and cancelled through the other."""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import sql as pgsql

from tests import netdb
from tests.conftest import (
    LiveServer,
    assert_error,
    require_service,
    start_server,
    stop_server,
    wait_until,
)

PG_HOST, PG_PORT = "127.0.0.1", 5432
SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
SAVED = {
    "name": "closes",
    "connection": "sample",
    "sql": "SELECT symbol, close FROM daily_prices WHERE symbol = :s ORDER BY date DESC",
    "params": [{"name": "s", "type": "ticker", "default": "ABF"}],
    "limit": 2,
}
# Another replica sees a new running query once its owner publishes it (every 0.25 s); on
# a loaded two-core machine that can stretch to seconds, so waits allow 30 s.
SHOWS_UP_S = 30


@pytest.fixture(scope="module")
def metadata_url() -> Iterator[str]:
    require_service(
        netdb.port_open(PG_HOST, PG_PORT), f"no PostgreSQL server on {PG_HOST}:{PG_PORT}"
    )
    name = f"dc_team_{secrets.token_hex(4)}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", autocommit=True) as root:
        root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", autocommit=True) as root:
        root.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )


def cli(metadata_url: str, data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CONNECTOR_METADATA_URL": metadata_url, "CONNECTOR_SECRET_STORE": "file"}
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def replicas(
    tmp_path_factory: pytest.TempPathFactory, sample_db: Path, metadata_url: str
) -> Iterator[tuple[LiveServer, LiveServer]]:
    servers = []
    for name in ("a", "b"):
        data_dir = tmp_path_factory.mktemp(f"replica_{name}")
        shutil.copy(sample_db, data_dir / "sample.db")
        servers.append(start_server(data_dir, env={"CONNECTOR_METADATA_URL": metadata_url}))
    yield servers[0], servers[1]
    for server in servers:
        stop_server(server)


@pytest.fixture(scope="module")
def alice(
    replicas: tuple[LiveServer, LiveServer],
    metadata_url: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> str:
    made = cli(metadata_url, tmp_path_factory.mktemp("admin"), "key", "add", "alice")
    assert made.returncode == 0, made.stderr
    return made.stdout.strip()


def as_key(server: LiveServer, key: str) -> httpx.Client:
    return httpx.Client(base_url=server.url, headers={"X-API-KEY": key}, timeout=30)


def wait_for_sample(server: LiveServer, key: str) -> None:
    with as_key(server, key) as http:
        wait_until(
            lambda: "sample" in http.get("/connections").text,
            within_s=60,  # the sample connection is registered just after start
            what="the sample connection",
        )


def test_team_saved_query_made_on_one_replica_is_a_widget_on_the_other(
    replicas: tuple[LiveServer, LiveServer], alice: str
) -> None:
    a, b = replicas
    wait_for_sample(a, alice)
    with as_key(a, alice) as on_a, as_key(b, alice) as on_b:
        assert on_a.post("/saved-queries", json=SAVED).status_code == 201
        widgets = on_b.get("/widgets.json").json()
        assert "saved_closes" in widgets
        rows = on_b.get("/widgets/closes", params={"s": "ABF"}).json()
        assert rows[0] == {"symbol": "ABF", "close": 368.46}
        # Both replicas read version 1; the first to write wins, the second gets 409.
        read_a, read_b = on_a.get("/saved-queries/closes"), on_b.get("/saved-queries/closes")
        assert read_a.headers["etag"] == read_b.headers["etag"] == '"1"'
        first = on_a.put(
            "/saved-queries/closes",
            json={**SAVED, "description": "from a"},
            headers={"If-Match": read_a.headers["etag"]},
        )
        assert first.status_code == 200, first.text
        second = on_b.put(
            "/saved-queries/closes",
            json={**SAVED, "description": "from b"},
            headers={"If-Match": read_b.headers["etag"]},
        )
        assert_error(second, 409, "conflict")
        assert on_b.get("/saved-queries/closes").json()["description"] == "from a"
        history = on_b.get("/history?limit=5").json()
        assert history[0]["caller"] == "alice"


def test_team_query_running_on_one_replica_is_listed_and_cancelled_by_the_other(
    replicas: tuple[LiveServer, LiveServer], alice: str
) -> None:
    a, b = replicas
    wait_for_sample(a, alice)
    answer: dict[str, httpx.Response] = {}

    def run_on_a() -> None:
        with as_key(a, alice) as on_a:
            answer["r"] = on_a.post(
                "/connections/sample/query", json={"sql": SLOW_SQL, "timeout_s": 60}
            )

    worker = threading.Thread(target=run_on_a)
    worker.start()
    with as_key(b, alice) as on_b:

        def listed_on_b() -> list[dict[str, Any]]:
            return [q for q in on_b.get("/queries").json() if q["sql"] == SLOW_SQL]

        running = wait_until(listed_on_b, within_s=SHOWS_UP_S, what="B listing A's query")
        assert running[0]["caller"] == "alice"
        assert on_b.delete(f"/queries/{running[0]['query_id']}").status_code == 204
        worker.join(timeout=60)  # the cancel reaches A within a tick; 60 s for a slow machine
        assert not worker.is_alive()
        assert_error(answer["r"], 499, "cancelled")
        wait_until(lambda: not listed_on_b(), within_s=SHOWS_UP_S, what="the query gone from B")
        assert_error(on_b.delete("/queries/q_0000000000000000"), 404, "not_found")


def test_team_revoked_key_is_refused_at_once_by_every_replica(
    replicas: tuple[LiveServer, LiveServer], metadata_url: str, tmp_path: Path
) -> None:
    made = cli(metadata_url, tmp_path, "key", "add", "bob")
    assert made.returncode == 0, made.stderr
    bob = made.stdout.strip()
    for server in replicas:
        with as_key(server, bob) as http:
            assert http.get("/connections").status_code == 200
    listed = cli(metadata_url, tmp_path, "key", "list", "-f", "json")
    (entry,) = [k for k in json.loads(listed.stdout) if k["name"] == "bob"]
    assert entry["revoked_at"] is None and entry["source"] == "cli"
    assert bob not in listed.stdout
    revoked = cli(metadata_url, tmp_path, "key", "revoke", "bob")
    assert revoked.returncode == 0, revoked.stderr
    for server in replicas:  # the very next request, no waiting
        with as_key(server, bob) as http:
            assert_error(http.get("/connections"), 403, "auth_invalid")
    assert cli(metadata_url, tmp_path, "key", "revoke", "nobody").returncode == 4


def test_team_workers_share_running_queries_whichever_process_answers(
    tmp_path: Path, sample_db: Path
) -> None:
    # serve --workers 2 on the laptop's SQLite store: the kernel hands each new connection
    # to either worker, so listing from fresh connections reaches both; each must list the
    # query the other may be running, and a cancel from either must stop it.
    shutil.copy(sample_db, tmp_path / "sample.db")
    server = start_server(tmp_path, "--workers", "2")
    try:
        answer: dict[str, httpx.Response] = {}

        def run() -> None:
            with server.client() as http:
                wait_until(
                    lambda: "sample" in http.get("/connections").text,
                    within_s=60,  # registered just after start
                    what="the sample connection",
                )
                answer["r"] = http.post(
                    "/connections/sample/query", json={"sql": SLOW_SQL, "timeout_s": 60}
                )

        worker = threading.Thread(target=run)
        worker.start()

        def listed() -> list[dict[str, Any]]:
            with server.client() as http:  # a new connection: either worker may take it
                return [q for q in http.get("/queries").json() if q["sql"] == SLOW_SQL]

        # Its own worker lists it at once, the other once it is published (a tick later).
        def listed_by_all() -> list[dict[str, Any]]:
            seen = [listed() for _ in range(6)]
            return seen[0] if all(seen) else []

        running = wait_until(listed_by_all, within_s=SHOWS_UP_S + 60, what="the query listed")
        for _ in range(10):
            assert [q["query_id"] for q in listed()] == [running[0]["query_id"]]
        with server.client() as http:
            assert http.delete(f"/queries/{running[0]['query_id']}").status_code == 204
        worker.join(timeout=60)  # the cancel reaches its worker within a tick
        assert not worker.is_alive()
        assert_error(answer["r"], 499, "cancelled")
    finally:
        output = stop_server(server)
    assert server.process.returncode == 0, output
