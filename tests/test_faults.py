"""Faults, each made for real: the server SIGKILLed while it saves connections (on restart
every connection row and its secret in the keychain fallback file agree, and the metadata
database passes its integrity check); a data folder that is read-only or full, at start and
while running (one clear line, no traceback, nothing half-written); no keychain (the file
fallback, with a warning, from the CLI and in the server's log); the database stopped in
the middle of a query (502 with one sentence, the server stays up, and the next query once
the database is back works), on a private PostgreSQL and a private MariaDB."""

from __future__ import annotations

import contextlib
import json
import os
import random
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pymysql
import pytest

from tests import netdb
from tests.conftest import (
    LiveServer,
    assert_error,
    require_service,
    serve_refused,
    start_server,
    stop_server,
    wait_until,
)
from tests.test_mysql import PrivateMariadb, analyst_mariadb
from tests.test_postgresql import PrivatePostgres, analyst_postgres, pg_program

# Each round hammers the server this long before killing it: long enough for hundreds of
# saves, so kills land at many points of a save.
HAMMER_S = (0.3, 1.5)
ROUNDS = 8
NAMES = [f"c{i}" for i in range(4)]


def _body(name: str, number: int) -> dict[str, Any]:
    """A connection whose user (``u<number>``) says which secret (``pw-<number>``) is its."""
    return {
        "name": name,
        "kind": "postgresql",
        "options": {"host": "127.0.0.1", "port": 5432, "user": f"u{number}", "database": "d"},
        "secret": f"pw-{number}",
    }


def _hammer(server: LiveServer, stop: threading.Event, seed: int, saved: list[int]) -> None:
    chooser = random.Random(seed)
    number = seed * 1_000_000
    with server.client() as http:
        while not stop.is_set():
            number += 1
            name = chooser.choice(NAMES)
            action = chooser.random()
            try:
                if action < 0.45:
                    answer = http.put(f"/connections/{name}?test=false", json=_body(name, number))
                elif action < 0.85:
                    answer = http.post("/connections?test=false", json=_body(name, number))
                else:
                    answer = http.delete(f"/connections/{name}")
                if answer.is_success:
                    saved.append(number)
            except httpx.HTTPError:
                return  # the server was killed under this request


