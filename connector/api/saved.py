"""``/saved-queries``: list, add, read, update, remove and run saved queries.

A saved query's ``version`` is also its ``ETag``; a PUT that sends the version it read, as
``If-Match`` or in the body, is refused with 409 ``conflict`` if the query changed since."""

from __future__ import annotations

from functools import partial
from typing import Any

from fastapi import APIRouter, Header, Path, Request
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from connector.api import openapi
from connector.api.deps import ClientDep, ConnectorDep, JSONBytes, no_content
from connector.api.work import pools_of, run_user
from connector.errors import InvalidRequestError
from connector.models import NAME_PATTERN, SavedQuery
from connector.saved import SavedQueries
from connector.wire import result_body

router = APIRouter(prefix="/saved-queries", tags=["saved queries"], responses=openapi.KEYED)

SavedName = Path(pattern=NAME_PATTERN, description="The saved query's name.")


@router.get("", response_class=JSONBytes, response_model=list[SavedQuery])
def list_saved(connector: ConnectorDep) -> JSONBytes:
    return JSONBytes([q.model_dump(mode="json") for q in SavedQueries(connector).list()])


@router.post(
    "",
    status_code=201,
    response_class=JSONBytes,
    response_model=SavedQuery,
    responses={**openapi.BODY, **openapi.errors(400, 404, 409)},
)
def add_saved(query: SavedQuery, connector: ConnectorDep) -> JSONBytes:
    return _with_etag(SavedQueries(connector).add(query), status_code=201)


def _with_etag(query: SavedQuery, status_code: int = 200) -> JSONBytes:
    headers = {"ETag": f'"{query.version}"'} if query.version is not None else None
    return JSONBytes(query.model_dump(mode="json"), status_code=status_code, headers=headers)


def _if_match(value: str | None) -> int | None:
    """The version in an ``If-Match`` header (``"3"``, ``W/"3"`` or ``3``); ``*`` is none."""
    if value is None or value.strip() == "*":
        return None
    text = value.strip().removeprefix("W/").strip('"')
    if not text.isdigit():
        raise InvalidRequestError("If-Match must be the version the query was read at.")
    return int(text)


@router.get(
    "/{name}", response_class=JSONBytes, response_model=SavedQuery, responses=openapi.errors(404)
)
def get_saved(connector: ConnectorDep, name: str = SavedName) -> JSONBytes:
    return _with_etag(SavedQueries(connector).get(name))


@router.put(
    "/{name}",
    response_class=JSONBytes,
    response_model=SavedQuery,
    responses={**openapi.BODY, **openapi.errors(400, 404, 409)},
)
def update_saved(
    query: SavedQuery,
    connector: ConnectorDep,
    name: str = SavedName,
    if_match: str | None = Header(None, description="The version read, as its ETag."),
) -> JSONBytes:
    updated = SavedQueries(connector).update(name, query, _if_match(if_match))
    return _with_etag(updated)


@router.delete("/{name}", status_code=204, response_class=Response, responses=openapi.errors(404))
def remove_saved(connector: ConnectorDep, name: str = SavedName) -> Response:
    SavedQueries(connector).remove(name)
    return no_content()


class RunSaved(BaseModel):
    model_config = ConfigDict(extra="forbid")

    params: dict[str, Any] = Field(default_factory=dict)
    limit: int | None = Field(default=None, ge=1)


@router.post(
    "/{name}/run",
    response_class=JSONBytes,
    response_model=openapi.QueryBody,
    responses={**openapi.BODY, **openapi.RUNNING},
)
async def run_saved(
    http: Request,
    connector: ConnectorDep,
    client: ClientDep,
    body: RunSaved | None = None,
    name: str = SavedName,
) -> JSONBytes:
    body = body or RunSaved()
    run = partial(SavedQueries(connector).run, name, body.params, limit=body.limit, client=client)
    result = await run_user(pools_of(http), http.receive, run)
    return JSONBytes(result_body(result, "rows"))
