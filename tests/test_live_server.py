"""The contract against a real uvicorn server in a child process: start-up, auth, queries,
exports that stream in flat memory, client disconnects, Ctrl-C and taken ports."""

from __future__ import annotations

import os
import socket
import sqlite3
import stat
import subprocess
import sys
import threading
from pathlib import Path

import httpx
import orjson
import pytest

from benchmarks.harness import RssSampler
from connector.config import Settings
from tests.conftest import (
    LiveServer,
    assert_error,
    serve_refused,
    start_server,
    stop_server,
    wait_until,
)

STREAM_ROWS = 300_000


def test_live_health_auth_and_query(live_server: LiveServer) -> None:
    assert httpx.get(f"{live_server.url}/health").json()["status"] == "ok"
    assert_error(httpx.get(f"{live_server.url}/connections"), 401, "auth_required")
    with live_server.client() as client:
        body = client.post(
            "/connections/sample/query",
            json={"sql": "SELECT symbol FROM tickers WHERE symbol = :s", "params": {"s": "ABF"}},
        ).json()
        assert body["rows"] == [["ABF"]]
        rebinding = client.get("/connections", headers={"Host": "attacker.example:80"})
        assert_error(rebinding, 421, "bad_host")


@pytest.fixture(scope="module")
def big_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("big") / "big.db"
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, label TEXT, value REAL)")
        connection.executemany(
            "INSERT INTO t VALUES (?, ?, ?)",
            ((i, f"row-{i:08d}-padding-padding", i * 0.5) for i in range(STREAM_ROWS)),
        )
    return path


@pytest.fixture(scope="module")
def big(live_server: LiveServer, big_db: Path) -> str:
    """The connection ``big`` on the live server, made once for the tests that use it."""
    with live_server.client() as client:
        created = client.post(
            "/connections", json={"name": "big", "kind": "sqlite", "options": {"path": str(big_db)}}
        )
    assert created.status_code == 201, created.text
    return "big"


def test_live_export_streams_every_row_in_flat_memory(live_server: LiveServer, big: str) -> None:
    with live_server.client() as client:
        # A first, small export loads what every export needs (modules, buffers), so the
        # memory measured below is what the large one adds.
        client.post(
            f"/connections/{big}/export", json={"sql": "SELECT * FROM t LIMIT 10000"}
        ).raise_for_status()
        lines = 0
        last = b""
        with (
            RssSampler(live_server.process.pid) as rss,
            client.stream(
                "POST",
                f"/connections/{big}/export?format=ndjson",
                json={"sql": "SELECT * FROM t ORDER BY id"},
            ) as response,
        ):
            assert response.status_code == 200
            for chunk in response.iter_bytes():
                lines += chunk.count(b"\n")
                last = (last + chunk)[-200:]
        assert lines == STREAM_ROWS
        assert orjson.loads(last.splitlines()[-1])["id"] == STREAM_ROWS - 1
        # The whole result as JSON is ~20 MB and as Python objects several times that; a
        # streaming server holds one batch at a time.
        assert rss.peak_mb - rss.start_mb < 40, (rss.start_mb, rss.peak_mb)


def test_live_client_disconnect_stops_the_query(live_server: LiveServer, big: str) -> None:
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT x, randomblob(100) FROM c"
    with live_server.client() as client:
        with client.stream("POST", f"/connections/{big}/export", json={"sql": slow}) as response:
            assert response.status_code == 200
            received = 0
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > 1_000_000:
                    break
        # The query never ends by itself, so leaving the list at all shows the disconnect
        # stopped it; 30 s only bounds how long a loaded machine takes to notice.
        wait_until(
            lambda: client.get("/queries").json() == [],
            within_s=30,
            what="the export stopping after the client left",
        )
        latest = client.get("/history?limit=1").json()[0]
        assert latest["sql"] == slow and latest["outcome"] == "cancelled"


