"""Tables as Workspace widgets on every kind with a server or a file: MariaDB and
PostgreSQL on their local servers, DuckDB files and Snowflake through fakesnow. Each
database gets a table with a mixed-case, spaced column and a view; the same checks run on
each: typed column definitions, a filter dropdown, filtered rows, a page sorted in the
database, and the paged type for a table over the threshold."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pymysql
import pytest
from fastapi.testclient import TestClient
from psycopg import sql as pgsql

from connector.table_widgets import table_key
from tests import netdb
from tests.conftest import assert_error, require_service
from tests.test_snowflake import fakesnow_port, sf_options  # noqa: F401 - fakesnow_port is a fixture
from tests.test_workspace_rules import app_problems, widget_problems


def check_table_widgets(
    client: TestClient,
    name: str,
    schema: str,
    names: dict[str, str],
    *,
    comments: bool = True,
    column_comments: bool = True,
) -> None:
    """``names`` maps ``prices``, ``view``, ``symbol``, ``close``, ``day`` to this database's
    spelling of them (Snowflake upper-cases); with ``comments`` the database holds the
    table comment "Daily closes" and the column comment "Closing price" on close."""
    answer = client.put(
        f"/connections/{name}/workspace",
        json={"tables": True, "include_schemas": [schema], "filters": [names["symbol"]],
              "ssrm_above": 3},
    )  # fmt: skip
    assert answer.status_code == 200, answer.text
    assert answer.json()["warnings"] == []
    prices_key = table_key(schema, names["prices"])
    view_key = table_key(schema, names["view"])
    prices_id, view_id = f"table_{name}__{prices_key}", f"table_{name}__{view_key}"
    assert {prices_id, view_id} <= set(answer.json()["widgets"])
    widgets = client.get("/widgets.json").json()
    assert widget_problems(widgets) == []
    apps = client.get("/apps.json").json()
    assert app_problems(apps, set(widgets)) == []
    prices = widgets[prices_id]
    assert prices["type"] == "ssrm_table"  # four rows, over the threshold of three
    assert widgets[view_id]["type"] == "table"  # the view shows two
    columns = {c["field"]: c for c in prices["data"]["table"]["columnsDefs"]}
    if comments:  # the database's own words, for Workspace's AI
        assert prices["description"].startswith("Daily closes (the table "), prices["description"]
        if column_comments:
            assert columns[names["close"]]["headerTooltip"].startswith("Closing price (")
    else:
        assert prices["description"].startswith("The table "), prices["description"]
    assert columns[names["day"]]["cellDataType"] == "date"
    assert columns[names["close"]]["cellDataType"] == "number"
    assert columns[names["symbol"]]["cellDataType"] == "text"
    assert columns[names["odd"]]["cellDataType"] == "number"
    [param] = prices["params"]
    assert param["paramName"] == "symbol" and param["type"] == "endpoint"
    options = client.get(f"/{param['optionsEndpoint']}").json()
    assert [o["value"] for o in options] == ["AAPL", "MSFT"]
    page = client.post(
        f"/{prices['endpoint']}",
        json={"startRow": 0, "endRow": 10, "symbol": "AAPL",
              "sortModel": [{"colId": names["close"], "sort": "desc"}]},
    )  # fmt: skip
    assert page.status_code == 200, page.text
    body = page.json()
    assert body["rowCount"] == 3
    assert [float(r[names["close"]]) for r in body["rowData"]] == [190.5, 189.25, 188.0]
    assert {r[names["odd"]] for r in body["rowData"]} == {1, 2, 3}
    rows = client.get(f"/{widgets[view_id]['endpoint']}", params={"symbol": "MSFT"})
    assert rows.status_code == 200, rows.text
    assert [r[names["symbol"]] for r in rows.json()] == ["MSFT"]
    assert_error(client.get(f"/tables/{name}/{schema}__nope"), 404, "not_found")


LOWER = {"prices": "prices", "view": "msft_or_big", "symbol": "symbol", "close": "close",
         "day": "day", "odd": "Odd Col"}  # fmt: skip


def seed(
    execute: Any, *, text: str = "VARCHAR(10)", number: str = "DECIMAL(10,2)", odd: str
) -> None:
    execute(f"CREATE TABLE prices (symbol {text}, day DATE, close {number}, {odd} INT)")
    execute(
        "INSERT INTO prices VALUES ('AAPL', '2024-01-02', 188.00, 1), "
        "('AAPL', '2024-01-03', 190.50, 2), ('AAPL', '2024-01-04', 189.25, 3), "
        "('MSFT', '2024-01-02', 370.00, 4)"
    )
    execute("CREATE VIEW msft_or_big AS SELECT * FROM prices WHERE symbol = 'MSFT' OR close > 190")


def test_table_widgets_mariadb(client: TestClient) -> None:
    require_service(netdb.port_open("127.0.0.1", 3306), "no MariaDB server on 127.0.0.1:3306")
    database = f"dc_tw_{secrets.token_hex(4)}"
    root = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with root.cursor() as cur:
            cur.execute(f"CREATE DATABASE `{database}`")
            cur.execute(f"USE `{database}`")
            seed(cur.execute, odd="`Odd Col`")
            cur.execute("ALTER TABLE prices COMMENT = 'Daily closes'")
            cur.execute("ALTER TABLE prices MODIFY close DECIMAL(10,2) COMMENT 'Closing price'")
        body = {"name": "maria", "kind": "mysql",
                "options": {"host": "127.0.0.1", "port": 3306, "user": "root",
                            "database": database}}  # fmt: skip
        assert client.post("/connections", json=body).status_code == 201
        check_table_widgets(client, "maria", database, LOWER)
    finally:
        with root.cursor() as cur:
            cur.execute(f"DROP DATABASE IF EXISTS `{database}`")
        root.close()


@pytest.fixture
def pg_database() -> Iterator[str]:
    require_service(netdb.port_open("127.0.0.1", 5432), "no PostgreSQL server on 127.0.0.1:5432")
    database = f"dc_tw_{secrets.token_hex(4)}"
    with psycopg.connect(host="127.0.0.1", user="postgres", autocommit=True) as root:
        root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(database)))
    try:
        yield database
    finally:
        with psycopg.connect(host="127.0.0.1", user="postgres", autocommit=True) as root:
            root.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                    pgsql.Identifier(database)
                )
            )


def test_table_widgets_postgresql(client: TestClient, pg_database: str) -> None:
    with psycopg.connect(
        host="127.0.0.1", user="postgres", dbname=pg_database, autocommit=True
    ) as owner:
        owner.execute("CREATE SCHEMA market")
        owner.execute("SET search_path TO market")
        seed(owner.execute, text="text", number="numeric(10,2)", odd='"Odd Col"')
        owner.execute("COMMENT ON TABLE prices IS 'Daily closes'")
        owner.execute("COMMENT ON COLUMN prices.close IS 'Closing price'")
        owner.execute("CREATE TABLE public.elsewhere (n int)")
    body = {"name": "pg", "kind": "postgresql",
            "options": {"host": "127.0.0.1", "port": 5432, "user": "postgres",
                        "database": pg_database}}  # fmt: skip
    assert client.post("/connections", json=body).status_code == 201
    check_table_widgets(client, "pg", "market", LOWER)
    ids = client.get("/connections/pg/workspace").json()["widgets"]
    assert "table_pg__public__elsewhere" not in ids  # its schema is not included


def test_table_widgets_duckdb(client: TestClient, tmp_path: Path) -> None:
    path = tmp_path / "lake.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA market")
        con.execute("SET schema = 'market'")
        seed(con.execute, odd='"Odd Col"')
        con.execute("COMMENT ON TABLE prices IS 'Daily closes'")
        con.execute("COMMENT ON COLUMN prices.close IS 'Closing price'")
    body = {"name": "duck", "kind": "duckdb", "options": {"path": str(path)}}
    assert client.post("/connections", json=body).status_code == 201, body
    check_table_widgets(client, "duck", "market", LOWER)


def test_table_widgets_snowflake(client: TestClient, fakesnow_port: int) -> None:  # noqa: F811
    from tests.test_snowflake import _raw_connection

    connection = _raw_connection(fakesnow_port)
    cursor = connection.cursor()
    for statement in (
        "CREATE DATABASE IF NOT EXISTS TW",
        "CREATE SCHEMA IF NOT EXISTS TW.MARKET",
        "USE SCHEMA TW.MARKET",
        "CREATE OR REPLACE TABLE PRICES (SYMBOL VARCHAR, DAY DATE, CLOSE NUMBER(10,2), "
        '"Odd Col" INT)',
        "INSERT INTO PRICES VALUES ('AAPL', '2024-01-02', 188.00, 1), "
        "('AAPL', '2024-01-03', 190.50, 2), ('AAPL', '2024-01-04', 189.25, 3), "
        "('MSFT', '2024-01-02', 370.00, 4)",
        "CREATE OR REPLACE VIEW MSFT_OR_BIG AS SELECT * FROM PRICES "
        "WHERE SYMBOL = 'MSFT' OR CLOSE > 190",
        "COMMENT ON TABLE PRICES IS 'Daily closes'",
        # fakesnow takes this but does not keep it in INFORMATION_SCHEMA.COLUMNS, so the
        # column comment is not checked on Snowflake here (the query reading it is).
        "ALTER TABLE PRICES ALTER COLUMN CLOSE COMMENT 'Closing price'",
    ):
        cursor.execute(statement)
    connection.close()
    body = {"name": "snow", "kind": "snowflake", "secret": "pw",
            "options": sf_options(fakesnow_port, database="TW", schema="MARKET")}  # fmt: skip
    assert client.post("/connections", json=body).status_code == 201
    upper = {"prices": "PRICES", "view": "MSFT_OR_BIG", "symbol": "SYMBOL", "close": "CLOSE",
             "day": "DAY", "odd": "Odd Col"}  # fmt: skip
    check_table_widgets(client, "snow", "MARKET", upper, column_comments=False)
