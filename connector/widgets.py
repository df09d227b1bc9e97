"""OpenBB Workspace's ``widgets.json`` from saved queries and connections (``apps.json`` is
``connector.apps``'s).

Pure functions: they take saved queries, the result columns known for each, and the
connections, and give back plain dicts; they run nothing. Widget ids are derived from
names alone (``saved_<name>``, ``sql_<connection>``), so they are the same after a
restart. Each entry is checked against the rules of OpenBB's widgets.json reference before
it goes in; one that fails is logged and left out, because a single bad entry makes
Workspace refuse the whole backend.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from connector.models import Column, ConnectionSpec, SavedParam, SavedQuery
from connector.widget_options import CHART_TYPES, WidgetOptionError, WidgetOptions, check_widget
from connector.wire import record_keys

log = logging.getLogger(__name__)

CATEGORY = "Data Connector"
# The MCP server's name (connector.mcp_server): widgets name the tool that gives the same
# data, so Workspace's AI can cite the widget; the server must be added under this name.
MCP_SERVER = "Data Connector"
WIDGET_TYPES = frozenset(
    {"table", "chart", "ssrm_table", "markdown", "metric", "omni", "note", "live_grid",
     "newsfeed", "advanced-chart", "multi_file_viewer", "chart-highcharts", "youtube"}
)  # fmt: skip
PARAM_TYPES = frozenset({"text", "number", "boolean", "date", "endpoint", "ticker", "tabs", "form"})
CELL_DATA_TYPES = frozenset({"text", "number", "boolean", "date", "dateString", "object"})
CHART_DATA_TYPES = frozenset({"category", "series", "time", "excluded"})
FORMATTER_FNS = frozenset(
    {"int", "none", "percent", "normalized", "normalizedPercent", "dateToYear"}
)
# What a saved query's widget options may put on its entry as they are.
PASSTHROUGH = (
    "name", "category", "subCategory", "refetchInterval", "staleTime", "runButton",
    "dataUpdateDisplay", "exportable", "imgUrl",
)  # fmt: skip

# Column type -> (cellDataType, chartDataType, formatterFn or None)
_COLUMN_DEFS: dict[str, tuple[str, str, str | None]] = {
    "integer": ("number", "series", "int"),
    "decimal": ("number", "series", None),
    "float": ("number", "series", None),
    "boolean": ("boolean", "category", None),
    "date": ("date", "time", None),
    "datetime": ("date", "time", None),
    "json": ("object", "excluded", None),
}


def saved_widget_id(name: str) -> str:
    return f"saved_{name}"


def sql_widget_id(connection: str) -> str:
    return f"sql_{connection}"


def column_defs(columns: Sequence[Column]) -> list[dict[str, Any]]:
    """AG Grid column definitions from result column types.

    Dates are ``chartDataType: "time"``; integers use the ``int`` formatter so they are
    not shown as floats; other numbers keep Workspace's number formatting. A column whose
    type is unknown (no rows to infer it from) is left for Workspace to infer.
    """
    defs: list[dict[str, Any]] = []
    for key, column in zip(record_keys(columns), columns, strict=True):
        entry: dict[str, Any] = {"field": key, "headerName": column.name}
        if column.type != "unknown":
            cell, chart, formatter = _COLUMN_DEFS.get(column.type, ("text", "category", None))
            entry.update(cellDataType=cell, chartDataType=chart)
            if formatter:
                entry["formatterFn"] = formatter
        defs.append(entry)
    return defs


def _param_value(param: SavedParam) -> Any:
    value = param.default
    if isinstance(value, list | tuple):
        return ",".join(str(item) for item in value)
    if value is None and param.type in ("text", "ticker"):
        return ""
    return value


def widget_param(param: SavedParam, query: str = "", depends: Sequence[str] = ()) -> dict[str, Any]:
    """A saved query's param as Workspace shows it. Options from a query make an
    ``endpoint`` dropdown (``depends``: the params its options query uses, sent as
    ``optionsParams``); a multi-value param is a ``multiSelect`` when it has options or
    is a ticker, and ``multiple`` (several free-text values) otherwise."""
    entry: dict[str, Any] = {
        "paramName": param.name,
        "type": "endpoint" if param.options_sql else param.type,
        "label": param.label or param.name.replace("_", " ").capitalize(),
        "value": _param_value(param),
        "description": param.description or f"The query's :{param.name} parameter.",
    }
    if param.options_sql:
        entry["optionsEndpoint"] = f"widgets/{query}/options/{param.name}"
        if depends:
            entry["optionsParams"] = {name: f"${name}" for name in depends}
        if entry["value"] is None:
            entry["value"] = ""
    if param.multiple:
        if param.options or param.options_sql or param.type == "ticker":
            entry["multiSelect"] = True
        else:
            entry["multiple"] = True
    if param.options:
        entry["options"] = [
            {"label": str(option.get("label", value)), "value": value}
            if isinstance(option, dict)
            else {"label": str(value), "value": value}
            for option, value in zip(param.options, param.option_values(), strict=True)
        ]
    return entry


def _merged_column_defs(
    generated: list[dict[str, Any]], options: WidgetOptions
) -> list[dict[str, Any]]:
    """The generated definitions with the saved query's overrides merged in by ``field``;
    an override for a field the result lacks is added as it is."""
    overrides = {
        item.field: item.model_dump(exclude_none=True) for item in options.columnsDefs or []
    }
    for column, param in (options.groupBy or {}).items():
        overrides.setdefault(column, {"field": column}).update(
            renderFn="cellOnClick",
            renderFnParams={
                "actionType": "groupBy",
                "groupByParamName": param,
                "groupBy": {"paramName": param},
            },
        )
    merged = [{**column, **overrides.pop(column["field"], {})} for column in generated]
    return merged + list(overrides.values())


def _described(query: SavedQuery, columns: Sequence[Column] | None) -> str:
    """What a saved query without a description shows: its result's columns and params."""
    text = f"The saved query {query.name} on the connection {query.connection}"
    if columns:
        shown = ", ".join(f"{c.name} ({c.type})" for c in columns[:12])
        text += f", returning {shown}" + (" and more" if len(columns) > 12 else "")
    if query.params:
        text += f", filtered by {', '.join(p.label or p.name for p in query.params)}"
    return text + "."


