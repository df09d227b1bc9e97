"""Saved queries as OpenBB widgets, in process: typed parameters (multi-select, relative
dates, options), widgets.json and apps.json against the widgets.json reference's rules,
widget data, table_ssrm paging in the database, the omni SQL widget, and the CLI."""

from __future__ import annotations

import datetime as dt
import json
import logging
from pathlib import Path
from typing import Any

import httpx
import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from connector.app import create_app
from connector.cli import main
from connector.models import Column, SavedParam
from connector.runtime import Runtime, open_runtime
from connector.saved import coerce_param, resolve_date
from connector.statements import prepare
from connector.widgets import column_defs
from tests.conftest import assert_error

# The widgets.json reference (docs.openbb.co, "Widgets.json Reference"), written out here
# on its own so the tests do not trust the code's copy of the same rules. Where it and
# Workspace's frontend disagree the frontend decides (it parses the file): the server-side
# row model is "ssrm_table" there, "table_ssrm" in the reference.
REFERENCE_WIDGET_TYPES = {
    "table",
    "chart",
    "ssrm_table",
    "markdown",
    "metric",
    "omni",
    "note",
    "multi_file_viewer",
    "live_grid",
    "newsfeed",
    "advanced-chart",
    "chart-highcharts",
    "youtube",
}
REFERENCE_PARAM_TYPES = {"text", "number", "boolean", "date", "endpoint", "ticker", "tabs", "form"}
REFERENCE_CELL_TYPES = {"text", "number", "boolean", "date", "dateString", "object"}
REFERENCE_CHART_TYPES = {"category", "series", "time", "excluded"}
REFERENCE_FORMATTERS = {"int", "none", "percent", "normalized", "normalizedPercent", "dateToYear"}


def reference_problems(widgets: Any) -> list[str]:
    assert isinstance(widgets, dict), "widgets.json must be an object keyed by widget id"
    found: list[str] = []
    for wid, w in widgets.items():
        for key in ("name", "description", "category", "type", "endpoint"):
            if not isinstance(w.get(key), str) or not w[key]:
                found.append(f"{wid}: {key}")
        if w.get("type") not in REFERENCE_WIDGET_TYPES:
            found.append(f"{wid}: type {w.get('type')}")
        grid = w.get("gridData", {})
        if not (1 <= grid.get("w", 1) <= 40 and 1 <= grid.get("h", 1) <= 100):
            found.append(f"{wid}: gridData")
        for p in w.get("params", []):
            missing = {"paramName", "type", "label", "value"} - set(p)
            if missing or p["type"] not in REFERENCE_PARAM_TYPES:
                found.append(f"{wid}: param {p.get('paramName')} {missing or p['type']}")
            for option in p.get("options", []):
                if "value" not in option:
                    found.append(f"{wid}: option without value")
        if "columns" in w or "columnsDefs" in w.get("data", {}):
            found.append(f"{wid}: columns belong in data.table.columnsDefs")
        for c in w.get("data", {}).get("table", {}).get("columnsDefs", []):
            if "field" not in c:
                found.append(f"{wid}: column without field")
            if c.get("cellDataType", "text") not in REFERENCE_CELL_TYPES:
                found.append(f"{wid}: cellDataType {c['cellDataType']}")
            if c.get("chartDataType", "series") not in REFERENCE_CHART_TYPES:
                found.append(f"{wid}: chartDataType {c['chartDataType']}")
            if c.get("formatterFn", "none") not in REFERENCE_FORMATTERS:
                found.append(f"{wid}: formatterFn {c['formatterFn']}")
        if w.get("type") == "omni":
            prompt = [p for p in w.get("params", []) if p["paramName"] == "prompt"]
            if not prompt or prompt[0].get("language") != "sql":
                found.append(f"{wid}: omni widget needs a prompt param with language sql")
    return found


def symbols(client: TestClient, count: int = 3) -> list[str]:
    rows = client.post(
        "/connections/sample/query", json={"sql": f"SELECT symbol FROM tickers LIMIT {count}"}
    ).json()["rows"]
    return [row[0] for row in rows]


def add(client: TestClient, **body: Any) -> httpx.Response:
    return client.post("/saved-queries", json={"connection": "sample", **body})


