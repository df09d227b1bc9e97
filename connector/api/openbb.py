"""OpenBB Workspace endpoints: ``/widgets.json``, ``/apps.json``, ``/widgets/{saved_query}``
and ``/omni/{connection}``; the work is ``connector.workspace``'s.

Every one needs the API key like any other endpoint. Widget GETs only run saved,
read-only queries. The SQL widget (``POST /omni/{connection}``) runs under the
connection's read-only guard and row cap, and shows an error to the user as text.
"""

from __future__ import annotations

from functools import partial
from typing import Any

import orjson
from fastapi import APIRouter, Body, Path, Request

from connector.api import openapi
from connector.api.deps import ClientDep, ConnectorDep, JSONBytes, WorkspaceDep
from connector.api.work import pools_of, run_user
from connector.errors import InvalidRequestError
from connector.models import NAME_PATTERN
from connector.ssrm import read_page

router = APIRouter(tags=["openbb"], responses=openapi.KEYED)

WidgetName = Path(pattern=NAME_PATTERN, description="The saved query's name.")
ConnectionName = Path(pattern=NAME_PATTERN, description="The connection's name.")
# The keys of an AG Grid request; the others are the widget's parameters.
GRID_KEYS = frozenset(
    {"startRow", "endRow", "sortModel", "filterModel", "groupKeys", "rowGroupCols",
     "valueCols", "pivotCols", "pivotMode"}
)  # fmt: skip


@router.get("/widgets.json", response_class=JSONBytes, response_model=dict[str, dict[str, Any]])
async def widgets_json(http: Request, workspace: WorkspaceDep) -> JSONBytes:
    # Probing saved queries' columns runs them: user work.
    return JSONBytes(await run_user(pools_of(http), http.receive, workspace.widgets))


@router.get("/apps.json", response_class=JSONBytes, response_model=list[dict[str, Any]])
async def apps_json(http: Request, workspace: WorkspaceDep) -> JSONBytes:
    return JSONBytes(await run_user(pools_of(http), http.receive, workspace.apps))


def param_values(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    """Parameter values; a repeated key gives a list (a multi-select sent that way)."""
    values: dict[str, Any] = {}
    for key, value in pairs:
        if key in GRID_KEYS:
            continue
        if key in values:
            current = values[key]
            values[key] = [*current, value] if isinstance(current, list) else [current, value]
        else:
            values[key] = value
    return values


def grid_from_query(request: Request) -> dict[str, Any]:
    """An AG Grid request sent as a query string: models as JSON text."""
    query = request.query_params
    grid: dict[str, Any] = {key: query[key] for key in ("startRow", "endRow") if key in query}
    for key in ("sortModel", "filterModel"):
        if query.get(key):
            try:
                grid[key] = orjson.loads(query[key])
            except orjson.JSONDecodeError:
                raise InvalidRequestError(f"{key} must be JSON.") from None
    return grid


@router.get(
    "/widgets/{name}",
    response_class=JSONBytes,
    response_model=list[dict[str, Any]] | dict[str, Any] | str,
    responses=openapi.RUNNING,
)
async def widget_data(
    request: Request,
    workspace: WorkspaceDep,
    connector: ConnectorDep,
    client: ClientDep,
    name: str = WidgetName,
) -> JSONBytes:
    """A saved query's widget data, shaped for its widget type."""
    page = None
    if workspace.is_paged(name):
        page = read_page(grid_from_query(request), connector.settings.max_row_limit)
    values = param_values(request.query_params.multi_items())
    work = partial(workspace.widget_data, name, values, page, client)
    return JSONBytes(await run_user(pools_of(request), request.receive, work))


@router.get(
    "/widgets/{name}/options/{param}",
    response_class=JSONBytes,
    response_model=list[dict[str, Any]],
    responses=openapi.RUNNING,
)
async def param_options(
    request: Request,
    workspace: WorkspaceDep,
    name: str = WidgetName,
    param: str = Path(pattern=r"^[A-Za-z_]\w{0,63}$", description="The param's name."),
) -> JSONBytes:
    """A param's dropdown, ``[{"label", "value", "extraInfo"?}]``, from its options query;
    the query string carries the values of the params it depends on."""
    values = param_values(request.query_params.multi_items())
    work = partial(workspace.param_options, name, param, values)
    return JSONBytes(await run_user(pools_of(request), request.receive, work))


@router.post(
    "/widgets/{name}",
    response_class=JSONBytes,
    response_model=dict[str, Any],
    responses={**openapi.BODY, **openapi.RUNNING},
)
async def widget_rows(
    http: Request,
    workspace: WorkspaceDep,
    connector: ConnectorDep,
    client: ClientDep,
    body: dict[str, Any] = Body(
        ...,
        description="An AG Grid server-side row model request (startRow, endRow, sortModel, "
        "filterModel) and the widget's parameters.",
    ),
    name: str = WidgetName,
) -> JSONBytes:
    """An ``ssrm_table`` widget's page, as Workspace asks for it; other widgets' data."""
    page = read_page(body, connector.settings.max_row_limit) if workspace.is_paged(name) else None
    work = partial(workspace.widget_data, name, param_values(list(body.items())), page, client)
    return JSONBytes(await run_user(pools_of(http), http.receive, work))


@router.post(
    "/omni/{name}",
    response_class=JSONBytes,
    response_model=openapi.OmniBody,
    responses={**openapi.BODY, **openapi.errors(404)},
)
async def omni(
    http: Request,
    workspace: WorkspaceDep,
    client: ClientDep,
    body: Any = Body(..., description='{"prompt": "<sql>"}, or that object as a JSON string.'),
    name: str = ConnectionName,
) -> JSONBytes:
    """Run the SQL in ``prompt``; the rows come back as an omni table, an error as text."""
    work = partial(workspace.omni, name, body, client)
    return JSONBytes(await run_user(pools_of(http), http.receive, work))