def saved_widget(
    query: SavedQuery,
    columns: Sequence[Column] | None,
    depends: Mapping[str, Sequence[str]] | None = None,
) -> dict[str, Any]:
    """The widgets.json entry of one saved query; ``depends`` maps a param with an options
    query to the params that query uses."""
    options = check_widget(query.widget.model_dump())
    kind = query.widget.type
    if options.columns:
        columns = [Column(name=name, type=kind) for name, kind in options.columns.items()]
    entry: dict[str, Any] = {
        "name": query.name.replace("_", " "),
        "description": query.description or _described(query, columns),
        "category": CATEGORY,
        "subCategory": query.connection,
        # "chart" is a table opened as Workspace's own chart; "plotly" a figure the
        # connector draws (connector.charts), which Workspace's chart type shows.
        "type": {"chart": "table", "plotly": "chart"}.get(kind, kind),
        "endpoint": f"widgets/{query.name}",
        "params": [
            widget_param(param, query.name, (depends or {}).get(param.name, ()))
            for param in query.params
        ],
        "gridData": {"w": 20, "h": 5 if kind == "metric" else 9},
        "source": [CATEGORY],
        "mcp_tool": {"mcp_server": MCP_SERVER, "tool_id": "run_saved_query"},
    }
    if options.gridData is not None:
        entry["gridData"] = options.gridData.model_dump()
    if kind in ("table", "chart", "ssrm_table"):
        table: dict[str, Any] = {"showAll": True}
        defs = _merged_column_defs(column_defs(columns) if columns else [], options)
        if defs:
            table["columnsDefs"] = defs
        if kind == "chart":
            entry["defaultViz"] = "chart"
            table["chartView"] = {"enabled": True, "chartType": options.chartType or "line"}
        entry["data"] = {"table": table}
    for key in PASSTHROUGH:
        value = getattr(options, key)
        if value is not None:
            entry[key] = value
    return entry


def sql_widget(spec: ConnectionSpec) -> dict[str, Any]:
    """The omni SQL widget of one connection."""
    mode = "read-only" if spec.read_only else "read-write"
    return {
        "name": f"SQL on {spec.name}",
        "description": f"Run SQL on the {spec.kind} connection {spec.name} ({mode}).",
        "category": CATEGORY,
        "subCategory": spec.name,
        "type": "omni",
        "endpoint": f"omni/{spec.name}",
        "params": [
            {
                "paramName": "prompt",
                "type": "text",
                "label": "SQL",
                "value": "",
                "language": "sql",
                "description": "The SQL to run.",
                "show": False,
            }
        ],
        "gridData": {"w": 20, "h": 12},
        "source": [CATEGORY],
        "mcp_tool": {"mcp_server": MCP_SERVER, "tool_id": "run_query"},
    }


