"""Tables and views as OpenBB Workspace widgets, turned on per connection: typed column
definitions from the catalog, big tables paged in the database, filter params with
dropdowns from the data, patterns, new and dropped tables, odd names quoted, and the
apps.json app they make. SQLite here in process; the other kinds in
``test_table_widgets_servers.py``."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from connector.native_types import contract_type
from connector.table_widgets import table_key
from tests.conftest import assert_error
from tests.test_openbb import reference_problems
from tests.test_workspace_rules import app_problems, widget_problems

ON = {"tables": True, "filters": ["symbol", "sector"]}


def enable(client: TestClient, name: str = "sample", **settings: Any) -> dict[str, Any]:
    answer = client.put(f"/connections/{name}/workspace", json={**ON, **settings})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


def tables_of(widgets: dict[str, Any]) -> dict[str, Any]:
    return {wid: w for wid, w in widgets.items() if wid.startswith("table_")}


def test_table_widgets_are_off_until_turned_on(client: TestClient) -> None:
    assert client.get("/connections/sample/workspace").json() == {
        "settings": {
            "tables": False,
            "include_schemas": ["*"],
            "exclude_schemas": [],
            "include_tables": ["*"],
            "exclude_tables": [],
            "filters": [],
            "ssrm_above": None,
            "max_tables": 200,
            "app": None,
        },
        "widgets": [],
        "warnings": [],
    }
    assert tables_of(client.get("/widgets.json").json()) == {}
    assert client.get("/apps.json").json() == []


def test_table_widgets_every_table_and_view_typed_from_the_schema(client: TestClient) -> None:
    body = enable(client)
    assert body["warnings"] == []
    assert set(body["widgets"]) == {
        "table_sample__main__tickers",
        "table_sample__main__daily_prices",
        "table_sample__main__dividends",
        "table_sample__main__earnings",
        "table_sample__main__latest_close",
    }
    widgets = client.get("/widgets.json").json()
    assert widget_problems(widgets) == [] and reference_problems(widgets) == []
    tables = tables_of(widgets)
    assert set(tables) == set(body["widgets"])
    tickers = tables["table_sample__main__tickers"]
    assert tickers["type"] == "table"  # 50 rows: under the row limit
    assert tables["table_sample__main__daily_prices"]["type"] == "ssrm_table"  # ~130,000 rows
    assert tickers["endpoint"] == "tables/sample/main__tickers"
    assert (
        "main.tickers" in tickers["description"]
        and "shares_outstanding (integer)" in (tickers["description"])
    )
    assert "latest_close" in tables["table_sample__main__latest_close"]["description"]
    assert "view" in tables["table_sample__main__latest_close"]["description"]
    columns = {c["field"]: c for c in tickers["data"]["table"]["columnsDefs"]}
    assert columns["listed_on"]["cellDataType"] == "date"
    assert columns["listed_on"]["chartDataType"] == "time"
    assert columns["shares_outstanding"]["formatterFn"] == "int"
    assert columns["symbol"]["headerTooltip"] == "text, not null"
    assert columns["symbol"]["renderFn"] == "cellOnClick"
    assert columns["symbol"]["renderFnParams"]["groupBy"] == {"paramName": "symbol"}
    params = {p["paramName"]: p for p in tickers["params"]}
    assert set(params) == {"symbol", "sector"}
    assert params["sector"]["type"] == "endpoint" and params["sector"]["multiSelect"] is True
    assert params["sector"]["optionsEndpoint"] == "tables/sample/main__tickers/options/sector"


def test_table_widgets_data_filters_options_and_pages(client: TestClient) -> None:
    enable(client)
    every = client.get("/tables/sample/main__tickers").json()
    assert len(every) == 50 and set(every[0]) >= {"symbol", "sector", "listed_on"}
    sectors = client.get("/tables/sample/main__tickers/options/sector").json()
    assert sectors == sorted(sectors, key=lambda o: o["value"]) and len(sectors) == 10
    assert all(set(o) == {"label", "value"} for o in sectors)
    two = f"{sectors[0]['value']},{sectors[1]['value']}"
    chosen = client.get("/tables/sample/main__tickers", params={"sector": two}).json()
    assert chosen and {row["sector"] for row in chosen} == {o["value"] for o in sectors[:2]}
    page = client.post(
        "/tables/sample/main__daily_prices",
        json={
            "startRow": 0,
            "endRow": 5,
            "symbol": every[0]["symbol"],
            "sortModel": [{"colId": "close", "sort": "desc"}],
            "filterModel": {"volume": {"filterType": "number", "type": "greaterThan", "filter": 1}},
        },
    ).json()
    closes = [row["close"] for row in page["rowData"]]
    assert len(closes) == 5 and closes == sorted(closes, reverse=True)
    assert {row["symbol"] for row in page["rowData"]} == {every[0]["symbol"]}
    assert 2000 < page["rowCount"] < 3000  # one ticker's ten years of weekdays
    by_get = client.get(
        "/tables/sample/main__daily_prices", params={"startRow": 0, "endRow": 2}
    ).json()
    assert len(by_get["rowData"]) == 2 and by_get["rowCount"] > 100_000


def test_table_widgets_bad_requests_are_sentences(client: TestClient) -> None:
    enable(client)
    assert_error(client.get("/tables/sample/main__nope"), 404, "not_found")
    assert_error(client.get("/tables/sample/main__tickers/options/nope"), 404, "not_found")
    assert_error(client.get("/tables/nowhere/main__tickers"), 404, "not_found")
    assert_error(
        client.post("/tables/sample/main__daily_prices", json={"startRow": 0, "endRow": 5,
                    "sortModel": [{"colId": "nope", "sort": "asc"}]}),
        400,
        "bad_param",
    )  # fmt: skip
    assert_error(client.put("/connections/sample/workspace", json={"tables": 1.5}), 422,
                 "invalid_request")  # fmt: skip
    assert_error(client.put("/connections/sample/workspace", json={"tablez": True}), 422,
                 "invalid_request")  # fmt: skip
    assert_error(client.put("/connections/nowhere/workspace", json=ON), 404, "not_found")
    assert_error(client.get("/connections/nowhere/workspace"), 404, "not_found")


def test_table_widgets_setting_the_store_cannot_keep_is_refused(client: TestClient) -> None:
    # Found by tests/test_fuzz_api.py: these reached the store's JSON encoder and were a 500.
    too_big = client.put("/connections/sample/workspace", json={"ssrm_above": 2**70})
    assert_error(too_big, 422, "invalid_request")
    surrogate = client.put(
        "/connections/sample/workspace",
        content=b'{"include_tables": ["\\ud800"]}',
        headers={"Content-Type": "application/json"},
    )
    assert_error(surrogate, 422, "invalid_request")
    assert client.get("/connections/sample/workspace").json()["settings"]["include_tables"] == ["*"]


def test_table_widgets_patterns_pick_and_warn(client: TestClient) -> None:
    body = enable(client, include_tables=["daily_*", "main.tick*"], exclude_tables=["*prices"])
    assert body["widgets"] == ["table_sample__main__tickers"]
    assert body["warnings"] == ["No table matches the pattern 'daily_*'."]
    nothing = enable(client, include_tables=["no_such_*"])
    assert nothing["widgets"] == [] and nothing["warnings"] == [
        "No table matches the pattern 'no_such_*'."
    ]
    assert tables_of(client.get("/widgets.json").json()) == {}
    apps = client.get("/apps.json").json()  # an empty app (its SQL tab), not an error
    assert [app["name"] for app in apps] == ["sample"]
    assert list(apps[0]["tabs"]) == ["sql"]
    other_schema = enable(client, include_schemas=["other"])
    assert other_schema["warnings"] == ["No schema matches the pattern 'other'."]
    capped = enable(client, max_tables=2)
    assert len(capped["widgets"]) == 2 and "only the first 2" in capped["warnings"][0]


def test_table_widgets_app_links_params_and_fits_the_grid(client: TestClient) -> None:
    enable(client, app="Markets")
    widgets = client.get("/widgets.json").json()
    apps = client.get("/apps.json").json()
    assert app_problems(apps, set(widgets)) == []
    [app] = apps
    assert app["name"] == "Markets" and list(app["tabs"]) == ["tables", "sql"]
    assert [item["i"] for item in app["tabs"]["sql"]["layout"]] == ["sql_sample"]
    groups = {g["paramName"]: g for g in app["groups"]}
    assert set(groups) == {"symbol", "sector"}
    assert groups["symbol"]["type"] == "endpointParam"
    assert groups["symbol"]["name"].startswith("Group ")
    assert set(groups["symbol"]["widgetIds"]) == {
        wid for wid, w in tables_of(widgets).items() if any(
            p["paramName"] == "symbol" for p in w["params"])
    }  # fmt: skip
    assert len(groups["symbol"]["widgetIds"]) == 5
    assert app["prompts"] and all(isinstance(p, str) and p for p in app["prompts"])
    assert any("main.tickers" in p for p in app["prompts"])


@pytest.fixture
def scratch(client: TestClient, tmp_path: Path) -> tuple[TestClient, Path]:
    """A connection ``scratch`` to a small SQLite file the test changes behind its back."""
    path = tmp_path / "scratch.db"
    with sqlite3.connect(path) as db:
        db.execute('CREATE TABLE "we""ird table" ("sym bol" TEXT, "x-y" INTEGER)')
        db.execute("INSERT INTO \"we\"\"ird table\" VALUES ('A', 1), ('B', 2), ('A', 3)")
    body = {"name": "scratch", "kind": "sqlite", "options": {"path": str(path)}}
    assert client.post("/connections", json=body).status_code == 201
    enable(client, "scratch", filters=["sym*"])
    return client, path


def test_table_widgets_odd_names_are_quoted_not_pasted(scratch: tuple[TestClient, Path]) -> None:
    client, _ = scratch
    key = table_key("main", 'we"ird table')
    assert key.startswith("main__we_ird_table_") and len(key) == len("main__we_ird_table_") + 8
    widgets = client.get("/widgets.json").json()
    entry = widgets[f"table_scratch__{key}"]
    assert entry["name"] == 'we"ird table'
    assert [p["paramName"] for p in entry["params"]] == ["sym_bol"]
    rows = client.get(f"/tables/scratch/{key}", params={"sym_bol": "A"}).json()
    assert rows == [{"sym bol": "A", "x-y": 1}, {"sym bol": "A", "x-y": 3}]
    options = client.get(f"/tables/scratch/{key}/options/sym_bol").json()
    assert options == [{"label": "A", "value": "A"}, {"label": "B", "value": "B"}]


def test_table_widgets_new_tables_appear_and_dropped_ones_answer_404(
    scratch: tuple[TestClient, Path],
) -> None:
    client, path = scratch
    before = set(tables_of(client.get("/widgets.json").json()))
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE fresh (n INTEGER)")
    after = set(tables_of(client.get("/widgets.json").json()))
    assert after - before == {"table_scratch__main__fresh"}  # on the next refresh, no restart
    assert client.get("/tables/scratch/main__fresh").json() == []
    with sqlite3.connect(path) as db:
        db.execute("DROP TABLE fresh")
    detail = assert_error(client.get("/tables/scratch/main__fresh"), 404, "not_found")
    assert "refresh the backend" in detail
    assert "table_scratch__main__fresh" not in client.get("/widgets.json").json()


def test_table_widgets_setting_goes_with_its_connection(scratch: tuple[TestClient, Path]) -> None:
    client, _ = scratch
    assert client.delete("/connections/scratch/workspace").status_code == 204
    assert client.get("/connections/scratch/workspace").json()["settings"]["tables"] is False
    enable(client, "scratch")
    assert client.delete("/connections/scratch").status_code == 204
    body = {"name": "scratch", "kind": "sqlite", "options": {"path": str(scratch[1])}}
    assert client.post("/connections", json=body).status_code == 201
    assert client.get("/connections/scratch/workspace").json()["settings"]["tables"] is False


@pytest.mark.parametrize(
    ("native", "expected"),
    [
        ("INTEGER", "integer"), ("int(11)", "integer"), ("bigint", "integer"),
        ("NUMBER(38,0)", "integer"), ("NUMBER(10,2)", "decimal"), ("numeric", "decimal"),
        ("DECIMAL(18, 4)", "decimal"), ("double precision", "float"), ("REAL", "float"),
        ("FLOAT", "float"), ("varchar(10)", "string"), ("TEXT", "string"),
        ("character varying", "string"), ("tinyint(1)", "boolean"), ("BOOLEAN", "boolean"),
        ("date", "date"), ("timestamp without time zone", "datetime"),
        ("TIMESTAMP_NTZ", "datetime"), ("datetime", "datetime"), ("time", "time"),
        ("jsonb", "json"), ("VARIANT", "json"), ("INTEGER[]", "json"), ("bytea", "binary"),
        ("BLOB", "binary"), ("", "unknown"), ("any", "unknown"), ("uuid", "string"),
    ],
)  # fmt: skip
def test_table_widgets_native_types(native: str, expected: str) -> None:
    assert contract_type(native) == expected