def _check_consistent(server: LiveServer) -> None:
    """After a restart: each row's secret is its own, no secret without a row, no pending
    secret left, the metadata database whole."""
    data_dir = server.data_dir
    with sqlite3.connect(data_dir / "connector.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
        rows = dict(db.execute("SELECT name, options FROM connections").fetchall())
    path = data_dir / "secrets.json"
    secrets = json.loads(path.read_text()) if path.exists() else {}
    assert not list(data_dir.glob(".secrets.json.*")), "a half-written secrets file"
    assert set(secrets) == set(rows), (secrets, rows)
    for name, options in rows.items():
        user = json.loads(options)["user"]
        assert secrets[name] == "pw-" + user.removeprefix("u"), (name, user, secrets[name])
    with server.client() as http:
        listed = http.get("/connections").json()
    assert sorted(item["name"] for item in listed) == sorted(rows)


def test_faults_sigkill_while_saving_leaves_old_or_new_state(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"CONNECTOR_SAMPLE": "false"}
    chooser = random.Random(os.getpid())
    saved: list[int] = []
    for round_number in range(ROUNDS):
        server = start_server(data_dir, env=env)
        try:
            _check_consistent(server)
            stop = threading.Event()
            workers = [
                threading.Thread(target=_hammer, args=(server, stop, round_number * 2 + k, saved))
                for k in range(2)
            ]
            for worker in workers:
                worker.start()
            stop.wait(chooser.uniform(*HAMMER_S))
            server.process.send_signal(signal.SIGKILL)
            server.process.wait(timeout=30)
            stop.set()
            for worker in workers:
                worker.join(timeout=30)
        finally:
            stop_server(server)
    server = start_server(data_dir, env=env)
    try:
        _check_consistent(server)
    finally:
        stop_server(server)
    assert len(saved) > ROUNDS * 10  # the rounds saved many times before each kill


def _run(*command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(command, capture_output=True, text=True, check=False, timeout=60)


@pytest.fixture
def small_tmpfs(tmp_path: Path) -> Iterator[Path]:
    """A 1 MB tmpfs at ``tmp_path/mnt``, unmounted afterwards: a folder that can really be
    made read-only or full (as root, chmod would not stop a write)."""
    require_service(os.geteuid() == 0, "mounting a tmpfs needs root")
    mount = tmp_path / "mnt"
    mount.mkdir()
    made = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount))
    require_service(made.returncode == 0, f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    _run("umount", "-l", str(mount))


def _fill(folder: Path) -> Path:
    """Fill ``folder``'s file system to the last byte; returns the file that does it."""
    filler = folder / "filler"
    with filler.open("wb", buffering=0) as handle:
        with contextlib.suppress(OSError):
            while True:
                handle.write(b"\0" * 4096)
        with contextlib.suppress(OSError):  # the last few hundred bytes
            while True:
                handle.write(b"\0")
    return filler


def _one_line_refusal(data_dir: Path, words: str) -> None:
    refused = serve_refused(data_dir, env={"CONNECTOR_SAMPLE": "false"})
    assert refused.returncode == 1, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, refused.stderr
    assert lines[0].startswith("error: The data folder ") and words in lines[0], lines[0]
    assert "Traceback" not in refused.stderr + refused.stdout


def test_faults_read_only_data_folder_is_one_line_at_start(small_tmpfs: Path) -> None:
    data_dir = small_tmpfs / "data"
    assert _run("mount", "-o", "remount,ro", str(small_tmpfs)).returncode == 0
    _one_line_refusal(data_dir, "Read-only file system")
    assert _run("mount", "-o", "remount,rw", str(small_tmpfs)).returncode == 0
    data_dir.mkdir()
    assert _run("mount", "-o", "remount,ro", str(small_tmpfs)).returncode == 0
    _one_line_refusal(data_dir, "Read-only file system")
    assert list(data_dir.iterdir()) == []  # nothing half-written


def test_faults_full_data_folder_at_start_and_while_saving(small_tmpfs: Path) -> None:
    data_dir = small_tmpfs / "data"
    filler = _fill(small_tmpfs)
    _one_line_refusal(data_dir, "No space left on device")
    assert not data_dir.exists() or list(data_dir.iterdir()) == []
    filler.unlink()
    server = start_server(data_dir, env={"CONNECTOR_SAMPLE": "false"})
    try:
        with server.client() as http:
            first = http.post("/connections?test=false", json=_body("c0", 1))
            assert first.status_code == 201, first.text
            before = (data_dir / "secrets.json").read_bytes()
            filler = _fill(small_tmpfs)
            added = http.post("/connections?test=false", json=_body("c1", 2))
            assert "cannot be written" in assert_error(added, 500, "storage_error")
            changed = http.put("/connections/c0?test=false", json=_body("c0", 3))
            assert "cannot be written" in assert_error(changed, 500, "storage_error")
            # Nothing half-written: the secrets file as it was, no temporary beside it, and
            # the store holds the first connection only, unchanged.
            assert (data_dir / "secrets.json").read_bytes() == before
            assert not list(data_dir.glob(".secrets.json.*"))
            listed = http.get("/connections").json()
            assert [(c["name"], c["options"]["user"]) for c in listed] == [("c0", "u1")]
            assert http.get("/health").status_code == 200
            filler.unlink()
            again = http.post("/connections?test=false", json=_body("c1", 2))
            assert again.status_code == 201, again.text
    finally:
        output = stop_server(server)
    assert "Traceback" not in output
    restarted = start_server(data_dir, env={"CONNECTOR_SAMPLE": "false"})
    try:
        _check_consistent(restarted)
    finally:
        stop_server(restarted)


# -- no keychain ---------------------------------------------------------------------------

NO_KEYCHAIN = {
    "CONNECTOR_SECRET_STORE": "auto",
    "CONNECTOR_SAMPLE": "false",
    # keyring's own switch: its "fail" backend is what a machine without a keychain has.
    "PYTHON_KEYRING_BACKEND": "keyring.backends.fail.Keyring",
}
FALLBACK_WARNING = "No OS keychain is available"


def test_faults_no_keychain_falls_back_to_the_file_with_a_warning(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {**os.environ, **NO_KEYCHAIN}
    added = subprocess.run(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), "connections",
         "add", "pg", "--kind", "postgresql", "-o", "host=127.0.0.1", "-o", "user=u1",
         "-o", "database=d", "--secret-stdin", "--no-test"],
        input="pw-1", capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    assert FALLBACK_WARNING in added.stderr and "pw-1" not in added.stderr + added.stdout
    secrets = data_dir / "secrets.json"
    assert json.loads(secrets.read_text()) == {"pg": "pw-1"}
    assert secrets.stat().st_mode & 0o777 == 0o600
    server = start_server(data_dir, env=NO_KEYCHAIN)
    try:
        with server.client() as http:
            answer = http.post("/connections?test=false", json=_body("c0", 7))
            assert answer.status_code == 201, answer.text
    finally:
        output = stop_server(server)
    assert FALLBACK_WARNING in output and "pw-7" not in output
    assert json.loads(secrets.read_text()) == {"pg": "pw-1", "c0": "pw-7"}


# -- the database stops in the middle of a query -------------------------------------------

# A statement shows up in the server's own process list within this on a loaded machine,
# and an answer to a query whose database died comes within this (hang guards, not speed).
SHOWS_UP_S = 30.0
ANSWER_S = 60.0


def _stopped_mid_query(
    server: LiveServer,
    name: str,
    sleep_sql: str,
    running: Callable[[], bool],
    stop: Callable[[], None],
) -> None:
    """Run ``sleep_sql``, ``stop`` the database while it runs, check the answer is a 502 in
    one sentence and the server still answers."""
    results: dict[str, httpx.Response] = {}

    def slow() -> None:
        with server.client() as http:
            results["r"] = http.post(f"/connections/{name}/query", json={"sql": sleep_sql})

    worker = threading.Thread(target=slow)
    worker.start()
    wait_until(
        lambda: "r" in results or running(),
        within_s=SHOWS_UP_S,
        what="the query running in the database",
    )
    assert "r" not in results, results["r"].text  # answered before the database stopped
    stop()
    worker.join(timeout=ANSWER_S)
    assert not worker.is_alive(), "no answer after the database stopped"
    detail = assert_error(results["r"], 502, "db_unavailable")
    assert netdb.PASSWORD not in detail
    with server.client() as http:
        assert http.get("/health").json()["status"] == "ok"
        assert http.get("/connections").status_code == 200


@pytest.fixture(scope="module")
def private_postgres() -> Iterator[PrivatePostgres]:
    with analyst_postgres("dc-pg-faults-") as server:
        yield server


def _pg_running(server: PrivatePostgres, marker: str) -> bool:
    try:
        with psycopg.connect(host=str(server.base), port=server.port, user="postgres") as db:
            rows = db.execute(
                # Row-limited reads go through a named cursor: the FETCH is what runs.
                "SELECT 1 FROM pg_stat_activity WHERE usename = 'analyst' AND state <> 'idle' "
                "AND (query LIKE %s OR query LIKE 'FETCH%%')",
                (f"%{marker}%",),
            ).fetchall()
    except psycopg.OperationalError:
        return False
    return bool(rows)


def _pg_stop_immediately(server: PrivatePostgres) -> None:
    """``pg_ctl stop -m immediate``: every backend dies at once, as in a crash."""
    subprocess.run(
        ["runuser", "-u", "postgres", "--", str(pg_program("pg_ctl")), "-D", str(server.data),
         "-m", "immediate", "-w", "stop"],
        check=True, capture_output=True, timeout=120,
    )  # fmt: skip


def test_faults_postgresql_stops_mid_query(
    tmp_path: Path, private_postgres: PrivatePostgres
) -> None:
    server = start_server(tmp_path / "data", env={"CONNECTOR_SAMPLE": "false"})
    try:
        body = netdb.analyst_body("postgresql", private_postgres.port, "pg")
        with server.client() as http:
            assert http.post("/connections", json=body).status_code == 201
        # The backend alone is killed (pg_terminate_backend), then the whole server.
        marker = "dc_fault_1"

        def terminate() -> None:
            with psycopg.connect(
                host=str(private_postgres.base), port=private_postgres.port, user="postgres",
                autocommit=True,
            ) as db:  # fmt: skip
                db.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE usename = 'analyst' AND state <> 'idle'"
                )

        _stopped_mid_query(
            server, "pg", f"SELECT pg_sleep(30), '{marker}'",
            lambda: _pg_running(private_postgres, marker), terminate,
        )  # fmt: skip
        marker = "dc_fault_2"
        _stopped_mid_query(
            server, "pg", f"SELECT pg_sleep(30), '{marker}'",
            lambda: _pg_running(private_postgres, marker),
            lambda: _pg_stop_immediately(private_postgres),
        )  # fmt: skip
        with server.client() as http:
            down = http.post("/connections/pg/query", json={"sql": "SELECT 1"})
            assert_error(down, 502, "db_unavailable")
            private_postgres.start()
            back = http.post("/connections/pg/query", json={"sql": "SELECT 2 AS two"})
            assert back.status_code == 200 and back.json()["rows"] == [[2]], back.text
    finally:
        output = stop_server(server)
    assert "Traceback" not in output and netdb.PASSWORD not in output


