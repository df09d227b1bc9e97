"""The lean lane of ``POST /connections/{name}/query``: the request small queries make
hundreds of times a second, answered without FastAPI's route matching, dependency
solving and body handling, which cost the event loop several times what the query's own
work there does (``benchmarks/README.md``, "The query route's lean lane").

The lane is the app's first route. It takes a request only where FastAPI's route would
read it the same way: that path and method, one JSON ``Content-Type``, no query string
but ``shape=rows`` or ``shape=records``, a connection name the route's pattern accepts,
and a body that is a JSON object ``QueryRequest`` accepts. Anything else, a disconnect
or a failure while the body is read included, goes on to FastAPI's route with what was
read replayed, so every refusal is the route's own. The work and the answer are the
route's too (``connector.api.queries.answer_query``); an error the work raises reaches
the app's error handlers as the route's would.
"""

from __future__ import annotations

import re
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.routing import BaseRoute, Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.api.queries import answer_query
from connector.models import NAME_PATTERN, QueryRequest
from connector.security import route_path
from connector.wire import RowShape

_PATH = re.compile(r"/connections/([^/]+)/query")
# The route's pattern without its anchors, for fullmatch: Python's "$" would also match
# before a final newline, which the route's own check (pydantic's) refuses.
_NAME = re.compile(NAME_PATTERN.removeprefix("^").removesuffix("$"))
_SHAPES: dict[bytes, RowShape] = {b"": "rows", b"shape=rows": "rows", b"shape=records": "records"}
_INT64 = 2.0**63
# Set on a request the lane handed on, so that the router's second pass skips the lane.
_HANDED_ON = "connector.query_lane.handed_on"
_SHAPE = "connector.query_lane.shape"


class QueryLane(BaseRoute):
    """The lane; ``router`` (the app's) answers what it hands on."""

    def __init__(self, router: ASGIApp) -> None:
        self.router = router

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != "POST" or _HANDED_ON in scope:
            return Match.NONE, {}
        found = _PATH.fullmatch(route_path(scope))
        shape = _SHAPES.get(scope["query_string"])
        if found is None or shape is None or not _NAME.fullmatch(found[1]):
            return Match.NONE, {}
        if not _json_content(scope["headers"]):
            return Match.NONE, {}
        return Match.FULL, {"path_params": {"name": found[1]}, _SHAPE: shape}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        messages, failure = await _read(receive)
        request = None if failure is not None else _parsed(messages)
        if request is None:
            scope[_HANDED_ON] = True
            await self.router(scope, _replay(messages, receive, failure), send)
            return
        http = Request(scope, receive)
        name = scope["path_params"]["name"]
        response = await answer_query(http, name, request, scope[_SHAPE])
        await response(scope, receive, send)


async def _read(receive: Receive) -> tuple[list[Message], Exception | None]:
    """The request's messages up to the body's end or the client's leaving, and what
    reading them raised (a body over the size limit...), if anything."""
    messages: list[Message] = []
    try:
        while True:
            message = await receive()
            messages.append(message)
            if message["type"] != "http.request" or not message.get("more_body", False):
                return messages, None
    except Exception as failure:  # replayed to the route, which answers it
        return messages, failure


def _json_content(headers: list[tuple[bytes, bytes]]) -> bool:
    """One Content-Type, and it is ``application/json`` (parameters aside)."""
    found = [value for key, value in headers if key == b"content-type"]
    return len(found) == 1 and found[0].split(b";", 1)[0].strip().lower() == b"application/json"


def _parsed(messages: list[Message]) -> QueryRequest | None:
    """The whole body as the route would validate it, or None to let the route say why
    not. ``orjson`` reads only strict JSON (no NaN, no lone surrogates, no UTF-16), which
    the standard parser the route uses reads the same way; anything else is the route's."""
    if messages[-1]["type"] != "http.request":
        return None  # the client left before the body's end
    body = b"".join(message.get("body", b"") for message in messages)
    try:
        document = orjson.loads(body)
        if not isinstance(document, dict) or _overflowed(document):
            return None
        return QueryRequest.model_validate(document)
    except (orjson.JSONDecodeError, ValidationError):
        return None


def _overflowed(document: dict[str, Any]) -> bool:
    """Whether ``orjson`` may have read an integer past 64 bits as a float (the standard
    parser keeps it an int): a float that large, at the top or among the parameters."""
    params = document.get("params")
    values = [*document.values(), *(params.values() if isinstance(params, dict) else ())]
    return any(isinstance(value, float) and abs(value) >= _INT64 for value in values)


def _replay(messages: list[Message], receive: Receive, failure: Exception | None) -> Receive:
    """A ``receive`` that gives ``messages`` again, then raises ``failure`` if the first
    reading raised it, then goes on with ``receive``."""
    pending = list(messages)

    async def replay() -> Message:
        if pending:
            return pending.pop(0)
        if failure is not None:
            raise failure
        return await receive()

    return replay