PRICES = {
    "name": "prices",
    "description": "Daily closes for some tickers since a date.",
    "sql": "SELECT symbol, date, close, volume FROM daily_prices "
    "WHERE symbol IN (:tickers) AND date >= :since ORDER BY date DESC, symbol",
    "params": [
        {"name": "tickers", "type": "ticker", "multiple": True, "label": "Tickers"},
        {"name": "since", "type": "date", "default": "2024-12-01", "label": "Since"},
    ],
}


@pytest.fixture
def saved_client(client: TestClient) -> TestClient:
    tickers = symbols(client)
    body = json.loads(json.dumps(PRICES))
    body["params"][0]["default"] = ",".join(tickers[:2])
    body["params"][0]["options"] = [{"label": f"{t} Inc", "value": t} for t in tickers]
    assert add(client, **body).status_code == 201
    assert (
        add(
            client,
            name="top_closes",
            sql="SELECT symbol, max(close) AS high FROM daily_prices GROUP BY symbol "
            "ORDER BY high DESC LIMIT :n",
            params=[{"name": "n", "type": "number", "default": 5}],
            widget={"type": "chart", "chartType": "bar"},
        ).status_code
        == 201
    )
    return client


# parameters ------------------------------------------------------------------------------


def test_openbb_list_value_binds_as_several_values_in_every_paramstyle() -> None:
    sql = "SELECT * FROM t WHERE a IN (:xs) AND b = :b"
    named = prepare(
        sql, {"xs": ["A", "B"], "b": 1}, dialect="sqlite", paramstyle="named", read_only=True
    )
    assert named.sql == "SELECT * FROM t WHERE a IN (:xs_0, :xs_1) AND b = :b"
    assert named.params == {"xs_0": "A", "xs_1": "B", "b": 1}
    positional = prepare(
        sql, {"xs": ["A", "B"], "b": 1}, dialect="mysql", paramstyle="format", read_only=True
    )
    assert positional.sql == "SELECT * FROM t WHERE a IN (%s, %s) AND b = %s"
    assert positional.params == ["A", "B", 1]
    empty = prepare(
        "SELECT 1 WHERE 1 IN (:xs)",
        {"xs": [], "xs_0": 9},
        dialect="sqlite",
        paramstyle="named",
        read_only=True,
    )
    assert empty.params == {"_xs_0": None}  # a given name is never overwritten


def test_openbb_relative_dates_and_date_values() -> None:
    today = dt.date(2024, 3, 31)
    assert resolve_date("$currentDate", today) == today
    assert resolve_date("$currentDate-1w", today) == dt.date(2024, 3, 24)
    assert resolve_date("$currentDate-1M", today) == dt.date(2024, 2, 29)
    assert resolve_date("$currentDate+2d", today) == dt.date(2024, 4, 2)
    assert resolve_date("$currentDate-1y", today) == dt.date(2023, 3, 31)
    assert resolve_date("$yesterday", today) is None
    param = SavedParam(name="since", type="date")
    assert coerce_param(param, "2024-05-01") == "2024-05-01"
    assert coerce_param(param, "2024-05-01T00:00:00.000Z") == "2024-05-01"
    week_ago = (dt.date.today() - dt.timedelta(weeks=1)).isoformat()
    assert coerce_param(param, "$currentDate-1w") == week_ago
    multi = SavedParam(name="t", type="ticker", multiple=True)
    assert coerce_param(multi, "aapl, msft,") == ["AAPL", "MSFT"]


def test_openbb_saved_query_runs_with_multiselect_and_date_defaults(
    saved_client: TestClient,
) -> None:
    tickers = symbols(saved_client)
    rows = saved_client.get("/widgets/prices").json()
    assert isinstance(rows, list) and rows
    assert {row["symbol"] for row in rows} == set(tickers[:2])
    assert min(row["date"] for row in rows) >= "2024-12-01"
    assert set(rows[0]) == {"symbol", "date", "close", "volume"}
    one = saved_client.get("/widgets/prices", params={"tickers": tickers[2], "since": "2024-12-30"})
    assert {row["symbol"] for row in one.json()} == {tickers[2]}
    repeated = saved_client.get(
        f"/widgets/prices?tickers={tickers[0]}&tickers={tickers[2]}&since=2024-12-30"
    )
    assert {row["symbol"] for row in repeated.json()} == {tickers[0], tickers[2]}
    run = saved_client.post(
        "/saved-queries/prices/run", json={"params": {"tickers": [tickers[1]]}}
    ).json()
    assert {row[0] for row in run["rows"]} == {tickers[1]}


