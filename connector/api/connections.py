"""``/connections``: list, create, test, read, update and remove connections; browse schemas.

Responses never carry a secret: a connection is shown as name, kind, options, read_only.
"""

from __future__ import annotations

import dataclasses

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response

from connector.api import openapi
from connector.api.deps import ConnectorDep, JSONBytes, no_content
from connector.api.work import pools_of, run_control
from connector.models import NAME_PATTERN, ConnectionInput, ConnectionSpec

router = APIRouter(prefix="/connections", tags=["connections"], responses=openapi.KEYED)

ConnectionName = Path(pattern=NAME_PATTERN, description="The connection's name.")


def public(spec: ConnectionSpec) -> dict[str, object]:
    return spec.model_dump(mode="json")


@router.get("", response_class=JSONBytes, response_model=list[ConnectionSpec])
async def list_connections(http: Request, connector: ConnectorDep) -> JSONBytes:
    specs = await run_control(pools_of(http), connector.list_connections)
    return JSONBytes([public(spec) for spec in specs])


@router.post(
    "",
    status_code=201,
    response_class=JSONBytes,
    response_model=ConnectionSpec,
    responses={**openapi.BODY, **openapi.errors(409, 502)},
)
def create_connection(
    payload: ConnectionInput,
    connector: ConnectorDep,
    test: bool = Query(True, description="Connect first and refuse a connection that fails."),
) -> JSONBytes:
    spec = connector.create_connection(payload, test=test)
    return JSONBytes(public(spec), status_code=201)


@router.post(
    "/test",
    response_class=JSONBytes,
    response_model=openapi.ProbeBody,
    responses={**openapi.BODY, **openapi.errors(502)},
)
def test_connection(payload: ConnectionInput, connector: ConnectorDep) -> JSONBytes:
    probe = connector.test_connection(payload)
    return JSONBytes({"ok": True, **dataclasses.asdict(probe)})


@router.get(
    "/{name}",
    response_class=JSONBytes,
    response_model=ConnectionSpec,
    responses=openapi.errors(404),
)
async def get_connection(
    http: Request, connector: ConnectorDep, name: str = ConnectionName
) -> JSONBytes:
    return JSONBytes(public(await run_control(pools_of(http), connector.get_connection, name)))


@router.put(
    "/{name}",
    response_class=JSONBytes,
    response_model=ConnectionSpec,
    responses={**openapi.BODY, **openapi.errors(404, 502)},
)
def update_connection(
    payload: ConnectionInput,
    connector: ConnectorDep,
    name: str = ConnectionName,
    test: bool = Query(True, description="Connect first and refuse a connection that fails."),
) -> JSONBytes:
    return JSONBytes(public(connector.update_connection(name, payload, test=test)))


@router.delete("/{name}", status_code=204, response_class=Response, responses=openapi.errors(404))
def delete_connection(connector: ConnectorDep, name: str = ConnectionName) -> Response:
    connector.remove_connection(name)
    return no_content()


@router.get(
    "/{name}/schema",
    response_class=JSONBytes,
    response_model=openapi.SchemaBody,
    responses=openapi.errors(404, 502),
)
def schema(connector: ConnectorDep, name: str = ConnectionName) -> JSONBytes:
    schemas = connector.describe_schema(name)
    return JSONBytes({"schemas": [dataclasses.asdict(schema) for schema in schemas]})