@pytest.fixture
def private_mariadb() -> Iterator[PrivateMariadb]:
    with analyst_mariadb("dc-mariadb-faults-") as server:
        yield server


def _mariadb_sessions(server: PrivateMariadb, marker: str) -> list[int]:
    try:
        root = pymysql.connect(host="127.0.0.1", port=server.port, user="root", autocommit=True)
    except pymysql.err.OperationalError:
        return []
    with root.cursor() as cur:
        cur.execute(
            "SELECT id FROM information_schema.PROCESSLIST WHERE user = 'analyst' AND info LIKE %s",
            (f"%{marker}%",),
        )
        ids = [int(row[0]) for row in cur.fetchall()]
    root.close()
    return ids


def test_faults_mariadb_stops_mid_query(tmp_path: Path, private_mariadb: PrivateMariadb) -> None:
    server = start_server(tmp_path / "data", env={"CONNECTOR_SAMPLE": "false"})
    try:
        body = netdb.analyst_body("mysql", private_mariadb.port, "maria")
        with server.client() as http:
            assert http.post("/connections", json=body).status_code == 201

        def kill_session(marker: str) -> None:
            root = pymysql.connect(
                host="127.0.0.1", port=private_mariadb.port, user="root", autocommit=True
            )
            with root.cursor() as cur:
                for session in _mariadb_sessions(private_mariadb, marker):
                    cur.execute(f"KILL CONNECTION {session}")
            root.close()

        def crash() -> None:
            assert private_mariadb.process is not None
            private_mariadb.process.kill()  # SIGKILL: the server dies as in a crash
            private_mariadb.process.wait(30)
            private_mariadb.process = None

        # The session alone is killed, then the whole server.
        _stopped_mid_query(
            server, "maria", "SELECT SLEEP(30), 'dc_fault_3'",
            lambda: bool(_mariadb_sessions(private_mariadb, "dc_fault_3")),
            lambda: kill_session("dc_fault_3"),
        )  # fmt: skip
        _stopped_mid_query(
            server, "maria", "SELECT SLEEP(30), 'dc_fault_4'",
            lambda: bool(_mariadb_sessions(private_mariadb, "dc_fault_4")), crash,
        )  # fmt: skip
        with server.client() as http:
            down = http.post("/connections/maria/query", json={"sql": "SELECT 1"})
            assert_error(down, 502, "db_unavailable")
            private_mariadb.start()
            back = http.post("/connections/maria/query", json={"sql": "SELECT 2 AS two"})
            assert back.status_code == 200 and back.json()["rows"] == [[2]], back.text
    finally:
        output = stop_server(server)
    assert "Traceback" not in output and netdb.PASSWORD not in output
