"""A saved query's widget options: what Workspace would reject is refused when saved (400
naming the field); what it accepts reaches the widgets.json entry; a cut result says so."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error


def _add(client: TestClient, **body: Any) -> Any:
    query = {"name": "w", "connection": "sample", "sql": "SELECT symbol, close FROM daily_prices"}
    return client.post("/saved-queries", json={**query, **body})


@pytest.mark.parametrize(
    ("widget", "field"),
    [
        ({"refetchInterval": 999}, "widget.refetchInterval"),
        ({"refetchInterval": True}, "widget.refetchInterval"),
        ({"refetchInterval": "soon"}, "widget.refetchInterval"),
        ({"refetchInterval": "60000"}, "widget.refetchInterval"),
        ({"staleTime": 500}, "widget.staleTime"),
        ({"type": "chart", "chartType": "pie3d"}, "widget.chartType"),
        ({"gridData": {"w": 41, "h": 5}}, "widget.gridData.w"),
        ({"gridData": {"w": 10}}, "widget.gridData.h"),
        ({"columnsDefs": [{"headerName": "x"}]}, "widget.columnsDefs.0.field"),
        (
            {"columnsDefs": [{"field": "close", "formatterFn": "money"}]},
            "widget.columnsDefs.0.formatterFn",
        ),
        ({"columnsDefs": [{"field": "close", "pinned": "middle"}]}, "widget.columnsDefs.0.pinned"),
        ({"runButton": "yes please"}, "widget.runButton"),
        ({"colour": "red"}, "widget.colour"),
        ({"columns": {"close": "money"}}, "widget.columns.close"),
    ],
)
def test_widget_options_refused_when_saved(
    client: TestClient, widget: dict[str, Any], field: str
) -> None:
    answer = _add(client, widget={"type": "table", **widget})
    assert_error(answer, 400, "bad_widget")
    assert field in answer.json()["detail"]
    assert client.get("/saved-queries/w").status_code == 404  # nothing half-saved


@pytest.mark.parametrize(
    "widget",
    [
        {"refetchInterval": 1000},
        {"refetchInterval": False},
        {"refetchInterval": "*/5 * * * *"},
        {"staleTime": 60000},
        {"type": "chart", "chartType": "histogram"},
        {"type": "chart", "chartType": "stackedArea"},
    ],
)
def test_widget_options_accepted_reach_the_entry(
    client: TestClient, widget: dict[str, Any]
) -> None:
    assert _add(client, widget={"type": "table", **widget}).status_code == 201
    entry = client.get("/widgets.json").json()["saved_w"]
    for key in ("refetchInterval", "staleTime"):
        if key in widget:
            assert entry[key] == widget[key]
    if "chartType" in widget:
        assert entry["data"]["table"]["chartView"]["chartType"] == widget["chartType"]


def test_widget_options_pass_through_and_column_overrides_merge(client: TestClient) -> None:
    widget = {
        "type": "table",
        "runButton": True,
        "exportable": False,
        "dataUpdateDisplay": True,
        "imgUrl": "https://example.org/w.png",
        "gridData": {"w": 30, "h": 12},
        "columnsDefs": [
            {"field": "close", "headerName": "Close", "formatterFn": "none", "width": 90,
             "pinned": "left", "headerTooltip": "Daily close", "renderFn": "greenRed",
             "renderFnParams": {"colorRules": []}},
            {"field": "symbol", "hide": True},
        ],
    }  # fmt: skip
    assert _add(client, widget=widget).status_code == 201
    entry = client.get("/widgets.json").json()["saved_w"]
    assert entry["runButton"] is True and entry["exportable"] is False
    assert entry["dataUpdateDisplay"] is True and entry["imgUrl"] == widget["imgUrl"]
    assert entry["gridData"] == {"w": 30, "h": 12}
    columns = {c["field"]: c for c in entry["data"]["table"]["columnsDefs"]}
    assert columns["close"]["headerName"] == "Close" and columns["close"]["width"] == 90
    assert columns["close"]["cellDataType"] == "number"  # generated, kept under the override
    assert columns["close"]["renderFnParams"] == {"colorRules": []}
    assert columns["symbol"]["hide"] is True


def test_widget_options_declared_columns_need_no_probe(client: TestClient) -> None:
    widget = {"type": "table", "columns": {"symbol": "string", "close": "decimal"}}
    assert _add(client, widget=widget).status_code == 201
    entry = client.get("/widgets.json").json()["saved_w"]
    columns = {c["field"]: c for c in entry["data"]["table"]["columnsDefs"]}
    assert (
        columns["close"]["cellDataType"] == "number" and columns["symbol"]["cellDataType"] == "text"
    )
    history = client.get("/history", params={"limit": 20}).json()
    assert not [e for e in history if e["client"] == "widgets.json"]  # nothing was probed


def test_widget_options_param_defaults_keep_their_json_type(client: TestClient) -> None:
    params = [
        {"name": "on", "type": "boolean", "default": "true"},
        {"name": "n", "type": "number", "default": "5"},
        {"name": "d", "type": "date", "default": "$currentDate-1h"},
        {"name": "e", "type": "date", "default": "$currentDate+2y"},
    ]
    sql = "SELECT :on AS on_flag, :n AS n, :d AS d, :e AS e"
    answer = _add(client, sql=sql, params=params)
    assert answer.status_code == 201, answer.text
    stored = {p["name"]: p["default"] for p in answer.json()["params"]}
    assert stored["on"] is True and stored["n"] == 5
    values = {
        p["paramName"]: p["value"] for p in client.get("/widgets.json").json()["saved_w"]["params"]
    }
    assert values["on"] is True and values["n"] == 5 and values["d"] == "$currentDate-1h"
    assert client.get("/widgets/w").status_code == 200
    bad = _add(
        client,
        name="w2",
        sql="SELECT :on AS x",
        params=[{"name": "on", "type": "boolean", "default": "maybe"}],
    )
    assert_error(bad, 400, "bad_param")


def test_widget_limit_is_its_own_and_a_cut_result_says_so(client: TestClient) -> None:
    assert _add(client, limit=3).status_code == 201
    rows = client.get("/widgets/w").json()
    assert len(rows) == 4
    assert rows[-1]["symbol"].startswith("Showing the first 3 rows; more exist")
    assert rows[-1]["close"] is None
    whole = _add(client, name="whole", sql="SELECT symbol FROM tickers", limit=1000)
    assert whole.status_code == 201
    assert not any(
        str(row["symbol"]).startswith("Showing") for row in client.get("/widgets/whole").json()
    )
    too_many = _add(client, name="big", limit=10_000_000)
    assert_error(too_many, 400, "bad_param")
    assert "at most" in too_many.json()["detail"]


def test_widgets_json_keeps_a_failed_probe_and_does_not_wait_for_a_slow_one(
    client: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    import connector.workspace as workspace

    monkeypatch.setattr(workspace, "PROBE_BUDGET_S", 0.2)
    failing = "SELECT * FROM daily_prices WHERE close > json('{')"  # fails when it runs
    assert _add(client, name="broken", sql=failing).status_code == 201
    slow = (
        "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 300000000) "
        "SELECT count(*) AS c FROM n"
    )
    assert _add(client, name="slow", sql=slow).status_code == 201
    first = client.get("/widgets.json").json()
    assert "columnsDefs" not in first["saved_slow"]["data"]["table"]  # not waited for
    assert "columnsDefs" not in first["saved_broken"]["data"]["table"]
    client.get("/widgets.json")
    history = client.get("/history", params={"limit": 50}).json()
    probes_of_broken = [
        e for e in history if e["client"] == "widgets.json" and "json('{')" in e["sql"]
    ]
    assert len(probes_of_broken) == 1  # the failure is kept, not probed on every request
    running = client.get("/queries").json()
    for query in running:
        client.delete(f"/queries/{query['query_id']}")
