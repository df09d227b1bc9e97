"""The metadata store: saved connections, saved queries, Workspace settings and query history.

A small SQLAlchemy-managed database: a SQLite file (WAL) in the data folder, or for a
team the PostgreSQL database ``CONNECTOR_METADATA_URL`` names, shared by every replica.
Its schema is brought up to date at start by ``connector.migrate``. Every change is one
transaction, so a failed request leaves nothing half-written. Saved queries carry a
``version``: an update that names a stale one is refused (409), so two people editing the
same query never lose an edit silently. Secrets never come here: ``connector.keychain``
holds them. History keeps the SQL and the caller (the API key's name), never parameter
values. Named API keys (``connector.named_keys``) and the running-query board
(``connector.running_board``) keep their tables on the same ``metadata``.

Must not import FastAPI or any backend.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    Connection,
    Engine,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    create_engine,
    delete,
    event,
    func,
    insert,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError, OperationalError, SQLAlchemyError

from connector.errors import (
    ConflictError,
    DatabaseUnavailableError,
    NotFoundError,
    StorageError,
)
from connector.migrate import migrate
from connector.models import ConnectionSpec, HistoryEntry

metadata = MetaData()

meta_table = Table(
    "meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

connections_table = Table(
    "connections",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("options", JSON, nullable=False),
    Column("read_only", Boolean, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
)

saved_queries_table = Table(
    "saved_queries",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("connection", String(64), nullable=False),
    Column("body", JSON, nullable=False),
    Column("created_at", String(40), nullable=False),
    Column("updated_at", String(40), nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
)

# A connection's OpenBB Workspace setting (``connector.table_settings``); it goes when the
# connection goes.
workspace_settings_table = Table(
    "workspace_settings",
    metadata,
    Column(
        "connection",
        String(64),
        ForeignKey("connections.name", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("body", JSON, nullable=False),
    Column("updated_at", String(40), nullable=False),
)

history_table = Table(
    "history",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("query_id", String(40), nullable=False),
    Column("connection", String(64), nullable=False),
    Column("sql", Text, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("duration_ms", Float, nullable=False),
    Column("row_count", Integer),
    Column("outcome", String(32), nullable=False),
    Column("error_code", String(40)),
    Column("client", String(200)),
    Column("caller", String(64)),
)

HISTORY_TRIM_EVERY = 100


# SQLite's result codes for a write the disk refused (extended codes start with these).
STORAGE_FAILURES = ("SQLITE_FULL", "SQLITE_READONLY", "SQLITE_IOERR", "SQLITE_CANTOPEN")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="seconds")


def _set_sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")  # WAL: durable across crashes, no fsync per query
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


def _unavailable(engine: Engine, exc: SQLAlchemyError) -> DatabaseUnavailableError:
    """The metadata database cannot be used: where it is (no password) and why."""
    where = engine.url.render_as_string(hide_password=True)
    reason = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
    if engine.url.password:
        reason = reason.replace(str(engine.url.password), "***")
    reason = reason.rstrip(".")
    return DatabaseUnavailableError(
        f"The metadata database {where} cannot be used ({reason[:300]}); nothing was changed."
    )


class Store:
    """Connections, saved queries and history in the metadata database."""

    def __init__(self, url: str, history_size: int = 10_000) -> None:
        self.engine: Engine = create_engine(
            url,
            hide_parameters=True,
            json_serializer=lambda value: orjson.dumps(value).decode(),
            json_deserializer=orjson.loads,
        )
        if self.engine.dialect.name == "sqlite":
            event.listen(self.engine, "connect", _set_sqlite_pragmas)
        try:
            migrate(self.engine)
        except SQLAlchemyError as exc:
            self.engine.dispose()
            raise _unavailable(self.engine, exc) from None
        self.history_size = history_size
        self._history_writes = 0

    def close(self) -> None:
        self.engine.dispose()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """One transaction, committed if the body succeeds; a data folder that cannot take
        the write (full, read-only) is a ``StorageError`` and nothing of it is kept."""
        try:
            with self.engine.begin() as connection:
                yield connection
        except OperationalError as exc:
            name = str(getattr(exc.orig, "sqlite_errorname", ""))
            if name.startswith(STORAGE_FAILURES):
                raise StorageError(
                    "The data folder cannot be written (it is full or read-only), so "
                    "nothing was saved."
                ) from exc
            raise

    # meta -----------------------------------------------------------------------------

    def meta_value(self, key: str, make: Callable[[], str]) -> str:
        """The value kept under ``key``, made and kept on first use."""
        with self.transaction() as connection:
            value = connection.scalar(select(meta_table.c.value).where(meta_table.c.key == key))
            if value is None:
                value = make()
                connection.execute(insert(meta_table).values(key=key, value=value))
            return str(value)

    # connections ------------------------------------------------------------------------

    def list_connections(self) -> list[ConnectionSpec]:
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(connections_table).order_by(connections_table.c.name)
            ).all()
        return [self._spec(row._mapping) for row in rows]

    def get_connection(self, name: str) -> ConnectionSpec:
        with self.engine.connect() as connection:
            row = connection.execute(
                select(connections_table).where(connections_table.c.name == name)
            ).first()
        if row is None:
            raise NotFoundError(f"No connection named {name!r}.")
        return self._spec(row._mapping)

    def has_connection(self, name: str) -> bool:
        with self.engine.connect() as connection:
            return (
                connection.scalar(select(func.count()).where(connections_table.c.name == name)) or 0
            ) > 0

    @contextmanager
    def adding_connection(self, spec: ConnectionSpec) -> Iterator[None]:
        """Insert ``spec``; the row is committed only if the ``with`` body succeeds."""
        now = _now()
        with self.transaction() as connection:
            try:
                connection.execute(
                    insert(connections_table).values(
                        name=spec.name,
                        kind=spec.kind,
                        options=spec.options,
                        read_only=spec.read_only,
                        created_at=now,
                        updated_at=now,
                    )
                )
            except IntegrityError as exc:
                raise ConflictError(f"A connection named {spec.name!r} already exists.") from exc
            yield

    @contextmanager
    def updating_connection(self, spec: ConnectionSpec) -> Iterator[None]:
        with self.transaction() as connection:
            result = connection.execute(
                update(connections_table)
                .where(connections_table.c.name == spec.name)
                .values(
                    kind=spec.kind,
                    options=spec.options,
                    read_only=spec.read_only,
                    updated_at=_now(),
                )
            )
            if result.rowcount == 0:
                raise NotFoundError(f"No connection named {spec.name!r}.")
            yield

    @contextmanager
    def removing_connection(self, name: str) -> Iterator[None]:
        with self.transaction() as connection:
            connection.execute(
                delete(workspace_settings_table).where(
                    workspace_settings_table.c.connection == name
                )
            )
            result = connection.execute(
                delete(connections_table).where(connections_table.c.name == name)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"No connection named {name!r}.")
            yield

    @staticmethod
    def _spec(row: Any) -> ConnectionSpec:
        return ConnectionSpec(
            name=row["name"],
            kind=row["kind"],
            options=dict(row["options"]),
            read_only=bool(row["read_only"]),
        )

    # saved queries ----------------------------------------------------------------------

    def list_saved(self) -> list[dict[str, Any]]:
        """Every saved query's body, with its ``version``."""
        table = saved_queries_table
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(table.c.body, table.c.version).order_by(table.c.name)
            ).all()
        return [{**dict(row[0]), "version": row[1]} for row in rows]

    def get_saved(self, name: str) -> dict[str, Any]:
        table = saved_queries_table
        with self.engine.connect() as connection:
            row = connection.execute(
                select(table.c.body, table.c.version).where(table.c.name == name)
            ).first()
        if row is None:
            raise NotFoundError(f"No saved query named {name!r}.")
        return {**dict(row[0]), "version": row[1]}

    def add_saved(self, body: dict[str, Any]) -> int:
        """Insert a saved query; returns its version (1)."""
        now = _now()
        body = {k: v for k, v in body.items() if k != "version"}
        with self.transaction() as connection:
            try:
                connection.execute(
                    insert(saved_queries_table).values(
                        name=body["name"],
                        connection=body["connection"],
                        body=body,
                        created_at=now,
                        updated_at=now,
                        version=1,
                    )
                )
            except IntegrityError as exc:
                raise ConflictError(
                    f"A saved query named {body['name']!r} already exists."
                ) from exc
        return 1

    def update_saved(
        self, name: str, body: dict[str, Any], expected_version: int | None = None
    ) -> int:
        """Replace a saved query; returns its new version.

        With ``expected_version`` the update happens only if nobody changed it since that
        version (checked by the database in the same statement), else 409 ``conflict``."""
        table = saved_queries_table
        body = {k: v for k, v in body.items() if k != "version"}
        condition = table.c.name == name
        if expected_version is not None:
            condition = condition & (table.c.version == expected_version)
        with self.transaction() as connection:
            result = connection.execute(
                update(table)
                .where(condition)
                .values(
                    connection=body["connection"],
                    body=body,
                    updated_at=_now(),
                    version=table.c.version + 1,
                )
            )
            if result.rowcount == 0:
                current = connection.scalar(select(table.c.version).where(table.c.name == name))
                if current is None:
                    raise NotFoundError(f"No saved query named {name!r}.")
                raise ConflictError(
                    f"The saved query {name!r} was changed by someone else (it is at version "
                    f"{current}, not {expected_version}): read it again and redo the edit."
                )
            version = connection.scalar(select(table.c.version).where(table.c.name == name))
            return int(version or 1)

    def remove_saved(self, name: str) -> None:
        with self.transaction() as connection:
            result = connection.execute(
                delete(saved_queries_table).where(saved_queries_table.c.name == name)
            )
            if result.rowcount == 0:
                raise NotFoundError(f"No saved query named {name!r}.")

    # workspace settings -----------------------------------------------------------------

    def workspace_settings(self) -> dict[str, dict[str, Any]]:
        """Every connection's saved Workspace setting, keyed by connection name."""
        with self.engine.connect() as connection:
            rows = connection.execute(
                select(workspace_settings_table.c.connection, workspace_settings_table.c.body)
            ).all()
        return {str(row[0]): dict(row[1]) for row in rows}

    def put_workspace_settings(self, name: str, body: dict[str, Any]) -> None:
        with self.transaction() as connection:
            if not connection.scalar(select(func.count()).where(connections_table.c.name == name)):
                raise NotFoundError(f"No connection named {name!r}.")
            connection.execute(
                delete(workspace_settings_table).where(
                    workspace_settings_table.c.connection == name
                )
            )
            connection.execute(
                insert(workspace_settings_table).values(
                    connection=name, body=body, updated_at=_now()
                )
            )

    def remove_workspace_settings(self, name: str) -> None:
        with self.transaction() as connection:
            connection.execute(
                delete(workspace_settings_table).where(
                    workspace_settings_table.c.connection == name
                )
            )

    # history ----------------------------------------------------------------------------

    def add_history(self, entries: list[HistoryEntry]) -> None:
        """Append entries in one transaction, trimming the oldest past ``history_size``."""
        with self.transaction() as connection:
            connection.execute(
                insert(history_table),
                [
                    {
                        "query_id": e.query_id,
                        "connection": e.connection,
                        "sql": e.sql,
                        "started_at": e.started_at,
                        "duration_ms": e.duration_ms,
                        "row_count": e.row_count,
                        "outcome": e.outcome,
                        "error_code": e.error_code,
                        "client": e.client,
                        "caller": e.caller,
                    }
                    for e in entries
                ],
            )
            self._history_writes += len(entries)
            if self._history_writes >= HISTORY_TRIM_EVERY:
                self._history_writes = 0
                newest = connection.scalar(select(func.max(history_table.c.id))) or 0
                connection.execute(
                    delete(history_table).where(history_table.c.id <= newest - self.history_size)
                )

    def list_history(
        self, limit: int = 50, connection_name: str | None = None
    ) -> list[HistoryEntry]:
        query = select(history_table).order_by(history_table.c.id.desc()).limit(limit)
        if connection_name is not None:
            query = query.where(history_table.c.connection == connection_name)
        with self.engine.connect() as connection:
            rows = connection.execute(query).all()
        return [
            HistoryEntry(
                query_id=row.query_id,
                connection=row.connection,
                sql=row.sql,
                started_at=row.started_at,
                duration_ms=row.duration_ms,
                row_count=row.row_count,
                outcome=row.outcome,
                error_code=row.error_code,
                client=row.client,
                caller=row.caller,
            )
            for row in rows
        ]
