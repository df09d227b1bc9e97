"""Start-up: the data folder, the API key, the metadata store, the secret store and the sample.

``open_runtime(settings, declared)`` is the one place that turns settings into live
objects; the HTTP app and the CLI both call it. First start creates the data folder
(owner-only), an API key, and the sample SQLite database registered as connection
``sample``. What the configuration file declares (``declared``) is applied to the store.
With a shared metadata store or several workers, running queries are published for the
other processes (``connector.running_board``).
"""

from __future__ import annotations

import hmac
import logging
import os
import secrets
import shutil
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from connector.config import Settings
from connector.config_file import Declarations
from connector.declared import apply_declarations
from connector.errors import ConflictError, StorageError
from connector.keychain import (
    DeclaredSecrets,
    SecretStore,
    open_secret_store,
    row_digest,
    settle_secrets,
)
from connector.keys import API_KEY_FILE, FILE_KEY_CALLER, load_api_key, rotate_api_key
from connector.models import ConnectionInput
from connector.named_keys import NamedKeys
from connector.running import RunningQueries
from connector.running_board import SharedRunningQueries
from connector.sample import SAMPLE_FILE, ensure_sample
from connector.service import Connector
from connector.shared_secrets import RefusingSecrets, StoreSecrets
from connector.store import Store
from connector.workspace import Workspace

log = logging.getLogger(__name__)

SAMPLE_CONNECTION = "sample"


@dataclass
class Runtime:
    """The live objects behind one data folder."""

    settings: Settings
    store: Store
    secrets: SecretStore
    connector: Connector
    workspace: Workspace
    keys: NamedKeys
    api_key: str | None
    new_key: bool = False
    notes: list[str] = field(default_factory=list)
    sample_pending: bool = False

    _key_stamp: int = 0
    _key_path: str = ""

    def rotate_key(self) -> str:
        self.api_key = rotate_api_key(self.settings.data_dir)
        return self.api_key

    def current_api_key(self) -> str | None:
        """The API key, re-read when its file changes (``key rotate`` takes effect at once)."""
        if self.api_key is None:
            return None
        if not self._key_path:
            self._key_path = str(self.settings.data_dir / API_KEY_FILE)
        try:
            # os.stat on a str: pathlib's joins and conversions cost more than the stat.
            stamp = os.stat(self._key_path).st_mtime_ns
        except FileNotFoundError:
            return self.api_key
        if stamp != self._key_stamp:
            self.api_key = load_api_key(self.settings.data_dir)[0]
            self._key_stamp = stamp
        return self.api_key

    def caller_of_named_key(self, given: str) -> str | None:
        """The name of the active named key ``given`` (a store lookup; blocking)."""
        return self.keys.caller(given)

    def caller_of_key(self, given: str) -> str | None:
        """Who ``given`` belongs to: the key file's holder, a named key, or None."""
        expected = self.current_api_key()
        if expected is not None and hmac.compare_digest(given.encode(), expected.encode()):
            return FILE_KEY_CALLER
        return self.caller_of_named_key(given)

    def start_background_setup(self) -> threading.Thread | None:
        """Build the sample database off the start-up path, if ``open_runtime`` deferred it.

        The server answers as soon as it is bound; ``sample`` appears a moment later.
        """
        if not self.sample_pending:
            return None

        def build() -> None:
            try:
                _ensure_sample_connection(self)
                log.info("the sample database is ready as the connection 'sample'")
            except Exception:
                log.exception("could not make the sample database")
            finally:
                self.sample_pending = False

        thread = threading.Thread(target=build, name="sample", daemon=True)
        thread.start()
        return thread

    def close(self) -> None:
        self.workspace.close()
        self.connector.close()
        self.store.close()


# Free space the data folder needs at start: the metadata database, its journal, the key.
MIN_FREE_BYTES = 256 * 1024


