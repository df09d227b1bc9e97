"""Named API keys: several keys, each with a name, each revocable, kept in the metadata store.

A team gives every analyst or script its own key (``data-connector key add alice``, or
``[[keys]]`` in the configuration file) instead of sharing the data folder's one key.
Only a key's SHA-256 is kept (``connector.keys.hash_api_key``). Every request with a named
key is looked up in the store, nothing is cached, so a key revoked through one replica is
refused (403) by every replica from its next request on. A revoked key stays revoked:
declaring the same key again in the file does not bring it back; a new key for the name
does. The name is what history records as the query's caller.

Must not import FastAPI or any backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass

from sqlalchemy import Column, String, Table, insert, select, update
from sqlalchemy.exc import IntegrityError

from connector.errors import ConflictError, NotFoundError
from connector.keys import hash_api_key, new_api_key
from connector.models import check_name
from connector.store import Store, metadata

api_keys_table = Table(
    "api_keys",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("digest", String(64), nullable=False, unique=True),
    Column("source", String(16), nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("revoked_at", String(40)),
)


@dataclass(frozen=True)
class KeyInfo:
    name: str
    source: str  # "cli" (made by key add) or "config" (declared in the file)
    created_at: str
    revoked_at: str | None


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


class NamedKeys:
    """Add, declare, list, revoke and look up named keys."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def add(self, name: str) -> str:
        """Make a key called ``name`` and return it (shown once; only its digest is kept).
        A revoked name may be given a new key; an active one is 409."""
        check_name(name, "a key's name")
        key = new_api_key()
        table = api_keys_table
        with self.store.transaction() as connection:
            row = connection.execute(select(table).where(table.c.name == name)).first()
            if row is not None and row.revoked_at is None:
                raise ConflictError(f"A key named {name!r} exists; revoke it first.")
            values = {"digest": hash_api_key(key), "source": "cli", "created_at": _now()}
            if row is None:
                connection.execute(insert(table).values(name=name, **values))
            else:
                connection.execute(
                    update(table).where(table.c.name == name).values(revoked_at=None, **values)
                )
        return key

    def declare(self, keys: Iterable[tuple[str, str]]) -> None:
        """Make sure each (name, digest) from the configuration file is known. A name whose
        digest changed gets the new one (and is active again); a revoked one stays so."""
        table = api_keys_table
        for name, digest in keys:
            for _attempt in range(2):  # a replica starting beside this one may insert first
                try:
                    with self.store.transaction() as connection:
                        row = connection.execute(select(table).where(table.c.name == name)).first()
                        if row is None:
                            connection.execute(
                                insert(table).values(
                                    name=name, digest=digest, source="config", created_at=_now()
                                )
                            )
                        elif row.digest != digest:
                            connection.execute(
                                update(table)
                                .where(table.c.name == name)
                                .values(
                                    digest=digest,
                                    source="config",
                                    created_at=_now(),
                                    revoked_at=None,
                                )
                            )
                    break
                except IntegrityError:
                    continue

    def revoke(self, name: str) -> None:
        table = api_keys_table
        with self.store.transaction() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.name == name, table.c.revoked_at.is_(None))
                .values(revoked_at=_now())
            )
            if result.rowcount == 0:
                exists = connection.scalar(select(table.c.name).where(table.c.name == name))
                if exists is None:
                    raise NotFoundError(f"No key named {name!r}.")

    def list(self) -> list[KeyInfo]:
        table = api_keys_table
        with self.store.engine.connect() as connection:
            rows = connection.execute(select(table).order_by(table.c.name)).all()
        return [KeyInfo(r.name, r.source, r.created_at, r.revoked_at) for r in rows]

    def caller(self, key: str) -> str | None:
        """The name of the active key ``key``, or None (unknown or revoked)."""
        table = api_keys_table
        with self.store.engine.connect() as connection:
            name = connection.scalar(
                select(table.c.name).where(
                    table.c.digest == hash_api_key(key), table.c.revoked_at.is_(None)
                )
            )
        return None if name is None else str(name)