def test_openbb_relative_date_default_resolves_when_run(client: TestClient) -> None:
    body = {
        "name": "recent",
        "sql": "SELECT :since AS since",
        "params": [{"name": "since", "type": "date", "default": "$currentDate-1w"}],
    }
    assert add(client, **body).status_code == 201
    week_ago = (dt.date.today() - dt.timedelta(weeks=1)).isoformat()
    assert client.get("/widgets/recent").json() == [{"since": week_ago}]
    widget = client.get("/widgets.json").json()["saved_recent"]
    assert widget["params"][0]["value"] == "$currentDate-1w"  # Workspace resolves it too


def test_openbb_bad_values_are_400_naming_the_parameter(saved_client: TestClient) -> None:
    detail = assert_error(
        saved_client.get("/widgets/prices", params={"since": "last tuesday"}), 400, "bad_param"
    )
    assert "'since'" in detail and "last tuesday" not in detail
    detail = assert_error(
        saved_client.get("/widgets/top_closes", params={"n": "lots"}), 400, "bad_param"
    )
    assert "'n'" in detail and "lots" not in detail
    detail = assert_error(
        saved_client.get("/widgets/prices", params={"tickers": "ZZZZZ"}), 400, "bad_param"
    )
    assert "'tickers'" in detail and "options" in detail and "ZZZZZ" not in detail


def test_openbb_undeclared_parameter_and_bad_names_are_refused(client: TestClient) -> None:
    detail = assert_error(add(client, name="x", sql="SELECT :ghost"), 400, "bad_param")
    assert ":ghost" in detail
    assert_error(add(client, name="has space", sql="SELECT 1"), 422, "invalid_request")
    assert_error(add(client, name="a/b", sql="SELECT 1"), 422, "invalid_request")
    assert_error(client.get("/widgets/has space"), 422, "invalid_request")
    assert_error(client.get("/widgets/a/b"), 404, "not_found")
    assert_error(client.get("/widgets/nothing"), 404, "not_found")
    bad_default = add(
        client, name="d", sql="SELECT :d", params=[{"name": "d", "type": "number", "default": "x"}]
    )
    assert "'d'" in assert_error(bad_default, 400, "bad_param")
    assert client.get("/saved-queries").json() == []


# widgets.json and apps.json ---------------------------------------------------------------


def test_openbb_apps_and_widgets_with_no_saved_query(client: TestClient) -> None:
    assert client.get("/apps.json").json() == []
    widgets = client.get("/widgets.json").json()
    assert list(widgets) == ["sql_sample"]
    assert reference_problems(widgets) == []


def test_openbb_widgets_json_follows_the_reference(saved_client: TestClient) -> None:
    widgets = saved_client.get("/widgets.json").json()
    assert set(widgets) == {"saved_prices", "saved_top_closes", "sql_sample"}
    assert reference_problems(widgets) == []
    prices = widgets["saved_prices"]
    assert prices["type"] == "table" and prices["endpoint"] == "widgets/prices"
    assert prices["description"] == PRICES["description"]
    tickers_param, since_param = prices["params"]
    assert tickers_param["multiSelect"] is True and tickers_param["type"] == "ticker"
    assert tickers_param["value"].count(",") == 1
    assert all(set(o) == {"label", "value"} for o in tickers_param["options"])
    assert since_param == {
        "paramName": "since",
        "type": "date",
        "label": "Since",
        "value": "2024-12-01",
        "description": "The query's :since parameter.",
    }
    columns = {c["field"]: c for c in prices["data"]["table"]["columnsDefs"]}
    assert columns["date"]["chartDataType"] == "time" and columns["date"]["cellDataType"] == "date"
    assert columns["volume"]["formatterFn"] == "int"  # integers are not shown as floats
    assert columns["close"]["cellDataType"] == "number" and "formatterFn" not in columns["close"]
    assert columns["symbol"]["cellDataType"] == "text"
    chart = widgets["saved_top_closes"]
    assert chart["type"] == "table" and chart["defaultViz"] == "chart"
    assert chart["data"]["table"]["chartView"] == {"enabled": True, "chartType": "bar"}
    sql = widgets["sql_sample"]
    assert sql["type"] == "omni" and sql["endpoint"] == "omni/sample"
    assert sql["params"][0]["paramName"] == "prompt" and sql["params"][0]["language"] == "sql"
    apps = saved_client.get("/apps.json").json()
    assert len(apps) == 1 and apps[0]["name"]
    layout = apps[0]["tabs"]["saved-queries"]["layout"]
    assert {item["i"] for item in layout} == {"saved_prices", "saved_top_closes"}
    assert all(item["x"] + item["w"] <= 40 for item in layout)


