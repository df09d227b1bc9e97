"""OpenBB Workspace endpoints: ``/widgets.json``, ``/apps.json``, ``/widgets/{saved_query}``
and ``/omni/{connection}``.

Every one needs the API key like any other endpoint. Widget GETs only run saved,
read-only queries. The SQL widget (``POST /omni/{connection}``) runs under the
connection's read-only guard and row cap, and shows an error to the user as text.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import orjson
from fastapi import APIRouter, Body, Path, Request

from connector.api.deps import ClientDep, ConnectorDep, JSONBytes
from connector.errors import BadParamError, ConnectorError, InvalidRequestError, NotFoundError
from connector.export import record_keys
from connector.models import NAME_PATTERN, Column, QueryRequest, QueryResult, SavedQuery
from connector.saved import Page, SavedQueries
from connector.service import Connector
from connector.widgets import build_apps, build_widgets

log = logging.getLogger(__name__)

router = APIRouter(tags=["openbb"])

WidgetName = Path(pattern=NAME_PATTERN, description="The saved query's name.")
ConnectionName = Path(pattern=NAME_PATTERN, description="The connection's name.")
PAGING_KEYS = frozenset({"startRow", "endRow", "sortModel"})
DEFAULT_PAGE_ROWS = 100

_columns_lock = threading.Lock()


def _records(result: QueryResult) -> list[dict[str, Any]]:
    keys = record_keys(result.columns)
    return [dict(zip(keys, row, strict=True)) for row in result.rows]


def _known_columns(request: Request, saved: SavedQueries, query: SavedQuery) -> list[Column] | None:
    """The result's columns, probed once per (connection, SQL, params) and kept in memory."""
    cache: dict[str, list[Column]] = request.app.state.__dict__.setdefault("widget_columns", {})
    key = orjson.dumps(query.model_dump(mode="json", include={"connection", "sql", "params"}))
    cache_key = key.decode()
    with _columns_lock:
        if cache_key in cache:
            return cache[cache_key]
    try:
        columns = saved.columns(query)
    except ConnectorError as error:
        log.warning("widget %s: no column definitions (%s)", query.name, error.detail)
        return None
    if all(column.type != "unknown" for column in columns):  # else try again next time
        with _columns_lock:
            cache[cache_key] = columns
    return columns


def _widgets(request: Request, connector: Connector) -> dict[str, dict[str, Any]]:
    saved = SavedQueries(connector)
    queries, _ = saved.list_valid()
    columns = {query.name: _known_columns(request, saved, query) for query in queries}
    return build_widgets(queries, columns, connector.list_connections())


@router.get("/widgets.json", response_class=JSONBytes)
def widgets_json(request: Request, connector: ConnectorDep) -> JSONBytes:
    return JSONBytes(_widgets(request, connector))


@router.get("/apps.json", response_class=JSONBytes)
def apps_json(request: Request, connector: ConnectorDep) -> JSONBytes:
    return JSONBytes(build_apps(_widgets(request, connector)))


def _values(request: Request) -> dict[str, Any]:
    """Query-string values; a repeated key gives a list (a multi-select sent that way)."""
    values: dict[str, Any] = {}
    for key, value in request.query_params.multi_items():
        if key in PAGING_KEYS:
            continue
        if key in values:
            current = values[key]
            values[key] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            values[key] = value
    return values


def _page(request: Request, max_rows: int) -> Page:
    query = request.query_params
    try:
        start = int(query.get("startRow", "0"))
        end = int(query.get("endRow", str(start + DEFAULT_PAGE_ROWS)))
        sort_model = orjson.loads(query.get("sortModel") or "[]")
        sort = [
            (str(item["colId"]), "desc" if item.get("sort") == "desc" else "asc")
            for item in sort_model
        ]
    except (ValueError, TypeError, KeyError) as exc:
        raise InvalidRequestError(
            'startRow and endRow must be whole numbers and sortModel a JSON list of {"colId", "sort"}.'
        ) from exc
    if start < 0 or end <= start:
        raise InvalidRequestError("endRow must be greater than startRow, and startRow at least 0.")
    return Page(start=start, end=min(end, start + max_rows), sort=sort)  # type: ignore[arg-type]


def _metric(result: QueryResult) -> list[dict[str, Any]]:
    rows = _records(result)
    if rows and {"label", "value"} <= rows[0].keys():
        return [
            {key: row[key] for key in ("label", "value", "delta") if key in row} for row in rows
        ]
    if not rows:
        return []
    return [{"label": key, "value": value} for key, value in rows[0].items()]


def _markdown_cell(value: Any) -> str:
    text = "" if value is None else orjson.dumps(value).decode().strip('"')
    return text.replace("|", "\\|").replace("\n", " ")


def _markdown(result: QueryResult) -> str:
    if len(result.columns) == 1 and len(result.rows) == 1 and isinstance(result.rows[0][0], str):
        return result.rows[0][0]
    header = [column.name for column in result.columns]
    lines = [
        "| " + " | ".join(_markdown_cell(name) for name in header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines.extend("| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in result.rows)
    return "\n".join(lines)


@router.get("/widgets/{name}", response_class=JSONBytes)
def widget_data(
    request: Request, connector: ConnectorDep, client: ClientDep, name: str = WidgetName
) -> JSONBytes:
    """A saved query's widget data, shaped for its widget type."""
    saved = SavedQueries(connector)
    try:
        query = saved.get(name)
    except NotFoundError:
        raise NotFoundError(f"No widget named {name!r}.") from None
    values = _values(request)
    kind = query.widget.type
    if kind == "table_ssrm":
        page = _page(request, connector.settings.max_row_limit)
        result, total = saved.run_page(query, values, page, client=client)
        return JSONBytes({"rowData": _records(result), "rowCount": total})
    result = saved.run_query(query, values, client=client)
    if kind == "metric":
        return JSONBytes(_metric(result))
    if kind == "markdown":
        return JSONBytes(_markdown(result))
    return JSONBytes(_records(result))


def _prompt(body: Any) -> str:
    if isinstance(body, str):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadParamError("The body must be JSON with a prompt.") from None
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        raise BadParamError('The body must be {"prompt": "<sql>"}.')
    prompt: str = body["prompt"]
    return prompt


def _omni_text(text: str) -> dict[str, Any]:
    return {"content": text, "data_format": {"data_type": "object", "parse_as": "text"}}


@router.post("/omni/{name}", response_class=JSONBytes)
def omni(
    connector: ConnectorDep,
    client: ClientDep,
    body: Any = Body(..., description='{"prompt": "<sql>"}, or that object as a JSON string.'),
    name: str = ConnectionName,
) -> JSONBytes:
    """Run the SQL in ``prompt``; the rows come back as an omni table, an error as text."""
    connector.get_connection(name)  # an unknown connection is a 404, not a message
    try:
        sql = _prompt(body).strip()
        if not sql:
            return JSONBytes(_omni_text("Type a SQL query to run it on this connection."))
        result = connector.run(name, QueryRequest(sql=sql), client)
    except ConnectorError as error:
        return JSONBytes(_omni_text(f"Error ({error.code}): {error.detail}"))
    return JSONBytes(
        {
            "content": _records(result),
            "data_format": {"data_type": "object", "parse_as": "table"},
        }
    )
