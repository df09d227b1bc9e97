"""The registry of database backends: one line a kind, each module imported only when used.

Heavy drivers (snowflake-connector, psycopg, duckdb) load only when a connection of their
kind is first used or the kinds are described, so a server with only SQLite connections
starts fast. A kind whose driver is not installed is still listed, with the extra that
installs it.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass

from connector.backends.base import Backend
from connector.errors import InvalidRequestError
from connector.models import KindInfo


@dataclass(frozen=True)
class Entry:
    module: str
    backend: str
    # The pip extra that brings the driver, when the plain install does not.
    extra: str | None = None


_KINDS: dict[str, Entry] = {
    "sqlite": Entry("connector.backends.sqlite", "SqliteBackend"),
    "mysql": Entry("connector.backends.mysql", "MysqlBackend"),
    "postgresql": Entry("connector.backends.postgresql", "PostgresqlBackend"),
    "snowflake": Entry("connector.backends.snowflake", "SnowflakeBackend", "snowflake"),
    "duckdb": Entry("connector.backends.duckdb", "DuckdbBackend", "duckdb"),
}
_LOADED: dict[str, Backend] = {}


def kinds() -> list[str]:
    return list(_KINDS)


def install_hint(kind: str) -> str:
    entry = _KINDS[kind]
    if entry.extra is None:
        return "pip install --force-reinstall data-connector"
    return f"pip install 'data-connector[{entry.extra}]'"


def get_backend(kind: str) -> Backend:
    """The backend for ``kind``; a clear error when its driver is not installed."""
    backend = _LOADED.get(kind)
    if backend is not None:
        return backend
    entry = _KINDS.get(kind)
    if entry is None:
        raise InvalidRequestError(
            f"Unknown connection kind {kind!r}; use one of {', '.join(_KINDS)}."
        )
    try:
        module = importlib.import_module(entry.module)
    except ImportError as exc:
        raise InvalidRequestError(
            f"The {kind} driver is not installed; install it with: {install_hint(kind)}"
        ) from exc
    backend = getattr(module, entry.backend)()
    assert isinstance(backend, Backend)
    _LOADED[kind] = backend
    return backend


def describe_kinds() -> list[KindInfo]:
    """Every kind with its options and capabilities (``GET /kinds``)."""
    described: list[KindInfo] = []
    for kind in _KINDS:
        try:
            described.append(type(get_backend(kind)).describe())
        except InvalidRequestError:
            described.append(
                KindInfo(
                    kind=kind,
                    label=kind,
                    available=False,
                    install=install_hint(kind),
                    options=[],
                    capabilities=None,
                )
            )
    return described