def test_live_first_start_sets_everything_up_and_ctrl_c_stops_cleanly(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    server = start_server(data_dir)
    try:
        assert stat.S_IMODE((data_dir / "api_key").stat().st_mode) == 0o600
        with server.client() as client:
            # The server answers at once; the sample database is made in the background
            # (a few seconds here; 120 s only bounds a loaded machine).
            wait_until(
                lambda: any(c["name"] == "sample" for c in client.get("/connections").json()),
                within_s=120,
                what="the sample connection appearing",
            )
            assert (data_dir / "sample.db").exists()
            rows = client.post(
                "/connections/sample/query", json={"sql": "SELECT count(*) FROM daily_prices"}
            ).json()["rows"]
            assert rows[0][0] >= 100_000
            assert client.get("/connections/sample").json()["read_only"] is True
    finally:
        output = stop_server(server)
    assert server.process.returncode == 0, output
    assert server.api_key in output  # shown once, at first start
    assert "X-API-KEY" in output and "http://localhost:" in output
    assert "Traceback" not in output
    again = start_server(data_dir)
    try:
        assert (data_dir / "api_key").read_text().strip() == server.api_key
    finally:
        second_output = stop_server(again)
    assert server.api_key not in second_output


def test_live_taken_port_is_explained_with_a_free_one(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = serve_refused(tmp_path, "--port", str(port), "--no-sample")
    assert result.returncode == 7
    assert f"port {port} is taken" in result.stderr
    suggested = int(result.stderr.split("--port ")[-1].split()[0])
    assert suggested != port


def test_live_port_auto_and_bad_port(tmp_path: Path) -> None:
    bad = serve_refused(tmp_path, "--port", "99999")
    assert bad.returncode == 2 and "1 to 65535" in bad.stderr
    # --port auto while the default port is taken: the server picks a free one and says which.
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        busy = taken.getsockname()[1]
        server = start_server(
            tmp_path / "auto", "--no-sample", port="auto", env={"CONNECTOR_PORT": str(busy)}
        )
        try:
            assert not server.url.endswith(f":{busy}")
            assert httpx.get(f"{server.url}/health").json()["status"] == "ok"
            # The hand-off names the port the server chose, not the default.
            handoff = subprocess.run(
                [sys.executable, "-m", "connector.cli", "--data-dir", str(tmp_path / "auto"), "openbb"],
                capture_output=True, text=True, check=True, env={**os.environ, "CONNECTOR_PORT": str(busy)},
            )  # fmt: skip
            chosen = server.url.rsplit(":", 1)[1]
            assert f"URL:     http://localhost:{chosen}" in handoff.stdout, handoff.stdout
            assert "No server is running" not in handoff.stderr
        finally:
            output = stop_server(server)
    assert server.process.returncode == 0, output
    assert not (tmp_path / "auto" / "server.json").exists()  # forgotten when it stopped
    after = subprocess.run(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(tmp_path / "auto"), "openbb"],
        capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert "No server is running" in after.stderr


def test_live_recommend_port_prints_a_free_port() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "connector.cli", "recommend-port"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    port = int(result.stdout.strip())
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))


def test_live_health_answers_during_slow_queries(live_server: LiveServer) -> None:
    # More slow queries than the server has worker threads: every thread is busy and more
    # wait, and /health still answers.
    workers_busy = Settings.model_fields["worker_threads"].default
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    statuses: list[int] = []

    def run() -> None:
        with live_server.client() as client:
            statuses.append(
                client.post(
                    "/connections/sample/query", json={"sql": slow, "timeout_s": 3}
                ).status_code
            )

    def running(client: httpx.Client) -> int:
        return sum(q["sql"] == slow for q in client.get("/queries").json())

    workers = [threading.Thread(target=run) for _ in range(workers_busy + 2)]
    for worker in workers:
        worker.start()
    with live_server.client() as client:
        # A loaded machine may take seconds to start them all; 30 s bounds that.
        wait_until(lambda: running(client) == workers_busy, within_s=30, what="every worker busy")
        assert httpx.get(f"{live_server.url}/health").status_code == 200
        # Still running after /health answered: it answered while every worker was busy.
        # The queries never end by themselves; only their 3 s timeout stops them.
        assert running(client) == workers_busy
    for worker in workers:
        worker.join(timeout=30)
    assert statuses == [504] * len(workers)
    assert live_server.process.poll() is None  # the server is still up
