"""The metadata store's schema and its versions: Alembic migrations at start (a SQLite file
from before migrations is upgraded in place; several processes migrating one PostgreSQL
database at once do it once), saved-query versions that refuse a stale edit with 409, and
a metadata database that cannot be reached at start (a clear error, exit code 5, nothing
written)."""

from __future__ import annotations

import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.migration import MigrationContext
from fastapi.testclient import TestClient
from psycopg import sql as pgsql
from sqlalchemy import create_engine, inspect, text

import connector.named_keys
import connector.running_board  # noqa: F401 - registers their tables on the metadata
from connector.migrate import BASELINE, HEAD, SCRIPTS, current_revision
from connector.store import Store, metadata, workspace_settings_table
from tests import netdb
from tests.conftest import assert_error, require_service, serve_refused

PG_HOST, PG_PORT = "127.0.0.1", 5432
SAVED = {
    "name": "closes",
    "connection": "sample",
    "sql": "SELECT symbol, close FROM daily_prices WHERE symbol = :s ORDER BY date DESC",
    "params": [{"name": "s", "type": "ticker", "default": "ABF"}],
}


def schema_differences(url: str) -> list[Any]:
    engine = create_engine(url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection)
            return [d for d in compare_metadata(context, metadata) if d[0] != "remove_table"]
    finally:
        engine.dispose()


def test_metadata_store_new_sqlite_file_is_migrated_to_head(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'connector.db'}"
    Store(url).close()
    engine = create_engine(url)
    with engine.connect() as connection:
        assert current_revision(connection) == HEAD
    engine.dispose()
    assert schema_differences(url) == []  # the migrations make exactly the tables the code uses


@pytest.mark.parametrize("had_workspace_settings", [False, True])
def test_metadata_store_file_from_before_migrations_is_upgraded_in_place(
    tmp_path: Path, had_workspace_settings: bool
) -> None:
    path = tmp_path / "connector.db"
    engine = create_engine(f"sqlite:///{path}")
    with engine.begin() as connection:  # the tables older versions made, with no version table
        config = Config()
        config.set_main_option("script_location", str(SCRIPTS))
        config.attributes["connection"] = connection
        command.upgrade(config, BASELINE)
        connection.exec_driver_sql("DROP TABLE alembic_version")
        if had_workspace_settings:  # made by create_all in the last version before migrations
            workspace_settings_table.create(connection)
        connection.exec_driver_sql(
            "INSERT INTO saved_queries VALUES ('old', 'sample', '{\"name\": \"old\", "
            '"connection": "sample", "sql": "SELECT 1"}\', \'then\', \'then\')'
        )
    engine.dispose()
    store = Store(f"sqlite:///{path}")
    try:
        assert store.get_saved("old")["version"] == 1
    finally:
        store.close()
    assert schema_differences(f"sqlite:///{path}") == []


def test_metadata_store_saved_query_versions_refuse_a_stale_edit(client: TestClient) -> None:
    made = client.post("/saved-queries", json=SAVED)
    assert made.status_code == 201 and made.json()["version"] == 1
    read = client.get("/saved-queries/closes")
    assert read.headers["etag"] == '"1"'
    first = client.put(
        "/saved-queries/closes",
        json={**SAVED, "description": "mine"},
        headers={"If-Match": read.headers["etag"]},
    )
    assert first.status_code == 200 and first.json()["version"] == 2
    # A second editor who also read version 1: refused, by header or by body, never lost.
    stale = client.put(
        "/saved-queries/closes",
        json={**SAVED, "description": "theirs"},
        headers={"If-Match": '"1"'},
    )
    assert "version 2, not 1" in assert_error(stale, 409, "conflict")
    stale_body = client.put("/saved-queries/closes", json={**SAVED, "version": 1})
    assert_error(stale_body, 409, "conflict")
    assert client.get("/saved-queries/closes").json()["description"] == "mine"
    assert_error(
        client.put("/saved-queries/closes", json=SAVED, headers={"If-Match": "soon"}),
        422,
        "invalid_request",
    )
    assert_error(
        client.put("/saved-queries/nope", json={**SAVED, "name": "nope", "version": 1}),
        404,
        "not_found",
    )


