"""Dropdowns from the data and linked params: a saved-query param's options from a query
(label, value and extraInfo), a dropdown that depends on another (optionsParams), the
options query checked when saved, multi-value params, params with one name grouped in
apps.json (and refused when their types disagree) and cell clicks that drive the app."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error
from tests.test_workspace_rules import app_problems, widget_problems

SECTOR = {
    "name": "sector",
    "type": "text",
    "default": "Energy",
    "options_sql": "SELECT DISTINCT sector FROM tickers ORDER BY sector",
}
SYMBOL = {
    "name": "symbol",
    "type": "ticker",
    "multiple": True,
    "options_sql": "SELECT symbol, name, exchange FROM tickers WHERE sector = :sector "
    "ORDER BY symbol",
}
BY_SECTOR = {
    "name": "by_sector",
    "description": "The latest closes of the chosen tickers of a sector.",
    "sql": "SELECT t.sector, c.* FROM latest_close AS c JOIN tickers AS t USING (symbol) "
    "WHERE t.sector = :sector AND (c.symbol IN (:symbol) OR :symbol_none = 1)",
    "params": [SECTOR, SYMBOL, {"name": "symbol_none", "type": "number", "default": 1}],
    "widget": {"groupBy": {"symbol": "symbol"}},
}


def add(client: TestClient, **body: Any) -> httpx.Response:
    return client.post("/saved-queries", json={"connection": "sample", **body})


@pytest.fixture
def dropdowns(client: TestClient) -> TestClient:
    answer = add(client, **BY_SECTOR)
    assert answer.status_code == 201, answer.text
    return client


def test_dropdowns_from_a_query_with_a_dependent_one(dropdowns: TestClient) -> None:
    widgets = dropdowns.get("/widgets.json").json()
    assert widget_problems(widgets) == []
    params = {p["paramName"]: p for p in widgets["saved_by_sector"]["params"]}
    assert params["sector"]["type"] == "endpoint"
    assert params["sector"]["optionsEndpoint"] == "widgets/by_sector/options/sector"
    assert params["sector"]["value"] == "Energy" and "optionsParams" not in params["sector"]
    assert params["symbol"]["type"] == "endpoint" and params["symbol"]["multiSelect"] is True
    assert params["symbol"]["optionsParams"] == {"sector": "$sector"}
    sectors = dropdowns.get("/widgets/by_sector/options/sector").json()
    assert len(sectors) == 10 and sectors[0] == {
        "label": sectors[0]["value"],
        "value": sectors[0]["value"],
    }
    tech = dropdowns.get(
        "/widgets/by_sector/options/symbol", params={"sector": "Technology"}
    ).json()
    energy = dropdowns.get("/widgets/by_sector/options/symbol", params={"sector": "Energy"}).json()
    assert tech and energy and not {o["value"] for o in tech} & {o["value"] for o in energy}
    first = tech[0]
    assert set(first) == {"label", "value", "extraInfo"} and first["label"] != first["value"]
    assert first["extraInfo"]["description"] in ("NYSE", "NASDAQ")
    rows = dropdowns.get(
        "/widgets/by_sector",
        params={"sector": "Technology", "symbol": f"{tech[0]['value']},{tech[1]['value']}",
                "symbol_none": 0},
    ).json()  # fmt: skip
    assert {row["symbol"] for row in rows} == {tech[0]["value"], tech[1]["value"]}
    columns = {c["field"]: c for c in widgets["saved_by_sector"]["data"]["table"]["columnsDefs"]}
    assert columns["symbol"]["renderFn"] == "cellOnClick"
    assert columns["symbol"]["renderFnParams"]["groupBy"] == {"paramName": "symbol"}
    assert_error(dropdowns.get("/widgets/by_sector/options/symbol_none"), 404, "not_found")
    assert_error(dropdowns.get("/widgets/nope/options/sector"), 404, "not_found")


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"options_sql": "SELECT sector FROM tickers WHERE 1 = 0"}, "returns no rows"),
        ({"options_sql": "SELECT symbol, name, sector, exchange FROM tickers"}, "4 columns"),
        ({"options_sql": "SELECT symbol FROM tickers WHERE sector = :nope"}, ":nope"),
        ({"options_sql": "SELECT symbol FROM tickers WHERE sector = :sector"}, ":sector"),
        ({"options_sql": "SELECT nope FROM tickers"}, "failed"),
        ({"options": ["Energy"]}, "keep one"),
    ],
)
def test_dropdowns_bad_options_queries_are_refused_when_saved(
    client: TestClient, change: dict[str, Any], words: str
) -> None:
    param = {**SECTOR, **change}
    answer = add(client, name="bad", sql="SELECT :sector AS s", params=[param])
    detail = assert_error(answer, 400, "bad_param")
    assert "'sector'" in detail and words in detail, detail
    assert client.get("/saved-queries").json() == []  # nothing kept


def test_dropdowns_multi_value_params(client: TestClient) -> None:
    body = {
        "name": "multi",
        "sql": "SELECT symbol FROM tickers WHERE symbol IN (:free) OR sector IN (:picked)",
        "params": [
            {"name": "free", "type": "text", "multiple": True, "default": "ABF,ACM"},
            {"name": "picked", "type": "text", "multiple": True, "default": "Energy",
             "options": ["Energy", "Utilities"]},
        ],
    }  # fmt: skip
    assert add(client, **body).status_code == 201
    params = {
        p["paramName"]: p for p in client.get("/widgets.json").json()["saved_multi"]["params"]
    }
    assert params["free"]["multiple"] is True and "multiSelect" not in params["free"]
    assert params["picked"]["multiSelect"] is True and "multiple" not in params["picked"]
    assert client.get("/widgets/multi", params={"free": "ABF", "picked": "Energy,Utilities"}).json()


def test_linked_params_group_widgets_and_refuse_a_type_clash(dropdowns: TestClient) -> None:
    second = {
        "name": "sector_size",
        "sql": "SELECT count(*) AS tickers FROM tickers WHERE sector = :sector",
        "params": [SECTOR],
        "widget": {"type": "metric"},
    }
    assert add(dropdowns, **second).status_code == 201
    clash = {
        "name": "clash",
        "sql": "SELECT :sector AS s",
        "params": [{"name": "sector", "type": "number", "default": 1}],
    }
    detail = assert_error(add(dropdowns, **clash), 400, "bad_param")
    assert "'sector'" in detail and ("'by_sector'" in detail or "'sector_size'" in detail)
    elsewhere = {**clash, "widget": {"app": "Elsewhere"}}
    assert add(dropdowns, **elsewhere).status_code == 201  # another app: no link, no clash
    put = dropdowns.put(
        "/connections/sample/workspace", json={"tables": True, "filters": ["symbol"],
                                               "include_tables": ["tickers"]}
    )  # fmt: skip
    assert put.status_code == 200
    widgets = dropdowns.get("/widgets.json").json()
    apps = {app["name"]: app for app in dropdowns.get("/apps.json").json()}
    assert app_problems(list(apps.values()), set(widgets), widgets) == []
    assert set(apps) == {"sample", "Elsewhere"}
    groups = {g["paramName"]: g for g in apps["sample"]["groups"]}
    assert groups["sector"] == {
        "name": groups["sector"]["name"],
        "type": "endpointParam",
        "paramName": "sector",
        "defaultValue": "Energy",
        "widgetIds": ["saved_by_sector", "saved_sector_size"],
    }
    assert groups["symbol"]["widgetIds"] == ["saved_by_sector", "table_sample__main__tickers"]
    layout = apps["sample"]["tabs"]["saved-queries"]["layout"]
    assert layout[0]["i"] == "saved_sector_size"  # metrics first
    assert [item["i"] for item in apps["Elsewhere"]["tabs"]["saved-queries"]["layout"]] == [
        "saved_clash"
    ]
    assert "sql" in apps["Elsewhere"]["tabs"] and "sql" in apps["sample"]["tabs"]


def test_linked_params_bad_group_by_is_refused(client: TestClient) -> None:
    answer = add(client, name="g", sql="SELECT 1 AS one", widget={"groupBy": {"one": "a b"}})
    detail = assert_error(answer, 400, "bad_widget")
    assert "widget.groupBy" in detail
