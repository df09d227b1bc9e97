"""Bringing the metadata store's schema up to date at start (Alembic, ``migrations/``).

Every revision runs inside one transaction that the caller commits, so a failed start
leaves the schema as it was. Several processes may start at once (replicas, workers, the
CLI beside the server): on PostgreSQL the transaction first takes an advisory lock, on
SQLite it is ``BEGIN IMMEDIATE``, so one migrates and the others wait, then find the
schema current and do nothing. A SQLite file made before migrations existed is stamped
at the baseline revision and upgraded from there. A store already at ``HEAD`` costs one
small query and never imports Alembic.

Must not import FastAPI or any backend.
"""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import Connection, Engine, inspect, text

HEAD = "0003"
BASELINE = "0001"
SCRIPTS = Path(__file__).resolve().parent / "migrations"
# pg_advisory_xact_lock's key: "dc-meta" as a number, the same in every process.
LOCK_KEY = 0x64632D6D657461


def current_revision(connection: Connection) -> str | None:
    """The revision the schema is at; None for an empty or pre-migration database."""
    if not inspect(connection).has_table("alembic_version"):
        return None
    value = connection.scalar(text("SELECT version_num FROM alembic_version"))
    return None if value is None else str(value)


def _upgrade(connection: Connection) -> None:
    from alembic import command
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPTS))
    config.attributes["connection"] = connection
    tables = set(inspect(connection).get_table_names())
    if "alembic_version" not in tables and "connections" in tables:
        command.stamp(config, BASELINE)  # made by a version from before migrations
    command.upgrade(config, "head")


def migrate(engine: Engine) -> bool:
    """Bring the schema to ``HEAD``; True when something was migrated."""
    with engine.connect() as connection:
        if current_revision(connection) == HEAD:
            return False
    with engine.begin() as connection:
        if engine.dialect.name == "postgresql":
            connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": LOCK_KEY})
        elif engine.dialect.name == "sqlite":
            connection.exec_driver_sql("BEGIN IMMEDIATE")
        if current_revision(connection) == HEAD:  # another process did it meanwhile
            return False
        _upgrade(connection)
    return True
