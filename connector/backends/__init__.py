"""The registry of database backends: one module per kind, imported only when used.

Heavy drivers (snowflake-connector, psycopg) load only when a connection of their kind is
first used, so a server with only SQLite connections starts fast.
"""

from __future__ import annotations

import importlib

from connector.backends.base import Backend
from connector.errors import InvalidRequestError

_MODULES = {
    "sqlite": ("connector.backends.sqlite", "SqliteBackend"),
    "mysql": ("connector.backends.mysql", "MysqlBackend"),
    "postgresql": ("connector.backends.postgresql", "PostgresqlBackend"),
    "snowflake": ("connector.backends.snowflake", "SnowflakeBackend"),
}
_LOADED: dict[str, Backend] = {}


def kinds() -> list[str]:
    return list(_MODULES)


def get_backend(kind: str) -> Backend:
    """The backend for ``kind``; a clear error when its driver is not installed."""
    backend = _LOADED.get(kind)
    if backend is not None:
        return backend
    if kind not in _MODULES:
        raise InvalidRequestError(
            f"Unknown connection kind {kind!r}; use one of {', '.join(_MODULES)}."
        )
    module_name, class_name = _MODULES[kind]
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        extra = "snowflake" if kind == "snowflake" else kind
        raise InvalidRequestError(
            f"The {kind} driver is not installed; install data-connector[{extra}]."
        ) from exc
    backend = getattr(module, class_name)()
    assert isinstance(backend, Backend)
    _LOADED[kind] = backend
    return backend
