"""FastAPI dependencies: the runtime objects a router needs, as ``Annotated`` aliases.

They are ``async def`` on purpose: FastAPI runs a plain ``def`` dependency in the thread
pool, and a thread hop per dependency cost a small query a third of its time.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.responses import JSONResponse, Response

from connector.runtime import Runtime
from connector.service import Connector
from connector.values import dumps
from connector.workspace import Workspace


async def get_runtime(request: Request) -> Runtime:
    runtime: Runtime = request.app.state.runtime
    return runtime


def connector_of(request: Request) -> Connector:
    connector: Connector = request.app.state.runtime.connector
    return connector


async def get_connector(request: Request) -> Connector:
    return connector_of(request)


async def get_workspace(request: Request) -> Workspace:
    workspace: Workspace = request.app.state.runtime.workspace
    return workspace


def client_name(request: Request) -> str:
    """Who sent the request, for history: the page's origin, else the peer address."""
    origin = request.headers.get("origin")
    if origin:
        return origin[:200]
    return request.client.host if request.client else "unknown"


async def client_of(request: Request) -> str:
    return client_name(request)


RuntimeDep = Annotated[Runtime, Depends(get_runtime)]
ConnectorDep = Annotated[Connector, Depends(get_connector)]
WorkspaceDep = Annotated[Workspace, Depends(get_workspace)]
ClientDep = Annotated[str, Depends(client_of)]


def no_content() -> Response:
    """A 204: no body and no Content-Type, as RFC 9110 says (a body after a 204 would be
    read as the start of the next response and break a keep-alive connection)."""
    return Response(status_code=204)


class JSONBytes(JSONResponse):
    """JSON written by orjson with the contract's value rules (exact decimals, base64...).

    A ``JSONResponse`` only so that the OpenAPI document shows a route's ``response_model``;
    ``render`` is its own."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        if self.status_code == 204:  # no body: a "null" here breaks the connection in uvicorn
            return b""
        return dumps(content)
