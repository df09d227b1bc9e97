"""Tables as OpenBB Workspace widgets: a connection's setting
(``GET|PUT|DELETE /connections/{name}/workspace``), a table widget's data
(``GET|POST /tables/{connection}/{key}``, a page when the body or query string carries
``startRow``/``endRow``) and its filter dropdowns
(``GET /tables/{connection}/{key}/options/{param}``). The work is ``connector.tables``'s.
"""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Body, Path, Request

from connector.api import openapi
from connector.api.deps import ClientDep, ConnectorDep, JSONBytes, WorkspaceDep
from connector.api.openbb import grid_from_query, param_values
from connector.api.work import pools_of, run_user
from connector.models import NAME_PATTERN
from connector.ssrm import read_page
from connector.table_settings import WorkspaceSettings

router = APIRouter(tags=["openbb"], responses={**openapi.KEYED, **openapi.RUNNING})

ConnectionName = Path(pattern=NAME_PATTERN, description="The connection's name.")
TableKey = Path(pattern=r"^[A-Za-z0-9_]{1,200}$", description="The table widget's key.")
ParamName = Path(pattern=r"^[A-Za-z0-9_]{1,100}$", description="The filter param's name.")
PAGE_KEYS = ("startRow", "endRow")


@router.get("/connections/{name}/workspace", response_class=JSONBytes)
def get_workspace_settings(workspace: WorkspaceDep, name: str = ConnectionName) -> JSONBytes:
    """The setting, the table widgets it picks now and any warnings."""
    tables = workspace.tables
    spec = tables.connector.get_connection(name)
    return JSONBytes(tables.preview(spec, tables.settings(name)))


@router.put("/connections/{name}/workspace", response_class=JSONBytes, responses=openapi.BODY)
def put_workspace_settings(
    settings: WorkspaceSettings, workspace: WorkspaceDep, name: str = ConnectionName
) -> JSONBytes:
    return JSONBytes(workspace.tables.put_settings(name, settings))


@router.delete("/connections/{name}/workspace", status_code=204)
def remove_workspace_settings(workspace: WorkspaceDep, name: str = ConnectionName) -> JSONBytes:
    workspace.tables.remove_settings(name)
    return JSONBytes(None, status_code=204)


@router.get("/tables/{name}/{key}", response_class=JSONBytes)
async def table_data(
    request: Request,
    workspace: WorkspaceDep,
    connector: ConnectorDep,
    client: ClientDep,
    name: str = ConnectionName,
    key: str = TableKey,
) -> JSONBytes:
    """A table widget's rows; a page when the query string asks for one."""
    query = request.query_params
    page = None
    if any(k in query for k in PAGE_KEYS):
        page = read_page(grid_from_query(request), connector.settings.max_row_limit)
    values = param_values(query.multi_items())
    work = partial(workspace.tables.data, name, key, values, page, client)
    return JSONBytes(await run_user(pools_of(request), request.receive, work))


@router.post("/tables/{name}/{key}", response_class=JSONBytes, responses=openapi.BODY)
async def table_rows(
    http: Request,
    workspace: WorkspaceDep,
    connector: ConnectorDep,
    client: ClientDep,
    body: dict[str, Any] = Body(
        ...,
        description="An AG Grid server-side row model request (startRow, endRow, sortModel, "
        "filterModel) and the widget's filter params.",
    ),
    name: str = ConnectionName,
    key: str = TableKey,
) -> JSONBytes:
    page = None
    if any(k in body for k in PAGE_KEYS):
        page = read_page(body, connector.settings.max_row_limit)
    values = param_values(list(body.items()))
    work = partial(workspace.tables.data, name, key, values, page, client)
    return JSONBytes(await run_user(pools_of(http), http.receive, work))


@router.get("/tables/{name}/{key}/options/{param}", response_class=JSONBytes)
async def table_options(
    http: Request,
    workspace: WorkspaceDep,
    client: ClientDep,
    name: str = ConnectionName,
    key: str = TableKey,
    param: str = ParamName,
) -> JSONBytes:
    """A filter param's dropdown: ``[{"label", "value"}]`` from the column's values."""
    work = partial(workspace.tables.options, name, key, param, client)
    return JSONBytes(await run_user(pools_of(http), http.receive, work))
