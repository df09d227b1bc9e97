"""The connector as an MCP server (Model Context Protocol, the official ``mcp`` SDK's
FastMCP), for OpenBB Workspace's AI and desktop MCP clients.

Tools: ``list_connections``, ``describe_schema`` (one connection's schemas, tables, views,
columns and comments), ``run_query`` (read-only SQL with a row cap and a timeout),
``read_table`` (a table's rows by its catalog name, quoted by sqlglot) and
``run_saved_query`` (a saved query with its params). Every statement is checked by the
read-only guard first, whatever the connection allows, so an AI never writes. Results
are JSON text written with the contract's value rules (``connector.values.dumps``):
exact decimals, ISO dates, base64 bytes. A user's mistake comes back as a tool error
whose text is the contract's one sentence and code.

Served at ``/mcp`` over Streamable HTTP, stateless (each request stands alone, so no
session id to keep) with JSON answers; ``connector.app`` mounts it behind the same guard
as every other path (Host allow-list, CORS, API key, body rules) and runs its session
manager inside the app's lifespan. The SDK's own Host check is off because the guard
already made it. Must not import FastAPI.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any, TypeVar

from mcp.server.fastmcp import FastMCP
from mcp.server.fastmcp.exceptions import ToolError
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.server.transport_security import TransportSecuritySettings
from starlette.types import Receive, Scope, Send

from connector.api.work import Pools, run_user
from connector.backends import get_backend
from connector.errors import ConnectorError, NotFoundError
from connector.models import QueryResult, SavedRunRequest
from connector.table_sql import select_sql
from connector.values import dumps
from connector.widgets import MCP_SERVER
from connector.wire import records
from connector.workspace import Workspace

DEFAULT_ROWS = 100
MCP_CLIENT = "mcp"
# What only reads, in refusals: an assistant's SQL never writes, whatever the connection.
READS_ONLY = "An MCP tool"
INSTRUCTIONS = (
    "Data Connector runs read-only SQL against the user's own databases. Call "
    "list_connections first, then describe_schema to see tables and columns, then "
    "run_query (SQL in the connection's dialect, :name parameters bound as values) or "
    "read_table; run_saved_query runs a query the user saved, with its params."
)

T = TypeVar("T")


def _body(result: QueryResult) -> str:
    return dumps(
        {
            "columns": [dataclasses.asdict(column) for column in result.columns],
            "rows": records(result),
            "row_count": len(result.rows),
            "truncated": result.truncated,
        }
    ).decode()


async def _call(pools: Pools, work: Callable[[], T]) -> T:
    """Blocking work on the user limiter; our errors as the tool's error sentence."""
    try:
        return await run_user(pools, None, work)
    except ConnectorError as error:
        raise ToolError(f"{error.detail} ({error.code})") from None


class McpEndpoint:
    """The ASGI app at ``/mcp``: hands each request to the session manager."""

    def __init__(self, manager: StreamableHTTPSessionManager) -> None:
        self.manager = manager

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.manager.handle_request(scope, receive, send)


def build_mcp(workspace: Workspace, pools: Pools) -> tuple[FastMCP, McpEndpoint]:
    """The MCP server over ``workspace``'s connector, and its ``/mcp`` endpoint; its tools
    run on ``pools``' user limiter."""
    connector = workspace.connector
    settings = connector.settings
    server = FastMCP(
        MCP_SERVER,
        instructions=INSTRUCTIONS,
        stateless_http=True,
        json_response=True,
        streamable_http_path="/mcp",
        # The guard in front (connector.security) already checks Host and the key.
        transport_security=TransportSecuritySettings(enable_dns_rebinding_protection=False),
    )

    def cap(limit: int | None) -> int:
        return max(1, min(limit or DEFAULT_ROWS, settings.max_row_limit))

    @server.tool()
    async def list_connections() -> str:
        """The databases this connector reaches: name, kind (sqlite, mysql, postgresql,
        snowflake, duckdb) and whether the connection is read-only."""
        specs = await _call(pools, connector.list_connections)
        return dumps(
            [{"name": s.name, "kind": s.kind, "read_only": s.read_only} for s in specs]
        ).decode()

    @server.tool()
    async def describe_schema(connection: str, schema: str | None = None) -> str:
        """One connection's schemas with their tables and views, each column's name, type
        and nullability, and the database's comments where it has them. ``schema``
        narrows it to one schema."""

        def work() -> list[dict[str, Any]]:
            found = workspace.tables.catalog.schemas(connection)
            comments = workspace.tables.catalog.comments(connection)
            body = []
            for item in found:
                if schema is not None and item.name != schema:
                    continue
                tables = []
                for table in item.tables:
                    note = comments.get((item.name, table.name))
                    entry = dataclasses.asdict(table)
                    if note is not None:
                        entry["comment"] = note.table
                        for column in entry["columns"]:
                            if column["name"] in note.columns:
                                column["comment"] = note.columns[column["name"]]
                    tables.append(entry)
                body.append({"name": item.name, "tables": tables})
            if schema is not None and not body:
                raise NotFoundError(f"Connection {connection!r} has no schema {schema!r}.")
            return body

        return dumps(await _call(pools, work)).decode()

    @server.tool()
    async def run_query(
        connection: str,
        sql: str,
        params: dict[str, str | int | float | bool | None] | None = None,
        limit: int = DEFAULT_ROWS,
        timeout_s: float | None = None,
    ) -> str:
        """Run one read-only SQL statement (a SELECT, WITH... or SHOW) on a connection.
        ``:name`` placeholders take their values from ``params`` (bound, never pasted).
        At most ``limit`` rows come back (``truncated`` says more exist); the database
        stops the query at ``timeout_s`` (the server's default if unset)."""

        def work() -> str:
            values = params or {}
            request = SavedRunRequest(sql=sql, params=values, limit=cap(limit), timeout_s=timeout_s)
            # Read-only whatever the connection allows; a refusal is recorded in history.
            return _body(connector.run(connection, request, MCP_CLIENT, reads_only=READS_ONLY))

        return await _call(pools, work)

    @server.tool()
    async def read_table(
        connection: str, schema: str, table: str, limit: int = DEFAULT_ROWS
    ) -> str:
        """The first ``limit`` rows of a table or view, named as describe_schema names it."""

        def work() -> str:
            spec = connector.get_connection(connection)
            for item in workspace.tables.catalog.schemas(connection):
                for info in item.tables:
                    if item.name == schema and info.name == table:
                        ref = workspace.tables.reference(spec, schema, table)
                        sql, _ = select_sql(ref, {}, get_backend(spec.kind).dialect)
                        request = SavedRunRequest(sql=sql, limit=cap(limit))
                        return _body(connector.run(connection, request, MCP_CLIENT))
            raise NotFoundError(f"Connection {connection!r} has no table {schema}.{table}.")

        return await _call(pools, work)

    @server.tool()
    async def run_saved_query(
        name: str, params: dict[str, Any] | None = None, limit: int = DEFAULT_ROWS
    ) -> str:
        """Run a query the user saved, by name, with its params (others take their
        defaults; a multi-value param takes a list or comma-joined text)."""

        def work() -> str:
            query = workspace.saved.get(name)
            result = workspace.saved.run_query(
                query, params or {}, limit=cap(limit), client=MCP_CLIENT
            )
            return _body(result)

        return await _call(pools, work)

    server.streamable_http_app()  # makes the session manager
    return server, McpEndpoint(server.session_manager)