def problems(entry: Any) -> list[str]:
    """What is wrong with one widgets.json entry, by the reference's rules (empty if nothing)."""
    if not isinstance(entry, dict):
        return ["the entry is not an object"]
    found: list[str] = []
    for key in ("name", "description", "category", "type", "endpoint"):
        if not isinstance(entry.get(key), str) or not entry[key]:
            found.append(f"{key} must be a non-empty string")
    if entry.get("type") not in WIDGET_TYPES:
        found.append(f"type {entry.get('type')!r} is not a widget type")
    grid = entry.get("gridData", {})
    if not isinstance(grid, dict) or not all(
        isinstance(value, int | float) and not isinstance(value, bool) for value in grid.values()
    ):
        found.append("gridData must be an object of numbers")
    elif not (1 <= grid.get("w", 1) <= 40 and 1 <= grid.get("h", 1) <= 100):
        found.append("gridData.w must be 1-40 and gridData.h 1-100")
    refetch = entry.get("refetchInterval")
    if refetch is not None and refetch is not False and not isinstance(refetch, int | str):
        found.append("refetchInterval must be a number, false or a cron string")
    found.extend(_param_problems(entry.get("params", [])))
    if entry.get("type") in ("table", "ssrm_table"):
        found.extend(_table_problems(entry.get("data", {})))
    return found


def _param_problems(params: Any) -> list[str]:
    if not isinstance(params, list):
        return ["params must be an array"]
    found: list[str] = []
    for param in params:
        if not isinstance(param, dict):
            found.append("a param is not an object")
            continue
        name = param.get("paramName")
        for key in ("paramName", "type", "label", "value"):
            if key not in param:
                found.append(f"param {name!r} has no {key}")
        if param.get("type") not in PARAM_TYPES:
            found.append(f"param {name!r} has type {param.get('type')!r}")
        options = param.get("options")
        if options is not None and (
            not isinstance(options, list)
            or not all(isinstance(item, dict) and "value" in item for item in options)
        ):
            found.append(f"param {name!r} options must be objects with a value")
    return found


def _table_problems(data: Any) -> list[str]:
    if not isinstance(data, dict) or not isinstance(data.get("table", {}), dict):
        return ["data.table must be an object"]
    table = data.get("table", {})
    chart_view = table.get("chartView")
    if chart_view is not None and (
        not isinstance(chart_view, dict) or chart_view.get("chartType") not in CHART_TYPES
    ):
        return [f"data.table.chartView.chartType must be one of {sorted(CHART_TYPES)}"]
    found: list[str] = []
    for column in table.get("columnsDefs", []):
        if not isinstance(column, dict) or not isinstance(column.get("field"), str):
            found.append("a column has no field")
            continue
        if column.get("cellDataType", "text") not in CELL_DATA_TYPES:
            found.append(f"column {column['field']!r} has cellDataType {column['cellDataType']!r}")
        if column.get("chartDataType", "series") not in CHART_DATA_TYPES:
            found.append(f"column {column['field']!r} has an unknown chartDataType")
        if column.get("formatterFn", "none") not in FORMATTER_FNS:
            found.append(f"column {column['field']!r} has an unknown formatterFn")
    return found


def build_widgets(
    saved: Iterable[SavedQuery],
    columns: Mapping[str, Sequence[Column] | None],
    connections: Iterable[ConnectionSpec],
    tables: Mapping[str, dict[str, Any]] | None = None,
    depends: Mapping[str, Mapping[str, Sequence[str]]] | None = None,
) -> dict[str, dict[str, Any]]:
    """widgets.json: one entry per saved query, the table widgets given, one SQL widget per
    connection, all valid."""
    widgets: dict[str, dict[str, Any]] = {}
    candidates: list[tuple[str, str, Any]] = []
    for query in saved:
        try:
            entry: Any = saved_widget(
                query, columns.get(query.name), (depends or {}).get(query.name)
            )
        except WidgetOptionError as error:
            entry = error.detail
        except (TypeError, ValueError, AttributeError) as exc:
            entry = f"could not be built ({type(exc).__name__})"
        candidates.append((saved_widget_id(query.name), f"saved query {query.name!r}", entry))
    for widget_id, table_entry in (tables or {}).items():
        candidates.append((widget_id, f"table widget {widget_id!r}", table_entry))
    for spec in connections:
        candidates.append((sql_widget_id(spec.name), f"connection {spec.name!r}", sql_widget(spec)))
    for widget_id, what, entry in candidates:
        found = [entry] if isinstance(entry, str) else problems(entry)
        if found:
            log.warning("widgets.json leaves out %s: %s", what, "; ".join(found))
            continue
        widgets[widget_id] = entry
    return widgets
