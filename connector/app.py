"""``create_app(runtime)``: the FastAPI application, wired and nothing more.

It adds the guard middleware (Host, CORS, API key, body rules), the routers, the MCP
server at ``/mcp``, and the one place where any exception becomes the contract's error JSON.
Its thread limiters (``connector.api.work``) keep user queries, control endpoints and
exports apart. The lifespan caps anyio's default thread pool (Starlette's 40 threads halve
throughput on two cores), runs the MCP session manager and closes the runtime.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import anyio
import anyio.to_thread
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Route

from connector import __version__, backends
from connector.api import connections, health, home, kinds, openapi, queries, saved
from connector.api import openbb as openbb_api
from connector.api import tables as tables_api
from connector.api.query_lane import QueryLane
from connector.api.work import make_pools
from connector.errors import (
    BadRequestError,
    ConnectorError,
    InvalidRequestError,
    MethodNotAllowedError,
    NotFoundError,
    error_body,
    unexpected_error,
)
from connector.inputs import NOT_TEXT
from connector.mcp_server import build_mcp
from connector.runtime import Runtime
from connector.security import GuardMiddleware
from connector.values import dumps

log = logging.getLogger(__name__)


def _error(error: ConnectorError, status: int | None = None) -> Response:
    return Response(
        dumps(error_body(error)),
        status_code=status or error.status,
        media_type="application/json",
    )


def _validation_detail(exc: RequestValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return "The request does not fit the schema."
    first = errors[0]
    if first.get("type") == "json_invalid":
        return "The request body is not valid JSON."
    location = [str(part) for part in first.get("loc", ()) if part != "body"]
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    if first.get("type") == "string_unicode":
        message = f"the text {NOT_TEXT}"
    if first.get("type") == "missing":
        return (
            f"The field {'.'.join(location)!r} is required." if location else "A body is required."
        )
    where = f"{'.'.join(location)}: " if location else ""
    return f"{where}{message}."[:300]


def _unreadable_body(cause: BaseException | None) -> ConnectorError:
    """A body FastAPI could not parse (its bare 400), said in one sentence: 422."""
    if isinstance(cause, RecursionError):
        return InvalidRequestError("The request body nests too deeply to be read as JSON.")
    if isinstance(cause, UnicodeError):
        return InvalidRequestError("The request body is not UTF-8 text, so it is not JSON.")
    return InvalidRequestError("The request body could not be read as JSON.")


def _http_error(exc: StarletteHTTPException) -> ConnectorError:
    """Starlette's own HTTP errors (routing, methods, unreadable bodies) as ours."""
    if exc.status_code == 404:
        return NotFoundError("There is no such endpoint.")
    if exc.status_code == 405:
        return MethodNotAllowedError("This endpoint does not accept that method.")
    if exc.status_code == 400:
        return _unreadable_body(exc.__cause__)
    if 400 <= exc.status_code < 500:
        return BadRequestError(str(exc.detail))
    return unexpected_error()


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ConnectorError)
    async def connector_error(_: Request, exc: ConnectorError) -> Response:
        return _error(exc)

    @app.exception_handler(RequestValidationError)
    async def validation_error(_: Request, exc: RequestValidationError) -> Response:
        return _error(InvalidRequestError(_validation_detail(exc)))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(_: Request, exc: StarletteHTTPException) -> Response:
        cause = exc.__cause__
        if isinstance(cause, ConnectorError):
            return _error(cause)
        error = _http_error(exc)
        return _error(error, exc.status_code if exc.status_code in (404, 405) else None)

    @app.exception_handler(Exception)
    async def unexpected(_: Request, exc: Exception) -> Response:
        log.error("unexpected error: %s", type(exc).__name__, exc_info=exc)
        return _error(unexpected_error())


def create_app(runtime: Runtime, *, close_runtime: bool = True) -> FastAPI:
    """The connector's HTTP API over ``runtime``."""
    settings = runtime.settings
    pools = make_pools(settings.worker_threads)
    mcp, mcp_endpoint = build_mcp(runtime.workspace, pools)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        anyio.to_thread.current_default_thread_limiter().total_tokens = settings.worker_threads
        runtime.start_background_setup()
        try:
            # The MCP session manager's task group lives as long as the app (connector.mcp_server).
            async with mcp.session_manager.run():
                yield
        finally:
            pools.threads.close()
            if close_runtime:
                await anyio.to_thread.run_sync(runtime.close)

    app = FastAPI(
        title="Data Connector",
        version=__version__,
        description="Run SQL against your own databases from OpenBB and from scripts.",
        lifespan=lifespan,
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime
    app.state.pools = pools
    app.state.started = time.monotonic()
    install_error_handlers(app)
    for module in (home, health, kinds, connections, queries, saved):
        app.include_router(module.router)
    app.include_router(openbb_api.router)
    app.include_router(tables_api.router)
    openapi.document_kinds(app, backends.kinds())
    # /mcp: the MCP server (Streamable HTTP), behind the same guard as every path.
    app.router.routes.append(Route("/mcp", endpoint=mcp_endpoint))
    # First of all: small queries' requests skip FastAPI's routing (connector.api.query_lane).
    app.router.routes.insert(0, QueryLane(app.router))

    app.add_middleware(
        GuardMiddleware,
        api_key=runtime.current_api_key,
        named_key=runtime.caller_of_named_key,
        cors_origins=settings.all_cors_origins,
        allowed_hosts=settings.allowed_hosts,
        max_body_bytes=settings.max_body_bytes,
    )
    return app


def app_from_environment() -> Any:
    """A factory for ``uvicorn --factory connector.app:app_from_environment``: settings
    from ``CONNECTOR_*`` and the file ``CONNECTOR_CONFIG`` names (each of ``serve
    --workers N``'s processes builds its app this way)."""
    import os
    from pathlib import Path

    from connector.config_file import build_settings
    from connector.runtime import open_runtime

    config = os.environ.get("CONNECTOR_CONFIG")
    settings, declared = build_settings({}, Path(config) if config else None)
    from connector.interpreter import tune_interpreter

    app = create_app(open_runtime(settings, declared, sample_in_background=True))
    tune_interpreter()
    return app
