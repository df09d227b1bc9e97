"""OpenBB Workspace endpoints: ``/widgets.json``, ``/apps.json``, ``/widgets/{saved_query}``
and ``/omni/{connection}``; the work is ``connector.workspace``'s.

Every one needs the API key like any other endpoint. Widget GETs only run saved,
read-only queries. The SQL widget (``POST /omni/{connection}``) runs under the
connection's read-only guard and row cap, and shows an error to the user as text.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Body, Path, Request

from connector.api.deps import ClientDep, ConnectorDep, JSONBytes, WorkspaceDep
from connector.errors import InvalidRequestError
from connector.models import NAME_PATTERN
from connector.saved import Page

router = APIRouter(tags=["openbb"])

WidgetName = Path(pattern=NAME_PATTERN, description="The saved query's name.")
ConnectionName = Path(pattern=NAME_PATTERN, description="The connection's name.")
PAGING_KEYS = frozenset({"startRow", "endRow", "sortModel"})
DEFAULT_PAGE_ROWS = 100


@router.get("/widgets.json", response_class=JSONBytes)
def widgets_json(workspace: WorkspaceDep) -> JSONBytes:
    return JSONBytes(workspace.widgets())


@router.get("/apps.json", response_class=JSONBytes)
def apps_json(workspace: WorkspaceDep) -> JSONBytes:
    return JSONBytes(workspace.apps())


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


@router.get("/widgets/{name}", response_class=JSONBytes)
def widget_data(
    request: Request,
    workspace: WorkspaceDep,
    connector: ConnectorDep,
    client: ClientDep,
    name: str = WidgetName,
) -> JSONBytes:
    """A saved query's widget data, shaped for its widget type."""
    page = _page(request, connector.settings.max_row_limit) if workspace.is_paged(name) else None
    return JSONBytes(workspace.widget_data(name, _values(request), page, client))


@router.post("/omni/{name}", response_class=JSONBytes)
def omni(
    workspace: WorkspaceDep,
    client: ClientDep,
    body: Any = Body(..., description='{"prompt": "<sql>"}, or that object as a JSON string.'),
    name: str = ConnectionName,
) -> JSONBytes:
    """Run the SQL in ``prompt``; the rows come back as an omni table, an error as text."""
    return JSONBytes(workspace.omni(name, body, client))
