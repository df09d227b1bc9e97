"""Applying what the configuration file declares to the metadata store, at every start.

Keys, connections and saved queries declared in the file are made to exist as declared:
added when missing, updated when they differ, left alone when equal (so several replicas
starting with the same file agree, whichever runs first). Secrets of declared connections
stay in memory (``keychain.DeclaredSecrets``); nothing here writes one anywhere. A
declaration the store refuses (a saved query on an unknown connection, say) stops the start
with the file's line and the reason; what was applied before it stays, all of it valid.

Must not import FastAPI.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from connector.config_file import ConfigError, Declarations
from connector.errors import ConflictError, ConnectorError, NotFoundError
from connector.models import ConnectionInput, SavedQuery
from connector.named_keys import NamedKeys
from connector.saved import SavedQueries

if TYPE_CHECKING:
    from connector.service import Connector


def apply_declarations(declared: Declarations, connector: Connector, keys: NamedKeys) -> None:
    keys.declare((key.name, key.digest) for key in declared.keys)
    for payload in declared.connections:
        name = payload.name or ""
        try:
            _apply_connection(connector, name, payload)
        except ConnectorError as error:
            where = declared.where.get(("connections", name), "the configuration file")
            raise ConfigError([f"{where}: connection {name!r}: {error.detail}"]) from None
    saved = SavedQueries(connector)
    for query in declared.saved_queries:
        try:
            _apply_saved(saved, query)
        except ConnectorError as error:
            where = declared.where.get(("saved_queries", query.name), "the configuration file")
            raise ConfigError([f"{where}: saved query {query.name!r}: {error.detail}"]) from None


def _apply_connection(connector: Connector, name: str, payload: ConnectionInput) -> None:
    try:
        current = connector.get_connection(name)
    except NotFoundError:
        try:
            connector.create_connection(payload, test=False)
            return
        except ConflictError:  # another replica added it first
            current = connector.get_connection(name)
    if current != payload.spec(name):
        connector.update_connection(name, payload, test=False)


def _apply_saved(saved: SavedQueries, query: SavedQuery) -> None:
    try:
        current = saved.get(query.name)
    except NotFoundError:
        try:
            saved.add(query)
            return
        except ConflictError:
            current = saved.get(query.name)
    wanted = saved.validate(query)
    if current.model_dump(exclude={"version"}) != wanted.model_dump(exclude={"version"}):
        saved.update(query.name, wanted)
