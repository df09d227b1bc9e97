"""The metadata store and the secret store: secrets never in the store, 0600 files, and
nothing half-written when a step fails."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from connector.keychain import FileSecrets, open_secret_store
from connector.models import ConnectionInput
from connector.runtime import Runtime


def sqlite_payload(path: Path, name: str = "mine", secret: str | None = None) -> ConnectionInput:
    sqlite3.connect(path).close()
    return ConnectionInput(name=name, kind="sqlite", options={"path": str(path)}, secret=secret)


def test_store_secret_goes_to_the_secret_store_only(runtime: Runtime, tmp_path: Path) -> None:
    secret = "pa$$word-with-@:/%#-and spaces"
    runtime.connector.create_connection(
        sqlite_payload(tmp_path / "a.db", secret=secret), test=False
    )
    assert runtime.secrets.get("mine") == secret
    metadata = (runtime.settings.data_dir / "connector.db").read_bytes()
    assert secret.encode() not in metadata
    secrets_file = runtime.settings.data_dir / "secrets.json"
    assert stat.S_IMODE(secrets_file.stat().st_mode) == 0o600
    assert all(
        secret not in str(spec.model_dump()) for spec in runtime.connector.list_connections()
    )
    runtime.connector.remove_connection("mine")
    assert runtime.secrets.get("mine") is None


def test_store_failed_secret_write_leaves_no_connection(
    runtime: Runtime, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A stand-in for a keychain that fails mid-request: no real keychain can be made to fail
    # on demand here.
    def broken(name: str, secret: str) -> None:
        raise OSError("keychain locked")

    monkeypatch.setattr(runtime.secrets, "set", broken)
    with pytest.raises(OSError):
        runtime.connector.create_connection(
            sqlite_payload(tmp_path / "b.db", secret="x"), test=False
        )
    assert [spec.name for spec in runtime.connector.list_connections()] == ["sample"]


def test_store_file_secrets_are_private_and_atomic(tmp_path: Path) -> None:
    store = FileSecrets(tmp_path / "secrets.json")
    store.set("a", "1")
    store.set("b", "2")
    store.delete("a")
    assert store.get("a") is None and store.get("b") == "2"
    assert stat.S_IMODE((tmp_path / "secrets.json").stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["secrets.json"]


def test_store_falls_back_to_a_file_without_a_keychain(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import keyring
    from keyring.backends import fail

    previous = keyring.get_keyring()
    keyring.set_keyring(fail.Keyring())
    try:
        store = open_secret_store(tmp_path, "abc", "auto")
        assert isinstance(store, FileSecrets)
        store.set("conn", "value")
    finally:
        keyring.set_keyring(previous)
    assert "No OS keychain" in caplog.text and "value" not in caplog.text


def test_store_history_keeps_sql_not_values(runtime: Runtime) -> None:
    from connector.models import QueryRequest

    runtime.connector.run(
        "sample", QueryRequest(sql="SELECT :v AS v", params={"v": "hidden-value"})
    )
    entry = runtime.connector.history(limit=1)[0]
    assert entry.sql == "SELECT :v AS v" and entry.outcome == "ok" and entry.row_count == 1
    metadata = (runtime.settings.data_dir / "connector.db").read_bytes()
    wal = runtime.settings.data_dir / "connector.db-wal"
    assert b"hidden-value" not in metadata + (wal.read_bytes() if wal.exists() else b"")
