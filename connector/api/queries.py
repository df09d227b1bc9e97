"""Queries: run one (``/connections/{name}/query``), stream one (``/export``), list and
cancel the running ones (``/queries``) and read past ones (``/history``)."""

from __future__ import annotations

import dataclasses
from functools import partial

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import Response, StreamingResponse

from connector.api import openapi
from connector.api.deps import (
    ClientDep,
    ConnectorDep,
    JSONBytes,
    client_name,
    connector_of,
    no_content,
)
from connector.api.export_stream import ExportProducer, ExportResponse
from connector.api.work import pools_of, run_control, run_user
from connector.export import MEDIA_TYPES, ExportFormat
from connector.models import NAME_PATTERN, HistoryEntry, QueryRequest, RunningQueryInfo
from connector.wire import RowShape, result_body

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
    http: Request,
    name: str = ConnectionName,
    shape: RowShape = Query("rows", description="Rows as arrays or objects."),
) -> JSONBytes:
    # Most requests are answered by connector.api.query_lane before they get here; this
    # route answers the rest (and says what is wrong with a request the lane passed on).
    return await answer_query(http, name, request, shape)


async def answer_query(
    http: Request, name: str, request: QueryRequest, shape: RowShape
) -> JSONBytes:
    """Run ``request`` on connection ``name`` and answer with its rows in ``shape``.

    A small read its kind can bound runs here, on the event loop, with no thread hop;
    anything else (or one that outgrew the bound) runs on a user-query thread, and a
    client that leaves before the answer stops it in the database."""
    connector = connector_of(http)
    client = client_name(http)
    pools = pools_of(http)
    result = None
    if connector.may_run_quick(name, request):
        # run_quick looks again: while this read waited for its turn, the connection may
        # have been edited or removed.
        result = await pools.loop.run_in_turn(connector.run_quick, name, request, client)
    if result is None:
        result = await run_user(pools, http.receive, connector.run, name, request, client)
    return JSONBytes(result_body(result, shape))


@router.post(
    "/connections/{name}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": (
                "Every row, streamed: NDJSON, CSV, a JSON array of objects, an Arrow IPC "
                "stream or a Parquet file (the last two need the server's arrow extra; "
                "without it they are refused with 400 bad_param)."
            ),
            "content": {media: {} for media in MEDIA_TYPES.values()},
        },
        **openapi.BODY,
        **openapi.RUNNING,
    },
)
async def export(
    request: QueryRequest,
    http: Request,
    connector: ConnectorDep,
    client: ClientDep,
    name: str = ConnectionName,
    format: ExportFormat = Query("ndjson", description="ndjson, csv, json, arrow or parquet."),
) -> StreamingResponse:
    # Its own producer thread; a client that leaves, before or after the first row,
    # stops the query in the database (connector.api.export_stream).
    producer = ExportProducer(
        partial(connector.open_stream, name, request, client, format), pools_of(http), name
    )
    await producer.open(http.receive)
    filename = f"{name}-export.{format}"
    return ExportResponse(
        producer,
        media_type=MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/queries", response_class=JSONBytes, response_model=list[RunningQueryInfo])
async def running_queries(http: Request, connector: ConnectorDep) -> JSONBytes:
    # With several processes the list is read from the store: a thread, never the loop.
    infos = await run_control(pools_of(http), connector.running_queries)
    return JSONBytes([dataclasses.asdict(info) for info in infos])


@router.delete(
    "/queries/{query_id}", status_code=204, response_class=Response, responses=openapi.errors(404)
)
async def cancel_query(http: Request, connector: ConnectorDep, query_id: str) -> Response:
    # The control limiter: a cancel must not queue behind the queries it stops.
    await run_control(pools_of(http), connector.cancel, query_id)
    return no_content()


@router.get("/history", response_class=JSONBytes, response_model=list[HistoryEntry])
async def history(
    http: Request,
    connector: ConnectorDep,
    limit: int = Query(50, ge=1, le=1000),
    connection: str | None = Query(None, pattern=NAME_PATTERN),
) -> JSONBytes:
    entries = await run_control(
        pools_of(http), partial(connector.history, limit=limit, connection=connection)
    )
    return JSONBytes([dataclasses.asdict(entry) for entry in entries])
