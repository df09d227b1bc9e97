"""``apps.json``: the widgets laid out as OpenBB Workspace apps (pure).

One app per connection, or per name a saved query's ``widget.app`` or a connection's
Workspace setting gives, holding its saved-query widgets (tab *Saved queries*: metrics
first, four to a row, then the rest two to a row), its table widgets (tab *Tables*, two
to a row) and the SQL widget of each of its connections alone in tab *SQL*. Params with
the same name in two or more of an app's widgets form a group (``Group 1``, ``Group 2``...),
so one symbol or sector drives the whole app; a group holds only widgets whose param has
the same type (the others keep their own value, and the log says so). ``prompts`` for
Workspace's AI are written from the widgets' own descriptions. Every layout fits the
40-column grid and nothing overlaps.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

log = logging.getLogger(__name__)

GRID_COLUMNS = 40
MAX_PROMPTS = 5
# Params a group never links: the SQL widget's prompt, and those Workspace sets itself.
UNGROUPED = frozenset({"prompt", "theme", "raw"})


@dataclass
class AppPlan:
    """Which widgets go in one app, by tab, and its connections."""

    name: str
    saved: list[str] = field(default_factory=list)
    tables: list[str] = field(default_factory=list)
    sql: list[str] = field(default_factory=list)
    connections: list[str] = field(default_factory=list)


def _pack(
    ids: Iterable[str], widgets: Mapping[str, Mapping[str, Any]], y: int = 0
) -> tuple[list[dict[str, Any]], int]:
    """Widgets placed left to right in rows (a shelf packing): no overlap, within the grid.
    Returns the layout and the first free row below it."""
    layout: list[dict[str, Any]] = []
    x = row_height = 0
    for widget_id in ids:
        grid = widgets[widget_id].get("gridData", {})
        w = max(1, min(int(grid.get("w", 20)), GRID_COLUMNS))
        h = max(1, int(grid.get("h", 9)))
        if x + w > GRID_COLUMNS:
            x, y, row_height = 0, y + row_height, 0
        layout.append({"i": widget_id, "x": x, "y": y, "w": w, "h": h})
        x, row_height = x + w, max(row_height, h)
    return layout, y + row_height


def _saved_layout(ids: list[str], widgets: Mapping[str, Mapping[str, Any]]) -> list[dict[str, Any]]:
    metrics = [i for i in ids if widgets[i].get("type") == "metric"]
    others = [i for i in ids if i not in metrics]
    top, y = _pack(metrics, widgets)
    rest, _ = _pack(others, widgets, y)
    return top + rest


def _sql_layout(ids: list[str]) -> list[dict[str, Any]]:
    return [
        {"i": widget_id, "x": 0, "y": 20 * n, "w": 40, "h": 20} for n, widget_id in enumerate(ids)
    ]


def _param_kind(param: Mapping[str, Any]) -> tuple[str, bool]:
    return str(param.get("type")), bool(param.get("multiSelect") or param.get("multiple"))


def param_groups(
    ids: Iterable[str], widgets: Mapping[str, Mapping[str, Any]]
) -> list[dict[str, Any]]:
    """A group for each param name that two or more of these widgets share with one type."""
    members: dict[str, list[tuple[str, Mapping[str, Any]]]] = {}
    for widget_id in ids:
        for param in widgets[widget_id].get("params", []):
            name = param.get("paramName")
            if isinstance(name, str) and name not in UNGROUPED:
                members.setdefault(name, []).append((widget_id, param))
    groups: list[dict[str, Any]] = []
    for name, found in members.items():
        kind = _param_kind(found[0][1])
        same = [(wid, p) for wid, p in found if _param_kind(p) == kind]
        if len(same) < len(found):
            log.warning(
                "apps.json: the param %r is not linked in %d widget(s) whose type differs",
                name,
                len(found) - len(same),
            )
        widget_ids = list(dict.fromkeys(wid for wid, _ in same))
        if len(widget_ids) < 2:
            continue
        groups.append(
            {
                "name": f"Group {len(groups) + 1}",
                "type": "endpointParam" if kind[0] == "endpoint" else "param",
                "paramName": name,
                "defaultValue": same[0][1].get("value", ""),
                "widgetIds": widget_ids,
            }
        )
    return groups


def _prompts(ids: Iterable[str], widgets: Mapping[str, Mapping[str, Any]]) -> list[str]:
    prompts: list[str] = []
    for widget_id in ids:
        widget = widgets[widget_id]
        description = str(widget.get("description", "")).rstrip(".")
        name = widget.get("name", widget_id)
        params = [p.get("label") or p.get("paramName") for p in widget.get("params", [])]
        if widget.get("type") == "omni":
            continue
        prompt = f"Summarise what the {name} widget shows ({description})"
        if params:
            prompt += f" and how it changes with {', '.join(str(p) for p in params[:3])}"
        prompts.append(prompt + ".")
        if len(prompts) == MAX_PROMPTS:
            break
    return prompts


def build_app(plan: AppPlan, widgets: Mapping[str, Mapping[str, Any]]) -> dict[str, Any]:
    """One app from its plan; every widget id in the plan must be in ``widgets``."""
    tabs: dict[str, dict[str, Any]] = {}
    if plan.saved:
        tabs["saved-queries"] = {
            "id": "saved-queries",
            "name": "Saved queries",
            "layout": _saved_layout(plan.saved, widgets),
        }
    if plan.tables:
        tabs["tables"] = {
            "id": "tables",
            "name": "Tables",
            "layout": _pack(plan.tables, widgets)[0],
        }
    if plan.sql:
        tabs["sql"] = {"id": "sql", "name": "SQL", "layout": _sql_layout(plan.sql)}
    linked = [*plan.saved, *plan.tables]
    where = ", ".join(plan.connections)
    return {
        "name": plan.name,
        "img": "",
        "img_dark": "",
        "img_light": "",
        "description": f"Saved queries, tables and SQL on {where}, from Data Connector.",
        "allowCustomization": True,
        "tabs": tabs,
        "groups": param_groups(linked, widgets),
        "prompts": _prompts(linked, widgets),
    }


def plan_apps(
    widgets: Mapping[str, Mapping[str, Any]],
    saved_apps: Mapping[str, tuple[str, str]],
    table_connections: Mapping[str, str],
    sql_connections: Mapping[str, str],
    app_names: Mapping[str, str],
    enabled: Iterable[str] = (),
) -> list[AppPlan]:
    """The apps: ``saved_apps`` maps a saved-query widget id to (connection, its own app
    name or ""), ``table_connections`` a table widget id to its connection,
    ``sql_connections`` a connection to its SQL widget id, ``app_names`` a connection to
    its setting's app name; ``enabled`` are connections whose tables are turned on (their
    app exists even when no table matches). Widgets missing from ``widgets`` (left out
    as invalid) are skipped."""
    plans: dict[str, AppPlan] = {}

    def plan(app: str, connection: str) -> AppPlan:
        found = plans.setdefault(app, AppPlan(name=app))
        if connection not in found.connections:
            found.connections.append(connection)
        return found

    for widget_id, (connection, own) in saved_apps.items():
        if widget_id in widgets:
            plan(own or app_names.get(connection, connection), connection).saved.append(widget_id)
    for widget_id, connection in table_connections.items():
        if widget_id in widgets:
            plan(app_names.get(connection, connection), connection).tables.append(widget_id)
    for connection in enabled:
        plan(app_names.get(connection, connection), connection)
    for app in plans.values():
        app.sql = [
            sql_connections[c]
            for c in app.connections
            if c in sql_connections and sql_connections[c] in widgets
        ]
    return list(plans.values())


def build_apps(
    widgets: Mapping[str, Mapping[str, Any]], plans: Iterable[AppPlan]
) -> list[dict[str, Any]]:
    return [build_app(plan, widgets) for plan in plans]
