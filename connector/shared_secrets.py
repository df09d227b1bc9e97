"""Connection secrets for replicas: encrypted in the shared metadata store.

On a laptop a connection's secret goes to the OS keychain or a 0600 file, which only that
machine can read. Replicas behind a load balancer need the secret of a connection added
through any one of them, so with a shared metadata store (``CONNECTOR_METADATA_URL``) and
``CONNECTOR_SECRET_KEY`` set, secrets are kept in its ``connection_secrets`` table,
encrypted with that key (Fernet: AES-128-CBC with an HMAC, from ``cryptography``); the
key itself never reaches the store. Without the key, a shared store refuses to keep a
secret given through the API (``RefusingSecrets``), with a sentence saying what to do,
rather than keep it where the other replicas cannot read it. Secrets declared in the
configuration file never come here (``keychain.DeclaredSecrets`` serves them).

Must not import FastAPI or any backend.
"""

from __future__ import annotations

import base64
import hashlib

from cryptography.fernet import Fernet, InvalidToken
from sqlalchemy import Column, String, Table, Text, delete, insert, select, update

from connector.errors import InvalidRequestError
from connector.store import Store, metadata

connection_secrets_table = Table(
    "connection_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("token", Text, nullable=False),
)


def _fernet(secret_key: str) -> Fernet:
    """A Fernet key from any text (``openssl rand -hex 32`` is a good one)."""
    digest = hashlib.sha256(secret_key.encode()).digest()
    return Fernet(base64.urlsafe_b64encode(digest))


class StoreSecrets:
    """Secrets encrypted in the shared metadata store."""

    def __init__(self, store: Store, secret_key: str) -> None:
        self.store = store
        self._fernet = _fernet(secret_key)
        self.description = "the shared metadata store, encrypted with CONNECTOR_SECRET_KEY"

    def get(self, name: str) -> str | None:
        table = connection_secrets_table
        with self.store.engine.connect() as connection:
            token = connection.scalar(select(table.c.token).where(table.c.name == name))
        if token is None:
            return None
        try:
            return self._fernet.decrypt(str(token).encode()).decode()
        except InvalidToken:
            raise InvalidRequestError(
                f"The secret of {name!r} was saved with another CONNECTOR_SECRET_KEY; "
                "give this connection its secret again."
            ) from None

    def set(self, name: str, secret: str) -> None:
        table = connection_secrets_table
        token = self._fernet.encrypt(secret.encode()).decode()
        with self.store.transaction() as connection:
            changed = connection.execute(
                update(table).where(table.c.name == name).values(token=token)
            ).rowcount
            if not changed:
                connection.execute(insert(table).values(name=name, token=token))

    def delete(self, name: str) -> None:
        table = connection_secrets_table
        with self.store.transaction() as connection:
            connection.execute(delete(table).where(table.c.name == name))


class RefusingSecrets:
    """A shared store without ``CONNECTOR_SECRET_KEY``: reads nothing, keeps nothing."""

    description = "nowhere (set CONNECTOR_SECRET_KEY to keep secrets in the shared store)"

    def get(self, name: str) -> str | None:
        return None

    def set(self, name: str, secret: str) -> None:
        raise InvalidRequestError(
            "This server shares its metadata store with other replicas, so it keeps a "
            "connection's secret only with CONNECTOR_SECRET_KEY set, or declared in the "
            "configuration file (password_env)."
        )

    def delete(self, name: str) -> None:
        return None
