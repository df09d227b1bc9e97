"""OpenBB Workspace's own rules, run against a live server's ``/widgets.json`` and
``/apps.json`` with every widget type and every param type saved.

The rules are written here from OpenBB's widgets.json and apps.json references and from
what OpenBB's validator scripts check (``scripts/validate_widgets.py`` and
``validate_apps.py`` in OpenBB-finance/backends-for-openbb; their code is not copied).
Where those disagree with Workspace's frontend, which parses the file, the frontend
decides: ``omni`` is a widget type, and the server-side row model is ``ssrm_table``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest

from tests.conftest import LiveServer

WIDGET_TYPES = {
    "table", "chart", "ssrm_table", "markdown", "metric", "omni", "note", "multi_file_viewer",
    "live_grid", "newsfeed", "advanced-chart", "chart-highcharts", "youtube",
}  # fmt: skip
PARAM_TYPES = {"text", "number", "boolean", "date", "endpoint", "ticker", "tabs", "form"}
CELL_DATA_TYPES = {"text", "number", "boolean", "date", "dateString", "object"}
CHART_DATA_TYPES = {"category", "series", "time", "excluded"}
FORMATTER_FNS = {"int", "none", "percent", "normalized", "normalizedPercent", "dateToYear"}
RENDER_FNS = {"greenRed", "titleCase", "hoverCard", "cellOnClick", "columnColor", "showCellChange"}
DATE_VALUE = re.compile(r"^(\$currentDate([+-]\d+[hdwMy])?|\d{4}-\d{2}-\d{2})$")
CRON = re.compile(r"^\s*(\S+\s+){4,5}\S+\s*$")

SAVED: list[dict[str, Any]] = [
    {"name": "table_all_params", "sql": (
        "SELECT date, close, volume FROM daily_prices WHERE symbol = :symbol AND date >= :since "
        "AND close > :floor AND (:adjusted OR 1) AND symbol IN (:more) AND :note = :note"),
     "params": [
        {"name": "symbol", "type": "ticker", "default": "ABF"},
        {"name": "since", "type": "date", "default": "$currentDate-2y"},
        {"name": "floor", "type": "number", "default": "1.5"},
        {"name": "adjusted", "type": "boolean", "default": "false"},
        {"name": "more", "type": "ticker", "multiple": True, "default": "ABF,ACM"},
        {"name": "note", "type": "text", "default": "x",
         "options": [{"label": "Ex", "value": "x"}, "y"]},
     ],
     "widget": {"type": "table", "refetchInterval": 60000, "staleTime": 60000, "runButton": True,
                "columnsDefs": [{"field": "close", "renderFn": "greenRed", "pinned": "left"}]}},
    {"name": "line", "sql": "SELECT date, close FROM daily_prices WHERE symbol = 'ABF'",
     "widget": {"type": "chart", "chartType": "line", "refetchInterval": False}},
    {"name": "histo", "sql": "SELECT close FROM daily_prices WHERE symbol = 'ACM'",
     "widget": {"type": "chart", "chartType": "histogram", "refetchInterval": "0 * * * *"}},
    {"name": "kpi", "sql": "SELECT 'tickers' AS label, count(*) AS value FROM tickers",
     "widget": {"type": "metric", "gridData": {"w": 10, "h": 5}}},
    {"name": "text", "sql": "SELECT 'Hello **markdown**' AS md", "widget": {"type": "markdown"}},
    {"name": "paged", "sql": "SELECT * FROM daily_prices", "widget": {"type": "ssrm_table"}},
    {"name": "candles", "sql": (
        "SELECT date, open, high, low, close FROM daily_prices WHERE symbol = :symbol "
        "ORDER BY date DESC LIMIT 60"),
     "params": [{"name": "symbol", "type": "ticker", "default": "ABF"}],
     "widget": {"type": "plotly", "chart": {"kind": "candlestick", "x": "date"}}},
    {"name": "sectors", "sql": "SELECT name, symbol FROM tickers WHERE sector = :sector",
     "params": [{"name": "sector", "type": "text", "default": "Energy",
                 "options_sql": "SELECT DISTINCT sector FROM tickers"},
                {"name": "symbol", "type": "ticker", "default": "ABF"}],
     "widget": {"groupBy": {"symbol": "symbol"}}},
]  # fmt: skip


def widget_problems(widgets: Any) -> list[str]:
    assert isinstance(widgets, dict), "widgets.json must be an object keyed by widget id"
    found: list[str] = []
    for wid, w in widgets.items():
        for key in ("name", "description", "category", "type", "endpoint"):
            if not isinstance(w.get(key), str) or not w[key]:
                found.append(f"{wid}: {key} must be a non-empty string")
        if w.get("type") not in WIDGET_TYPES:
            found.append(f"{wid}: type {w.get('type')!r}")
        grid = w.get("gridData", {})
        if not isinstance(grid, dict) or not all(
            isinstance(v, int | float) and not isinstance(v, bool) for v in grid.values()
        ):
            found.append(f"{wid}: gridData must hold numbers")
        elif not (1 <= grid.get("w", 20) <= 40 and 1 <= grid.get("h", 9) <= 100):
            found.append(f"{wid}: gridData out of the grid")
        source = w.get("source")
        if source is not None and not (
            isinstance(source, list) and all(isinstance(s, str) for s in source)
        ):
            found.append(f"{wid}: source must be strings")
        refetch = w.get("refetchInterval")
        if (
            refetch is not None
            and refetch is not False
            and not (
                (isinstance(refetch, int) and not isinstance(refetch, bool) and refetch >= 1000)
                or (isinstance(refetch, str) and CRON.match(refetch))
            )
        ):
            found.append(f"{wid}: refetchInterval {refetch!r}")
        stale = w.get("staleTime")
        if stale is not None and not (isinstance(stale, int) and stale >= 1000):
            found.append(f"{wid}: staleTime {stale!r}")
        if "columns" in w or "columnsDefs" in w.get("data", {}):
            found.append(f"{wid}: column definitions belong in data.table.columnsDefs")
        for p in w.get("params", []):
            found.extend(_param_problems(wid, p))
        table = w.get("data", {}).get("table", {})
        for c in table.get("columnsDefs", []):
            found.extend(_column_problems(wid, c))
        tool = w.get("mcp_tool")
        if tool is not None and not (
            isinstance(tool, dict)
            and set(tool) == {"mcp_server", "tool_id"}
            and all(isinstance(v, str) and v for v in tool.values())
        ):
            found.append(f"{wid}: mcp_tool must be {{mcp_server, tool_id}}")
        names = {p.get("paramName") for p in w.get("params", [])}
        for p in w.get("params", []):
            for ref in (p.get("optionsParams") or {}).values():
                if isinstance(ref, str) and ref.startswith("$") and ref[1:] not in names:
                    found.append(f"{wid}: optionsParams names {ref}, not a param of the widget")
        if w.get("type") == "omni":
            prompt = [p for p in w.get("params", []) if p.get("paramName") == "prompt"]
            if not prompt:
                found.append(f"{wid}: an omni widget needs a prompt param")
    return found


def _param_problems(wid: str, p: dict[str, Any]) -> list[str]:
    found: list[str] = []
    name = p.get("paramName")
    missing = {"paramName", "type", "label", "value"} - set(p)
    if missing:
        found.append(f"{wid}: param {name} lacks {sorted(missing)}")
    kind = p.get("type")
    if kind not in PARAM_TYPES:
        return [*found, f"{wid}: param {name} type {kind!r}"]
    value = p.get("value")
    if kind == "number" and not (isinstance(value, int | float) and not isinstance(value, bool)):
        found.append(f"{wid}: param {name} value {value!r} is not a number")
    if kind == "boolean" and not isinstance(value, bool):
        found.append(f"{wid}: param {name} value {value!r} is not a boolean")
    if kind == "date" and not (isinstance(value, str) and DATE_VALUE.match(value)):
        found.append(f"{wid}: param {name} date {value!r}")
    if kind in ("text", "ticker") and not isinstance(value, str):
        found.append(f"{wid}: param {name} value {value!r} is not text")
    if kind == "endpoint" and "optionsEndpoint" not in p:
        found.append(f"{wid}: param {name} lacks optionsEndpoint")
    depends = p.get("optionsParams")
    if depends is not None and not (
        isinstance(depends, dict)
        and all(isinstance(v, str | int | float | bool) for v in depends.values())
    ):
        found.append(f"{wid}: param {name} optionsParams must map names to values or $param")
    options = p.get("options")
    if options is not None and not (
        isinstance(options, list) and all(isinstance(o, dict) and "value" in o for o in options)
    ):
        found.append(f"{wid}: param {name} options must be objects with a value")
    return found


def _column_problems(wid: str, c: dict[str, Any]) -> list[str]:
    if not isinstance(c.get("field"), str):
        return [f"{wid}: a column has no field"]
    found = []
    field = c["field"]
    if c.get("cellDataType", "text") not in CELL_DATA_TYPES:
        found.append(f"{wid}: column {field} cellDataType {c['cellDataType']!r}")
    if c.get("chartDataType", "series") not in CHART_DATA_TYPES:
        found.append(f"{wid}: column {field} chartDataType {c['chartDataType']!r}")
    if c.get("formatterFn", "none") not in FORMATTER_FNS:
        found.append(f"{wid}: column {field} formatterFn {c['formatterFn']!r}")
    render = c.get("renderFn")
    for fn in [render] if isinstance(render, str) else render or []:
        if fn not in RENDER_FNS:
            found.append(f"{wid}: column {field} renderFn {fn!r}")
    return found


def app_problems(
    apps: Any, widget_ids: set[str], widgets: dict[str, Any] | None = None
) -> list[str]:
    """apps.json's rules; with ``widgets`` also that each group's param is in each of its
    widgets with one type."""
    assert isinstance(apps, list), "apps.json must be an array"
    found: list[str] = []
    for index, app in enumerate(apps):
        where = f"app[{index}]"
        for key in ("name", "description"):
            if not isinstance(app.get(key), str):
                found.append(f"{where}: {key}")
        if not isinstance(app.get("allowCustomization"), bool):
            found.append(f"{where}: allowCustomization must be a boolean")
        if not isinstance(app.get("groups"), list):
            found.append(f"{where}: groups must be an array")
        prompts = app.get("prompts")
        if not (isinstance(prompts, list) and all(isinstance(p, str) for p in prompts)):
            found.append(f"{where}: prompts must be an array of strings")
        tabs = app.get("tabs")
        if not isinstance(tabs, dict) or not tabs:
            found.append(f"{where}: tabs must be a non-empty object")
            continue
        for tab_id, tab in tabs.items():
            if not isinstance(tab.get("layout"), list) or not tab.get("name"):
                found.append(f"{where}.{tab_id}: layout and name")
                continue
            placed: list[tuple[int, int, int, int]] = []
            for item in tab["layout"]:
                x, y, w, h = (item.get(k) for k in ("x", "y", "w", "h"))
                if item.get("i") not in widget_ids:
                    found.append(f"{where}.{tab_id}: unknown widget {item.get('i')!r}")
                if not all(isinstance(v, int) for v in (x, y, w, h)):
                    found.append(f"{where}.{tab_id}: {item.get('i')} coordinates")
                    continue
                if x < 0 or y < 0 or w <= 0 or h <= 0 or x + w > 40:
                    found.append(f"{where}.{tab_id}: {item['i']} is off the 40-column grid")
                if any(not (x + w <= ox or ox + ow <= x or y + h <= oy or oy + oh <= y)
                       for ox, oy, ow, oh in placed):  # fmt: skip
                    found.append(f"{where}.{tab_id}: {item['i']} overlaps another widget")
                placed.append((x, y, w, h))
        for group in app.get("groups", []):
            ids = group.get("widgetIds") if isinstance(group, dict) else None
            if not (isinstance(ids, list) and ids and set(ids) <= widget_ids):
                found.append(f"{where}: a group's widgetIds")
                continue
            if not re.match(r"^Group \d+$", str(group.get("name"))):
                found.append(f"{where}: group name {group.get('name')!r}")
            if group.get("type") not in ("param", "endpointParam") or "defaultValue" not in group:
                found.append(f"{where}: group {group.get('name')} type and defaultValue")
            if widgets is not None:
                kinds = set()
                for wid in ids:
                    named = [p for p in widgets[wid].get("params", [])
                             if p.get("paramName") == group.get("paramName")]  # fmt: skip
                    if not named:
                        found.append(f"{where}: {wid} has no param {group.get('paramName')!r}")
                    kinds.update(str(p.get("type")) for p in named)
                if len(kinds) > 1:
                    found.append(f"{where}: group {group.get('paramName')!r} mixes {kinds}")
    return found


# The sample's tables as widgets too, with two filter columns (dropdowns, linked).
TABLES = {"tables": True, "filters": ["symbol", "sector"]}


@pytest.fixture(scope="module")
def workspace(live_server: LiveServer) -> Iterator[LiveServer]:
    with live_server.client() as http:
        for body in SAVED:
            answer = http.post("/saved-queries", json={"connection": "sample", **body})
            assert answer.status_code == 201, answer.text
        assert http.put("/connections/sample/workspace", json=TABLES).status_code == 200
    yield live_server
    with live_server.client() as http:
        for body in SAVED:
            assert http.delete(f"/saved-queries/{body['name']}").status_code == 204
        assert http.delete("/connections/sample/workspace").status_code == 204


def test_workspace_rules_hold_for_every_widget_and_param_type(workspace: LiveServer) -> None:
    with workspace.client() as http:
        widgets = http.get("/widgets.json").json()
        apps = http.get("/apps.json").json()
    assert {f"saved_{body['name']}" for body in SAVED} <= set(widgets)  # none left out
    assert {"table_sample__main__tickers", "table_sample__main__daily_prices"} <= set(widgets)
    assert widget_problems(widgets) == []
    assert app_problems(apps, set(widgets), widgets) == []
    assert {w["type"] for w in widgets.values()} >= {
        "table",
        "markdown",
        "metric",
        "ssrm_table",
        "omni",
        "chart",
    }
    params = {p["paramName"]: p for p in widgets["saved_table_all_params"]["params"]}
    assert params["floor"]["value"] == 1.5 and params["adjusted"]["value"] is False
    assert params["more"]["multiSelect"] is True and params["more"]["value"] == "ABF,ACM"


def test_workspace_every_widget_endpoint_answers(workspace: LiveServer) -> None:
    with workspace.client() as http:
        widgets = http.get("/widgets.json").json()
        for wid, entry in widgets.items():
            if entry["type"] == "omni":
                answer = http.post(f"/{entry['endpoint']}", json={"prompt": "SELECT 1 AS one"})
            elif entry["type"] == "ssrm_table":
                answer = http.post(f"/{entry['endpoint']}", json={"startRow": 0, "endRow": 10})
                assert answer.json()["rowCount"] > 0, wid
            else:
                values = {p["paramName"]: p["value"] for p in entry.get("params", [])}
                answer = http.get(f"/{entry['endpoint']}", params=values)
            assert answer.status_code == 200, (wid, answer.text)
            for param in entry.get("params", []):
                if param["type"] == "endpoint":
                    options = http.get(f"/{param['optionsEndpoint']}")
                    assert options.status_code == 200, (wid, param["paramName"], options.text)
                    assert options.json() and all("value" in o for o in options.json())
