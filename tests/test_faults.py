"""Faults, each made for real: the server SIGKILLed while it saves connections (on restart
every connection row and its secret in the keychain fallback file agree, and the metadata
database passes its integrity check); a data folder that is read-only or full, at start and
while running (one clear line, no traceback, nothing half-written); no keychain (the file
fallback, with a warning, from the CLI and in the server's log); the database stopped in
the middle of a query (502 with one sentence, the server stays up, and the next query once
the database is back works), on a private PostgreSQL and a private MariaDB."""

from __future__ import annotations

import json
import os
import random
import signal
import sqlite3
import subprocess
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import LiveServer, start_server, stop_server

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
def small_tmpfs(tmp_path: Path) -> Any:
    """A 1 MB tmpfs at ``tmp_path/mnt`` (needs root), unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mount = tmp_path / "mnt"
    mount.mkdir()
    made = _run("mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount))
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.strip()}")
    yield mount
    _run("umount", "-l", str(mount))