def test_metadata_store_unreachable_at_start_is_clear_and_writes_nothing(tmp_path: Path) -> None:
    data = tmp_path / "data"
    port = netdb.closed_port()
    url = f"postgresql+psycopg://connector:hunter2-not-shown@127.0.0.1:{port}/meta"
    refused = serve_refused(data, "--port", "7998", env={"CONNECTOR_METADATA_URL": url})
    assert refused.returncode == 5, refused.stderr
    assert f"127.0.0.1:{port}/meta cannot be used" in refused.stderr
    assert "nothing was changed" in refused.stderr
    assert "hunter2" not in refused.stderr + refused.stdout
    assert "Traceback" not in refused.stderr
    assert not data.exists()


# PostgreSQL as the shared store ---------------------------------------------------------


@pytest.fixture
def pg_metadata_url() -> Iterator[str]:
    require_service(
        netdb.port_open(PG_HOST, PG_PORT), f"no PostgreSQL server on {PG_HOST}:{PG_PORT}"
    )
    name = f"dc_meta_{secrets.token_hex(4)}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", autocommit=True) as root:
        root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    yield f"postgresql+psycopg://postgres@{PG_HOST}:{PG_PORT}/{name}"
    with psycopg.connect(host=PG_HOST, port=PG_PORT, user="postgres", autocommit=True) as root:
        root.execute(
            pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
        )


MIGRATE = "from connector.store import Store; import sys; Store(sys.argv[1]).close()"


def test_metadata_store_processes_migrating_postgresql_at_once_do_it_once(
    pg_metadata_url: str,
) -> None:
    # Four processes start on one empty database together: the advisory lock lets one
    # migrate while the others wait, then find it current. Bounded at 60 s each, for a
    # loaded machine; a deadlock or a crash fails the test instead.
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", MIGRATE, pg_metadata_url],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for _ in range(4)
    ]
    outputs = [process.communicate(timeout=60)[0] for process in processes]
    assert [process.returncode for process in processes] == [0, 0, 0, 0], outputs
    engine = create_engine(pg_metadata_url)
    try:
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT count(*) FROM alembic_version")) == 1
            assert current_revision(connection) == HEAD
            assert "api_keys" in inspect(connection).get_table_names()
    finally:
        engine.dispose()
    assert schema_differences(pg_metadata_url) == []


def test_metadata_store_shared_secrets_are_encrypted_and_need_the_key(
    pg_metadata_url: str, tmp_path: Path
) -> None:
    from connector.config import Settings
    from connector.errors import InvalidRequestError
    from connector.models import ConnectionInput
    from connector.runtime import open_runtime

    password = "pw-" + secrets.token_hex(8)
    body = ConnectionInput(
        name="wh",
        kind="postgresql",
        options={"host": "db.internal", "user": "analyst"},
        secret=password,
    )

    def runtime(folder: str, **more: Any) -> Any:
        settings = Settings(
            data_dir=tmp_path / folder, sample=False, metadata_url=pg_metadata_url, **more
        )
        return open_runtime(settings)

    a = runtime("a", secret_key="team-key-1")
    b = runtime("b", secret_key="team-key-1")
    other = runtime("c", secret_key="another-key")
    keyless = runtime("d")
    try:
        a.connector.create_connection(body, test=False)
        assert b.secrets.get("wh") == password  # added on one replica, usable on another
        with pytest.raises(InvalidRequestError, match="another CONNECTOR_SECRET_KEY"):
            other.secrets.get("wh")
        with pytest.raises(InvalidRequestError, match="CONNECTOR_SECRET_KEY"):
            keyless.connector.create_connection(body.model_copy(update={"name": "wh2"}), test=False)
        assert not keyless.store.has_connection("wh2")  # refused whole, nothing half-written
    finally:
        for each in (a, b, other, keyless):
            each.close()
    engine = create_engine(pg_metadata_url)
    try:
        with engine.connect() as connection:
            dump = str(connection.execute(text("SELECT * FROM connection_secrets")).all())
            dump += str(connection.execute(text("SELECT * FROM connections")).all())
        assert "wh" in dump and password not in dump
    finally:
        engine.dispose()
