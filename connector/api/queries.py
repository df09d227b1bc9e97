"""Queries: run one (``/connections/{name}/query``), stream one (``/export``), list and
cancel the running ones (``/queries``) and read past ones (``/history``)."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from typing import Literal

import anyio
from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse
from starlette.concurrency import iterate_in_threadpool, run_in_threadpool

from connector.api import openapi
from connector.api.deps import ClientDep, ConnectorDep, JSONBytes, no_content
from connector.export import MEDIA_TYPES, ExportFormat
from connector.models import NAME_PATTERN, HistoryEntry, QueryRequest, RunningQueryInfo
from connector.service import ManagedStream
from connector.wire import result_body

router = APIRouter(tags=["queries"], responses=openapi.KEYED)

ConnectionName = Path(pattern=NAME_PATTERN, description="The connection's name.")


@router.post(
    "/connections/{name}/query",
    response_class=JSONBytes,
    response_model=openapi.QueryBody,
    responses={**openapi.BODY, **openapi.RUNNING},
)
async def run_query(
    request: QueryRequest,
    connector: ConnectorDep,
    client: ClientDep,
    name: str = ConnectionName,
    shape: Literal["rows", "records"] = Query("rows", description="Rows as arrays or objects."),
) -> JSONBytes:
    # A small read its kind can bound runs here, on the event loop, with no thread hop;
    # anything else (or one that outgrew the bound) runs in a worker thread.
    result = connector.run_quick(name, request, client)
    if result is None:
        result = await run_in_threadpool(connector.run, name, request, client)
    return JSONBytes(result_body(result, shape))


async def _stream_body(stream: ManagedStream) -> AsyncIterator[bytes]:
    chunks = stream.chunks()
    try:
        async for chunk in iterate_in_threadpool(chunks):
            yield chunk
    finally:
        # Runs when the stream ends, fails or the client goes away: stop the query in the
        # database if it is still running, and release its connection.
        with anyio.CancelScope(shield=True):
            await anyio.to_thread.run_sync(stream.close)


@router.post(
    "/connections/{name}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every row, streamed: NDJSON, CSV or a JSON array of objects.",
            "content": {media: {} for media in MEDIA_TYPES.values()},
        },
        **openapi.BODY,
        **openapi.RUNNING,
    },
)
async def export(
    request: QueryRequest,
    connector: ConnectorDep,
    client: ClientDep,
    name: str = ConnectionName,
    format: ExportFormat = Query("ndjson", description="ndjson, csv or json."),
) -> StreamingResponse:
    stream = await anyio.to_thread.run_sync(connector.open_stream, name, request, client, format)
    filename = f"{name}-export.{format}"
    return StreamingResponse(
        _stream_body(stream),
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/queries", response_class=JSONBytes, response_model=list[RunningQueryInfo])
async def running_queries(connector: ConnectorDep) -> JSONBytes:
    return JSONBytes([dataclasses.asdict(info) for info in connector.running_queries()])


@router.delete(
    "/queries/{query_id}", status_code=204, response_class=Response, responses=openapi.errors(404)
)
async def cancel_query(
    fastapi_request: Request, connector: ConnectorDep, query_id: str
) -> Response:
    # Its own small thread limiter: a cancel must not queue behind the queries it stops.
    limiter = fastapi_request.app.state.control_limiter
    await anyio.to_thread.run_sync(connector.cancel, query_id, limiter=limiter)
    return no_content()


@router.get("/history", response_class=JSONBytes, response_model=list[HistoryEntry])
def history(
    connector: ConnectorDep,
    limit: int = Query(50, ge=1, le=1000),
    connection: str | None = Query(None, pattern=NAME_PATTERN),
) -> JSONBytes:
    entries = connector.history(limit=limit, connection=connection)
    return JSONBytes([dataclasses.asdict(entry) for entry in entries])
