"""Plotly chart widgets: a saved query drawn by plotly as line, bar, area, scatter or
candlestick, in the dark or light theme, the rows themselves with raw=true, the chart
checked when saved, and the AG Grid chart widget (type "chart") left as it was."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error
from tests.test_workspace_rules import widget_problems

OHLC = (
    "SELECT date, open, high, low, close, volume, symbol FROM daily_prices "
    "WHERE symbol IN (:symbol) AND date >= '2024-12-01' ORDER BY date"
)


def add(client: TestClient, name: str, chart: dict[str, Any], **extra: Any) -> Any:
    return client.post(
        "/saved-queries",
        json={"name": name, "connection": "sample", "sql": OHLC,
              "params": [{"name": "symbol", "type": "ticker", "multiple": True,
                          "default": "ABF"}],
              "widget": {"type": "plotly", "chart": chart, **extra}},
    )  # fmt: skip


@pytest.mark.parametrize(
    ("kind", "trace"),
    [("line", "scatter"), ("bar", "bar"), ("area", "scatter"), ("scatter", "scatter"),
     ("candlestick", "candlestick")],
)  # fmt: skip
def test_charts_every_kind_is_a_plotly_figure(client: TestClient, kind: str, trace: str) -> None:
    chart = {"kind": kind, "x": "date", "y": ["close"], "title": "ABF"}
    assert add(client, "c", chart).status_code == 201
    widgets = client.get("/widgets.json").json()
    assert widget_problems(widgets) == []
    entry = widgets["saved_c"]
    assert entry["type"] == "chart" and "data" not in entry
    figure = client.get("/widgets/c", params={"theme": "light"}).json()
    assert set(figure) >= {"data", "layout"}
    [first] = figure["data"]
    assert first["type"] == trace
    assert first["x"][0] >= "2024-12-01"  # dates as the contract writes them
    if kind == "candlestick":
        assert len(first["open"]) == len(first["close"]) == len(first["x"])
    else:
        assert isinstance(first["y"][0], float)
    assert (kind == "area") == (first.get("fill") == "tozeroy")
    assert figure["layout"]["title"]["text"] == "ABF"
    light = figure["layout"]["template"]["layout"]["paper_bgcolor"]
    dark = client.get("/widgets/c", params={"theme": "dark"}).json()
    assert dark["layout"]["template"]["layout"]["paper_bgcolor"] != light
    assert client.get("/widgets/c").json()["layout"]["template"] == dark["layout"]["template"]


def test_charts_raw_gives_the_rows_and_series_split_traces(client: TestClient) -> None:
    chart = {"kind": "line", "x": "date", "y": ["close"], "series": "symbol"}
    assert add(client, "s", chart).status_code == 201
    rows = client.get("/widgets/s", params={"raw": "true"}).json()
    assert rows and set(rows[0]) == {"date", "open", "high", "low", "close", "volume", "symbol"}
    two = client.post(
        "/connections/sample/query", json={"sql": "SELECT symbol FROM tickers LIMIT 2"}
    ).json()["rows"]
    figure = client.get("/widgets/s", params={"symbol": f"{two[0][0]},{two[1][0]}"}).json()
    assert sorted(trace["name"] for trace in figure["data"]) == sorted(r[0] for r in two)
    assert_error(client.get("/widgets/s", params={"theme": "pink"}), 400, "bad_param")


@pytest.mark.parametrize(
    ("widget", "field"),
    [
        ({"type": "plotly"}, "widget.chart"),
        ({"type": "plotly", "chart": {"kind": "pie", "x": "date", "y": ["close"]}},
         "widget.chart.kind"),
        ({"type": "plotly", "chart": {"kind": "bar", "x": "date"}}, "widget.chart.y"),
        ({"type": "plotly", "chart": {"x": "date", "y": ["close"], "z": 1}}, "widget.chart.z"),
        ({"type": "table", "chart": {"x": "date", "y": ["close"]}}, "widget.chart"),
    ],
)  # fmt: skip
def test_charts_bad_chart_is_refused_when_saved(
    client: TestClient, widget: dict[str, Any], field: str
) -> None:
    answer = client.post(
        "/saved-queries",
        json={"name": "bad", "connection": "sample", "sql": "SELECT 1 AS one", "widget": widget},
    )
    detail = assert_error(answer, 400, "bad_widget")
    assert detail.startswith(f"{field}:"), detail


def test_charts_a_missing_column_is_a_sentence(client: TestClient) -> None:
    assert add(client, "m", {"kind": "line", "x": "day", "y": ["close"]}).status_code == 201
    detail = assert_error(client.get("/widgets/m"), 400, "bad_param")
    assert "'day'" in detail


def test_charts_the_ag_grid_chart_widget_is_unchanged(client: TestClient) -> None:
    body = {"name": "grid", "connection": "sample", "sql": "SELECT date, close FROM daily_prices "
            "WHERE symbol = 'ABF' LIMIT 5", "widget": {"type": "chart", "chartType": "bar"}}  # fmt: skip
    assert client.post("/saved-queries", json=body).status_code == 201
    entry = client.get("/widgets.json").json()["saved_grid"]
    assert entry["type"] == "table" and entry["defaultViz"] == "chart"
    assert entry["data"]["table"]["chartView"] == {"enabled": True, "chartType": "bar"}
    assert isinstance(client.get("/widgets/grid").json(), list)
