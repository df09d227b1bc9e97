"""CLI commands that reach a running server (``queries``, ``cancel``) or a whole process
(Ctrl-C during ``export``), and ``connections edit``."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from connector.cli import main
from tests.conftest import start_server, stop_server, wait_until

SLOW = (
    "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000000) "
    "SELECT count(*) FROM n"
)


def _cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )


def test_cli_queries_and_cancel_reach_the_running_server(tmp_path: Path, sample_db: Path) -> None:
    data_dir = tmp_path / "d"
    data_dir.mkdir()
    shutil.copy(sample_db, data_dir / "sample.db")
    server = start_server(data_dir)
    answers: list[int] = []

    def has_sample() -> bool:
        with server.client() as http:
            return "sample" in http.get("/connections").text

    try:
        wait_until(
            has_sample,
            within_s=30,  # the sample is registered in the background after start
            what="the sample connection",
        )

        def run_slow() -> None:
            with server.client() as http:
                answers.append(
                    http.post(
                        "/connections/sample/query", json={"sql": SLOW, "timeout_s": 120}
                    ).status_code
                )

        worker = threading.Thread(target=run_slow)
        worker.start()
        wait_until(
            lambda: "WITH RECURSIVE" in _cli(data_dir, "queries").stdout,
            within_s=30,  # a CLI start takes about a second; 30 s only guards a hang
            what="the listing",
        )
        listed = _cli(data_dir, "queries", "-f", "json")
        assert listed.returncode == 0, listed.stderr
        import json

        running = json.loads(listed.stdout)
        assert len(running) == 1 and running[0]["connection"] == "sample"
        cancelled = _cli(data_dir, "cancel", running[0]["query_id"])
        assert cancelled.returncode == 0, cancelled.stderr
        worker.join(timeout=30)  # the cancel stops it at once; 30 s only guards a hang
        assert answers == [499]
        unknown = _cli(data_dir, "cancel", "q_0000000000000000")
        assert unknown.returncode == 4 and unknown.stderr.startswith("error: ")
    finally:
        stop_server(server)
    stopped = _cli(data_dir, "queries")
    assert stopped.returncode == 5 and "no server is running" in stopped.stderr


def test_cli_ctrl_c_during_an_export_exits_6_and_writes_nothing(
    tmp_path: Path, sample_db: Path
) -> None:
    data_dir = tmp_path / "d"
    env = {**os.environ, "CONNECTOR_SAMPLE": "false", "CONNECTOR_SECRET_STORE": "file"}
    add = subprocess.run(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), "connections", "add",
         "s", "--kind", "sqlite", "-o", f"path={sample_db}"],
        env=env, capture_output=True, text=True, check=True,
    )  # fmt: skip
    assert add.returncode == 0
    target = tmp_path / "rows.ndjson"
    many = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n) SELECT i FROM n"
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), "export", "-c", "s",
         many, "-o", str(target)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    partial = tmp_path / ".rows.ndjson.part"
    wait_until(
        lambda: partial.exists() and partial.stat().st_size > 100_000,
        within_s=60,  # the export writes megabytes a second; 60 s only guards a hang
        what="the export to be writing",
        process=process,
    )
    process.send_signal(signal.SIGINT)
    _, stderr = process.communicate(timeout=60)
    assert process.returncode == 6, stderr
    assert "cancelled" in stderr and "Traceback" not in stderr
    assert not target.exists() and not partial.exists()


@pytest.fixture
def cli(tmp_path: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONNECTOR_SECRET_STORE", "file")
    monkeypatch.setenv("CONNECTOR_SAMPLE", "false")
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, ["--data-dir", str(tmp_path / "data"), *args])

    return invoke


def test_cli_connections_edit_changes_options_and_access(cli) -> None:  # type: ignore[no-untyped-def]
    added = cli(
        "connections",
        "add",
        "db",
        "--kind",
        "mysql",
        "--no-test",
        "-o",
        "host=127.0.0.1",
        "-o",
        "user=u",
    )
    assert added.exit_code == 0, added.output
    edited = cli("connections", "edit", "db", "--no-test", "-o", "port=3307", "--read-write")
    assert edited.exit_code == 0, edited.output
    assert "read-write" in edited.output
    listed = cli("connections", "list").output
    assert "port=3307" in listed and "host=127.0.0.1" in listed
    back = cli("connections", "edit", "db", "--no-test", "--unset", "port", "--read-only")
    assert back.exit_code == 0 and "read-only" in back.output
    assert "port=3307" not in cli("connections", "list").output
    bad = cli("connections", "edit", "db", "--no-test", "-o", "port=lots")
    assert bad.exit_code == 2 and "whole number" in bad.output
    assert cli("connections", "edit", "nope", "--no-test").exit_code == 4
