"""widgets.json entries for a connection's tables and views (pure).

Each chosen table becomes a widget whose column definitions come from the catalog's types
and whose description comes from the database's comments where it has them, else from
the schema itself (its kind, name and columns). A table with more rows than the setting's
threshold is an ``ssrm_table`` (paged, sorted and filtered in the database), a smaller
one a ``table``. Columns the setting names as filters become ``endpoint`` params: a
dropdown of the column's own values, several may be chosen, none means all rows; the
column's cells set that param for the whole app when clicked (``cellOnClick`` /
``groupBy``).

Ids and endpoints come from names alone: ``table_<connection>__<key>`` and
``tables/<connection>/<key>``, where the key is ``<schema>__<table>`` made safe for a URL
(with a short hash of the real names when that changed anything), so they survive a restart.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from connector.models import Column, ColumnInfo, Comments, ConnectionSpec, TableInfo
from connector.native_types import contract_type
from connector.widgets import CATEGORY, MCP_SERVER, column_defs

_SAFE = re.compile(r"^[A-Za-z0-9]+(?:_[A-Za-z0-9]+)*$")
_UNSAFE_RUN = re.compile(r"[^A-Za-z0-9]+")
# Names a filter param must not take: the AG Grid request's keys, and those Workspace adds.
RESERVED_PARAMS = frozenset(
    {"startRow", "endRow", "sortModel", "filterModel", "groupKeys", "rowGroupCols",
     "valueCols", "pivotCols", "pivotMode", "theme", "raw", "prompt"}
)  # fmt: skip
# Column types that can be a dropdown of values (dates and times are filtered in the grid).
FILTERABLE = frozenset({"string", "integer", "decimal", "float", "boolean"})
DESCRIBED_COLUMNS = 12


@dataclass(frozen=True)
class FilterParam:
    """A filter param of a table widget: its name, the column it filters and its type."""

    name: str
    column: str
    type: str


def _slug(name: str) -> str:
    return _UNSAFE_RUN.sub("_", name).strip("_")[:60] or "x"


def table_key(schema: str, table: str) -> str:
    """A URL- and id-safe key for ``schema.table``; unique for distinct real names."""
    key = f"{_slug(schema)}__{_slug(table)}"
    if not (_SAFE.match(schema) and _SAFE.match(table)) or len(key) > 120:
        digest = hashlib.sha1(f"{schema}\x00{table}".encode()).hexdigest()[:8]
        key = f"{key}_{digest}"
    return key


def table_widget_id(connection: str, key: str) -> str:
    return f"table_{connection}__{key}"


def table_columns(table: TableInfo) -> list[Column]:
    return [Column(name=c.name, type=contract_type(c.type)) for c in table.columns]


def filter_params(table: TableInfo, columns: Sequence[str]) -> list[FilterParam]:
    """Param names for the filter columns: the column's name in lower case, made safe
    (kept as it is if lower case would make two the same)."""
    types = {c.name: contract_type(c.type) for c in table.columns}
    wanted = [c for c in columns if types.get(c) in FILTERABLE]
    lowered = [_UNSAFE_RUN.sub("_", c).strip("_").lower() or "column" for c in wanted]
    found: list[FilterParam] = []
    for column, name in zip(wanted, lowered, strict=True):
        if lowered.count(name) > 1:
            name = _UNSAFE_RUN.sub("_", column).strip("_") or "column"
        if name[0].isdigit():
            name = f"c_{name}"
        if name in RESERVED_PARAMS:
            name = f"{name}_value"
        found.append(FilterParam(name=name, column=column, type=types[column]))
    return found


def _describe_columns(columns: Sequence[ColumnInfo]) -> str:
    shown = ", ".join(f"{c.name} ({c.type.lower()})" for c in columns[:DESCRIBED_COLUMNS])
    more = len(columns) - DESCRIBED_COLUMNS
    return shown + (f" and {more} more" if more > 0 else "")


def table_description(
    spec: ConnectionSpec, schema: str, table: TableInfo, comments: Comments
) -> str:
    """The database's comment when there is one, else what the schema says."""
    where = f"{schema}.{table.name} on the {spec.kind} connection {spec.name}"
    if comments.table:
        return f"{comments.table.strip()} (the {table.kind} {where})"
    if not table.columns:
        return f"The {table.kind} {where}."
    return f"The {table.kind} {where}, with columns {_describe_columns(table.columns)}."


def _column_tooltip(column: ColumnInfo, comments: Comments) -> str:
    comment = comments.columns.get(column.name)
    kind = column.type.lower() + ("" if column.nullable else ", not null")
    return f"{comment.strip()} ({kind})" if comment else kind


def table_widget(
    spec: ConnectionSpec,
    schema: str,
    table: TableInfo,
    *,
    paged: bool,
    filters: Sequence[FilterParam] = (),
    comments: Comments | None = None,
    several_schemas: bool = False,
) -> dict[str, Any]:
    """The widgets.json entry of one table or view."""
    comments = comments or Comments()
    key = table_key(schema, table.name)
    endpoint = f"tables/{spec.name}/{key}"
    defs = column_defs(table_columns(table))
    by_column = {f.column: f for f in filters}
    for definition, column in zip(defs, table.columns, strict=True):
        definition["headerTooltip"] = _column_tooltip(column, comments)
        linked = by_column.get(column.name)
        if linked is not None:
            definition["renderFn"] = "cellOnClick"
            definition["renderFnParams"] = {
                "actionType": "groupBy",
                "groupByParamName": linked.name,
                "groupBy": {"paramName": linked.name},
            }
    params = [
        {
            "paramName": f.name,
            "type": "endpoint",
            "label": f.column,
            "value": "",
            "multiSelect": True,
            "optionsEndpoint": f"{endpoint}/options/{f.name}",
            "description": f"Show only the rows whose {f.column} is one of the values chosen "
            "(none chosen: every row).",
        }
        for f in filters
    ]
    entry: dict[str, Any] = {
        "name": f"{schema}.{table.name}" if several_schemas else table.name,
        "description": table_description(spec, schema, table, comments),
        "category": CATEGORY,
        "subCategory": spec.name,
        "type": "ssrm_table" if paged else "table",
        "endpoint": endpoint,
        "params": params,
        "gridData": {"w": 20, "h": 12},
        "data": {"table": {"showAll": True, "columnsDefs": defs}},
        "source": [CATEGORY],
        "mcp_tool": {"mcp_server": MCP_SERVER, "tool_id": "read_table"},
    }
    return entry