def test_openbb_widget_ids_are_stable_across_restarts(
    saved_client: TestClient, runtime: Runtime
) -> None:
    first = saved_client.get("/widgets.json").json()
    # A restart: a second runtime opened afresh on the same data folder, read from disk.
    restarted = open_runtime(runtime.settings)
    try:
        with TestClient(
            create_app(restarted, close_runtime=False),
            base_url="http://localhost",
            headers={"X-API-KEY": restarted.api_key or ""},
        ) as fresh:
            second = fresh.get("/widgets.json").json()
    finally:
        restarted.close()
    assert second == first


def test_openbb_column_defs_by_type() -> None:
    kinds = [
        "integer",
        "decimal",
        "float",
        "date",
        "datetime",
        "boolean",
        "string",
        "json",
        "unknown",
    ]
    defs = column_defs([Column(name=k, type=k) for k in kinds])
    by = {d["field"]: d for d in defs}
    assert by["integer"]["formatterFn"] == "int"
    assert by["decimal"]["cellDataType"] == by["float"]["cellDataType"] == "number"
    assert by["datetime"]["chartDataType"] == "time"
    assert by["json"]["cellDataType"] == "object"
    assert by["unknown"] == {"field": "unknown", "headerName": "unknown"}
    dup = column_defs([Column("a", "integer"), Column("a", "integer")])
    assert [d["field"] for d in dup] == ["a", "a_2"]


def test_openbb_a_bad_saved_query_is_logged_and_left_out(
    saved_client: TestClient, runtime: Runtime, caplog: pytest.LogCaptureFixture
) -> None:
    response = add(
        saved_client,
        name="odd",
        sql="SELECT 1 AS one",
        widget={"type": "table", "gridData": {"w": "wide"}},
    )
    assert_error(response, 400, "bad_widget")  # refused when saved, naming the field
    assert "widget.gridData.w" in response.json()["detail"]
    runtime.store.add_saved(
        {
            "name": "odd",
            "connection": "sample",
            "sql": "SELECT 1 AS one",
            "widget": {"type": "table", "gridData": {"w": "wide"}},
        }
    )  # written past the checks, by hand or by an older version
    runtime.store.add_saved(
        {
            "name": "legacy",
            "connection": "sample",
            "sql": "SELECT 1",
            "params": [{"name": "x", "type": "colour"}],
        }
    )  # a row an older version might have written
    with caplog.at_level(logging.WARNING):
        widgets = saved_client.get("/widgets.json").json()
    assert set(widgets) == {"saved_prices", "saved_top_closes", "sql_sample"}
    assert reference_problems(widgets) == []
    logged = caplog.text
    assert "'odd'" in logged and "gridData" in logged and "'legacy'" in logged
    assert saved_client.get("/widgets/prices").status_code == 200


