"""Where connection secrets (passwords, private keys) live: the OS keychain, or a 0600 file.

The keychain (``keyring``) is used when the platform has one. On a machine without
(headless Linux, containers) secrets go to ``secrets.json`` in the data folder, readable
by the owner only, with a warning at start. Secrets are namespaced by this data folder's
instance id, so two data folders never share or overwrite each other's secrets.
``DeclaredSecrets`` puts the secrets of connections declared in the configuration file
(read from their variables or files at start) in front of either, in memory only.

A connection's row (in the store) and its secret (here) are two writes that a crash can
split. ``stage_secret`` writes a changed secret under a pending name with the digest of
the row it belongs to, before the row is committed; ``settle_secrets``, at every start,
keeps a pending secret whose row did commit and drops the rest (and, where the secrets
can be listed, secrets whose row never committed), so a store holds the old state or the
new, never a row with another state's secret.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal, Protocol

from connector.errors import StorageError

log = logging.getLogger(__name__)


class SecretStore(Protocol):
    description: str

    def get(self, name: str) -> str | None: ...
    def set(self, name: str, secret: str) -> None: ...
    def delete(self, name: str) -> None: ...


def write_private_file(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` atomically (a synced temporary file renamed over it, then
    the folder synced so the rename survives a crash), owner-only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        os.chmod(temp, 0o600)
        with os.fdopen(handle, "wb") as stream:
            stream.write(data)
            stream.flush()
            os.fsync(stream.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise
    os.chmod(path, 0o600)
    if os.name == "posix":
        folder = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(folder)
        finally:
            os.close(folder)


def remove_stale_temporaries(path: Path) -> None:
    """Remove what a write to ``path`` killed before its rename left behind."""
    for temp in path.parent.glob(f".{path.name}.*"):
        temp.unlink(missing_ok=True)


class FileSecrets:
    """Secrets in a JSON file that only the owner can read."""

    def __init__(self, path: Path, *, warn: bool = False) -> None:
        self.path = path
        self.description = f"the file {path.name} in the data folder (mode 0600)"
        self._warn = warn
        self._lock = threading.Lock()

    def _load(self) -> dict[str, str]:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        return {str(k): str(v) for k, v in data.items()}

    def get(self, name: str) -> str | None:
        with self._lock:
            return self._load().get(name)

    def names(self) -> list[str]:
        with self._lock:
            return list(self._load())

    def set(self, name: str, secret: str) -> None:
        if self._warn:
            log.warning(
                "No OS keychain is available; the secret of %r is kept in %s, readable "
                "only by you.",
                name,
                self.description,
            )
        with self._lock:
            data = self._load()
            data[name] = secret
            self._write(data)

    def delete(self, name: str) -> None:
        with self._lock:
            data = self._load()
            if data.pop(name, None) is not None:
                self._write(data)

    def _write(self, data: dict[str, str]) -> None:
        try:
            write_private_file(self.path, json.dumps(data).encode())
        except OSError as exc:
            raise StorageError(
                f"The secrets file cannot be written ({exc.strerror or exc}), so nothing was saved."
            ) from None


class KeyringSecrets:
    """Secrets in the OS keychain through ``keyring``."""

    def __init__(self, service: str) -> None:
        import keyring

        self._keyring = keyring
        self.service = service
        self.description = f"the OS keychain ({type(keyring.get_keyring()).__name__})"

    def get(self, name: str) -> str | None:
        return self._keyring.get_password(self.service, name)

    def set(self, name: str, secret: str) -> None:
        self._keyring.set_password(self.service, name, secret)

    def delete(self, name: str) -> None:
        import keyring.errors

        with contextlib.suppress(keyring.errors.PasswordDeleteError):
            self._keyring.delete_password(self.service, name)


class DeclaredSecrets:
    """Secrets of declared connections, in memory, in front of another store. They are
    never written anywhere: setting a declared connection's secret changes nothing, since
    the file's variable or file is where it comes from."""

    def __init__(self, declared: dict[str, str], fallback: SecretStore) -> None:
        self._declared = dict(declared)
        self.fallback = fallback
        self.description = fallback.description

    def get(self, name: str) -> str | None:
        if name in self._declared:
            return self._declared[name]
        return self.fallback.get(name)

    def set(self, name: str, secret: str) -> None:
        if name not in self._declared:
            self.fallback.set(name, secret)

    def delete(self, name: str) -> None:
        self._declared.pop(name, None)
        self.fallback.delete(name)


def keyring_available() -> bool:
    """True when ``keyring`` has a real backend on this machine."""
    try:
        import keyring
        from keyring.backends import chainer, fail
    except ImportError:
        return False
    backend = keyring.get_keyring()
    if isinstance(backend, fail.Keyring):
        return False
    if isinstance(backend, chainer.ChainerBackend):
        return bool(backend.backends)
    return True


def open_secret_store(
    data_dir: Path, instance_id: str, mode: Literal["auto", "keyring", "file"] = "auto"
) -> SecretStore:
    """The secret store for this data folder, falling back to a file where needed."""
    if mode == "keyring" or (mode == "auto" and keyring_available()):
        return KeyringSecrets(service=f"data-connector/{instance_id}")
    return FileSecrets(data_dir / "secrets.json", warn=mode == "auto")


# Pending names start with "~", which a connection name cannot, and stay short (the shared
# store's name column is 64 characters).
PENDING = "~"


def pending_name(name: str) -> str:
    return PENDING + hashlib.sha256(name.encode()).hexdigest()[:40]


def row_digest(kind: str, options: Mapping[str, Any], read_only: bool) -> str:
    """What a secret was staged for: the connection row it goes with."""
    body = json.dumps([kind, dict(options), read_only], sort_keys=True, default=str)
    return hashlib.sha256(body.encode()).hexdigest()


def stage_secret(secrets: SecretStore, name: str, digest: str, secret: str) -> None:
    """Before committing the row of ``digest``: keep ``secret`` under a pending name."""
    secrets.set(pending_name(name), json.dumps({"row": digest, "secret": secret}))


def promote_secret(secrets: SecretStore, name: str, secret: str) -> None:
    """After committing the row: the staged secret becomes the connection's."""
    secrets.set(name, secret)
    secrets.delete(pending_name(name))


def settle_secrets(secrets: SecretStore, rows: Mapping[str, str]) -> None:
    """At start, with each committed connection's ``row_digest`` (``rows``): promote the
    pending secret whose row committed, drop pending secrets whose row did not, and (where
    the store can list its names) drop secrets of connections that have no row."""
    for name, digest in rows.items():
        staged = secrets.get(pending_name(name))
        if staged is None:
            continue
        try:
            pending = json.loads(staged)
        except ValueError:
            pending = {}
        if isinstance(pending, dict) and pending.get("row") == digest:
            log.info("the secret of %r saved before a crash is kept with its connection", name)
            promote_secret(secrets, name, str(pending.get("secret")))
        else:
            secrets.delete(pending_name(name))
    listed = secrets.fallback if isinstance(secrets, DeclaredSecrets) else secrets
    if isinstance(listed, FileSecrets):
        kept = {*rows, *(pending_name(name) for name in rows)}
        for name in listed.names():
            if name not in kept:
                listed.delete(name)
        remove_stale_temporaries(listed.path)