def prepare_data_dir(path: Path) -> None:
    """Make the data folder (owner-only) and check it takes writes, before anything is
    written in it: a read-only or full folder is one ``StorageError`` sentence."""
    try:
        path.mkdir(parents=True, exist_ok=True)
        if os.name == "posix":
            os.chmod(path, 0o700)
        with tempfile.TemporaryFile(dir=path) as probe:
            probe.write(b"\0" * 4096)
            probe.flush()
            os.fsync(probe.fileno())
        free = shutil.disk_usage(path).free
    except OSError as exc:
        raise StorageError(
            f"The data folder {path} cannot be written ({exc.strerror or exc}); make it "
            "writable or choose another with --data-dir or CONNECTOR_DATA_DIR."
        ) from None
    if free < MIN_FREE_BYTES:
        raise StorageError(
            f"The data folder {path} is full ({free // 1024} KB free); free some space "
            "or choose another with --data-dir or CONNECTOR_DATA_DIR."
        )


def open_runtime(
    settings: Settings,
    declared: Declarations | None = None,
    *,
    with_sample: bool | None = None,
    sample_in_background: bool = False,
) -> Runtime:
    """Open (and on first start, set up) everything behind ``settings.data_dir``.

    With ``sample_in_background`` a sample database that does not exist yet is left to
    ``Runtime.start_background_setup`` (the server calls it once bound), so a first start
    answers as fast as any other. A metadata store that cannot be reached raises
    ``DatabaseUnavailableError`` before anything is written; a declaration the store
    refuses raises ``config_file.ConfigError``.
    """
    declared = declared or Declarations()
    if not settings.shared_metadata:
        prepare_data_dir(settings.data_dir)  # the SQLite file lives there
    store = Store(settings.metadata_database_url(), history_size=settings.history_size)
    try:
        prepare_data_dir(settings.data_dir)
        instance_id = store.meta_value("instance_id", lambda: secrets.token_hex(8))
        secret_store: SecretStore
        if settings.secret_key is not None and settings.shared_metadata:
            secret_store = StoreSecrets(store, settings.secret_key.get_secret_value())
        elif settings.shared_metadata:
            secret_store = RefusingSecrets()
        else:
            secret_store = open_secret_store(settings.data_dir, instance_id, settings.secret_store)
        settle_secrets(
            secret_store,
            {
                spec.name: row_digest(spec.kind, spec.options, spec.read_only)
                for spec in store.list_connections()
            },
        )
        declared_secrets = {c.name or "": c.secret for c in declared.connections if c.secret}
        if declared_secrets:
            secret_store = DeclaredSecrets(declared_secrets, secret_store)
        shared = settings.shared_metadata or settings.workers > 1
        demote_after_s = settings.demote_after_s
        running = (
            SharedRunningQueries(store, demote_after_s=demote_after_s)
            if shared
            else RunningQueries(demote_after_s=demote_after_s)
        )
        connector = Connector(settings, store, secret_store, running)
        keys = NamedKeys(store)
        apply_declarations(declared, connector, keys)
    except BaseException:
        store.close()
        raise
    api_key, new_key = load_api_key(settings.data_dir)
    runtime = Runtime(
        settings=settings,
        store=store,
        secrets=secret_store,
        connector=connector,
        workspace=Workspace(connector),
        keys=keys,
        api_key=api_key if settings.auth else None,
        new_key=new_key,
    )
    if settings.sample if with_sample is None else with_sample:
        if sample_in_background and not (settings.data_dir / SAMPLE_FILE).exists():
            runtime.sample_pending = True
        else:
            _ensure_sample_connection(runtime)
    return runtime


def _ensure_sample_connection(runtime: Runtime) -> None:
    path, built = ensure_sample(runtime.settings.data_dir)
    if built:
        runtime.notes.append(f"Made the sample database ({path.name}) in the data folder.")
    if runtime.store.has_connection(SAMPLE_CONNECTION):
        return
    try:
        runtime.connector.create_connection(
            ConnectionInput(
                name=SAMPLE_CONNECTION,
                kind="sqlite",
                options={"path": str(path)},
                read_only=True,
            ),
            test=False,
        )
        runtime.notes.append("Registered it as the connection 'sample'.")
    except ConflictError:  # another process registered it first
        pass