def test_openbb_broken_sql_answers_400_and_others_keep_working(
    saved_client: TestClient, tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "scratch.db"
    with sqlite3.connect(db) as con:
        con.execute("CREATE TABLE gone (x INTEGER)")
    created = saved_client.post(
        "/connections", json={"name": "scratch", "kind": "sqlite", "options": {"path": str(db)}}
    )
    assert created.status_code == 201
    assert (
        add(
            saved_client, name="fragile", connection="scratch", sql="SELECT x FROM gone"
        ).status_code
        == 201
    )
    ran = saved_client.post("/saved-queries/fragile/run", json={})
    assert ran.status_code == 200, ran.text
    with sqlite3.connect(db) as con:
        con.execute("DROP TABLE gone")
    detail = assert_error(saved_client.get("/widgets/fragile"), 400, "sql_error")
    assert "gone" in detail
    widgets = saved_client.get("/widgets.json").json()
    assert "saved_fragile" in widgets and reference_problems(widgets) == []
    assert saved_client.get("/widgets/prices").status_code == 200
    assert saved_client.get("/apps.json").status_code == 200


def test_openbb_metric_and_markdown_widgets(client: TestClient) -> None:
    for name, sql, kind in (
        ("kpi", "SELECT count(*) AS tickers, 1.5 AS ratio FROM tickers", "metric"),
        ("labelled", "SELECT 'Rows' AS label, 3 AS value, '+1' AS delta", "metric"),
        ("note", "SELECT symbol, name FROM tickers ORDER BY symbol LIMIT 2", "markdown"),
    ):
        saved = add(client, name=name, sql=sql, widget={"type": kind})
        assert saved.status_code == 201, saved.text
    kpi = client.get("/widgets/kpi").json()
    assert [m["label"] for m in kpi] == ["tickers", "ratio"] and kpi[0]["value"] == 50
    assert client.get("/widgets/labelled").json() == [{"label": "Rows", "value": 3, "delta": "+1"}]
    text = client.get("/widgets/note").json()
    assert isinstance(text, str) and text.startswith("| symbol | name |\n| --- | --- |\n|")
    widgets = client.get("/widgets.json").json()
    assert widgets["saved_kpi"]["type"] == "metric"
    assert widgets["saved_note"]["type"] == "markdown"
    assert reference_problems(widgets) == []


# table_ssrm ------------------------------------------------------------------------------


def test_openbb_ssrm_pages_and_sorts_in_the_database(client: TestClient) -> None:
    tickers = symbols(client, 2)
    body = {
        "name": "all_prices",
        "sql": "SELECT symbol, date, close FROM daily_prices WHERE symbol IN (:t);",
        "params": [{"name": "t", "type": "ticker", "multiple": True, "default": ",".join(tickers)}],
        "widget": {"type": "table_ssrm"},
    }
    assert add(client, **body).status_code == 201
    total = client.post(
        "/connections/sample/query",
        json={
            "sql": "SELECT count(*) FROM daily_prices WHERE symbol IN (:a, :b)",
            "params": {"a": tickers[0], "b": tickers[1]},
        },
    ).json()["rows"][0][0]
    sort = json.dumps([{"colId": "close", "sort": "desc"}, {"colId": "date", "sort": "asc"}])
    page = client.get(
        "/widgets/all_prices", params={"startRow": 10, "endRow": 15, "sortModel": sort}
    ).json()
    assert page["rowCount"] == total
    closes = [row["close"] for row in page["rowData"]]
    assert len(closes) == 5 and closes == sorted(closes, reverse=True)
    top = client.get(
        "/widgets/all_prices", params={"startRow": 0, "endRow": 11, "sortModel": sort}
    ).json()
    assert top["rowData"][10] == page["rowData"][0]
    history = client.get("/history", params={"limit": 10}).json()
    sent = [entry["sql"] for entry in history if "dc_page" in entry["sql"]]
    assert any('ORDER BY "close" DESC, "date" ASC LIMIT 5 OFFSET 10' in sql for sql in sent)
    assert any("SELECT COUNT(*) FROM (" in entry["sql"] for entry in history)
    evil = json.dumps([{"colId": 'close" DESC; DROP TABLE tickers; --', "sort": "asc"}])
    refused = client.get("/widgets/all_prices", params={"sortModel": evil})
    # Not a column of the result: refused as a bad parameter before the page's SQL is built.
    assert "column" in assert_error(refused, 400, "bad_param")
    assert symbols(client, 1)
    backwards = client.get("/widgets/all_prices", params={"startRow": 5, "endRow": 2})
    assert_error(backwards, 422, "invalid_request")
    assert reference_problems(client.get("/widgets.json").json()) == []


# omni ------------------------------------------------------------------------------------


def test_openbb_omni_runs_sql_and_shows_errors_as_text(client: TestClient) -> None:
    answer = client.post("/omni/sample", json={"prompt": "SELECT symbol FROM tickers LIMIT 2"})
    body = answer.json()
    assert answer.status_code == 200
    assert body["data_format"] == {"data_type": "object", "parse_as": "table"}
    assert len(body["content"]) == 2 and set(body["content"][0]) == {"symbol"}
    as_string = client.post(
        "/omni/sample",
        content=json.dumps(json.dumps({"prompt": "SELECT 7 AS n"})),
        headers={"Content-Type": "application/json"},
    )
    assert as_string.json()["content"] == [{"n": 7}]
    refused = client.post("/omni/sample", json={"prompt": "DELETE FROM tickers"}).json()
    assert refused["data_format"]["parse_as"] == "text"
    assert "read-only" in refused["content"]
    broken = client.post("/omni/sample", json={"prompt": "SELEC nonsense"}).json()
    assert broken["data_format"]["parse_as"] == "text" and "Error" in broken["content"]
    capped = client.post("/omni/sample", json={"prompt": "SELECT * FROM daily_prices"}).json()
    assert len(capped["content"]) == 1001  # the configured row cap, and a note saying so
    assert capped["content"][-1]["symbol"].startswith("Showing the first 1,000 rows")
    assert_error(client.post("/omni/nowhere", json={"prompt": "SELECT 1"}), 404, "not_found")


# CLI -------------------------------------------------------------------------------------


def test_openbb_cli_saved_and_openbb(
    tmp_path: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_SECRET_STORE", "file")
    monkeypatch.setenv("CONNECTOR_SAMPLE", "false")
    runner = CliRunner()

    def cli(*args: str) -> Any:
        return runner.invoke(
            main, ["--data-dir", str(tmp_path / "d"), *args], catch_exceptions=False
        )

    assert (
        cli("connections", "add", "sample", "--kind", "sqlite", "-o", f"path={sample_db}").exit_code
        == 0
    )
    tickers = ["ABF", "AXP"]
    added = cli(
        "saved",
        "add",
        "px",
        "-c",
        "sample",
        "--sql",
        "SELECT symbol, close FROM daily_prices WHERE symbol IN (:t) LIMIT 4",
        "-p",
        f"t:ticker*={','.join(tickers)}",
    )
    assert added.exit_code == 0, added.output
    assert "saved_px" in added.output
    listed = cli("saved", "list")
    assert "px" in listed.output and "t:ticker*" in listed.output
    ran = cli("saved", "run", "px", "-p", "t=ABF", "-f", "json")
    assert ran.exit_code == 0 and {r["symbol"] for r in json.loads(ran.output)["rows"]} == {"ABF"}
    bad = cli("saved", "add", "q", "-c", "sample", "--sql", "SELECT :nope")
    assert bad.exit_code == 3 and ":nope" in bad.output
    assert cli("saved", "run", "px", "-p", "t").exit_code == 2
    link = cli("openbb", "--port", "7811")
    assert link.exit_code == 0
    key = (tmp_path / "d" / "api_key").read_text().strip()
    assert f"X-API-KEY: {key}" in link.output
    assert "https://pro.openbb.co/app?modal=connect-backend&" in link.output
    assert "https://pro.openbb.co/app/data-connectors?" in link.output  # the fallback
    assert "url=http%3A%2F%2Flocalhost%3A7811" in link.output
    assert "url=https%3A" in cli("openbb", "--tls").output
    opened: list[str] = []
    monkeypatch.setattr("webbrowser.open", lambda url: opened.append(url) or True)
    assert cli("openbb", "--open", "--port", "7811").exit_code == 0
    assert opened == [
        "https://pro.openbb.co/app?modal=connect-backend&name=Data+Connector&url=http%3A%2F%2Flocalhost%3A7811"
    ]
    assert cli("saved", "remove", "px").exit_code == 0
    assert cli("saved", "remove", "px").exit_code == 4
