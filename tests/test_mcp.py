"""The MCP server at /mcp, driven by the official SDK's own client (Streamable HTTP and
``ClientSession``) against a real uvicorn server: its tools list connections, browse a
schema, run read-only SQL with a row cap, read a table and run a saved query; a write, a
bad name or bad SQL is a tool error with the contract's sentence. The same guard as every
path: no key is 401, a foreign Host 421, and an allowed origin gets its CORS headers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import anyio
import httpx
import pytest
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client

from tests.conftest import LiveServer, assert_error

INIT = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-03-26",
        "capabilities": {},
        "clientInfo": {"name": "test", "version": "0"},
    },
}
MCP_HEADERS = {"Accept": "application/json, text/event-stream"}


@pytest.fixture(scope="module")
def server(live_server: LiveServer) -> Iterator[LiveServer]:
    saved = {
        "name": "closes_of",
        "connection": "sample",
        "description": "Daily closes of one ticker.",
        "sql": "SELECT date, close FROM daily_prices WHERE symbol = :symbol ORDER BY date",
        "params": [{"name": "symbol", "type": "ticker", "default": "ABF"}],
    }
    with live_server.client() as http:
        assert http.post("/saved-queries", json=saved).status_code == 201
    yield live_server
    with live_server.client() as http:
        assert http.delete("/saved-queries/closes_of").status_code == 204


async def _session_calls(server: LiveServer, calls: list[tuple[str, dict[str, Any]]]) -> Any:
    # streamable_http_client is the SDK's current name for streamablehttp_client (which
    # now warns that it is deprecated); the key rides on the httpx client it is given.
    headers = {"X-API-KEY": server.api_key}
    async with (
        httpx.AsyncClient(headers=headers, timeout=30) as http,
        streamable_http_client(f"{server.url}/mcp", http_client=http) as (read, write, _),
        ClientSession(read, write) as session,
    ):
        init = await session.initialize()
        tools = await session.list_tools()
        results = [await session.call_tool(name, args) for name, args in calls]
        return init, tools, results


def call(server: LiveServer, *calls: tuple[str, dict[str, Any]]) -> Any:
    return anyio.run(_session_calls, server, list(calls))


def text(result: Any) -> str:
    return "".join(getattr(part, "text", "") for part in result.content)


def test_mcp_tools_through_the_sdk_client(server: LiveServer) -> None:
    init, tools, results = call(
        server,
        ("list_connections", {}),
        ("describe_schema", {"connection": "sample"}),
        ("run_query", {"connection": "sample", "limit": 3,
                       "sql": "SELECT symbol, close FROM daily_prices WHERE symbol = :s",
                       "params": {"s": "ABF"}}),
        ("read_table", {"connection": "sample", "schema": "main", "table": "dividends",
                        "limit": 2}),
        ("run_saved_query", {"name": "closes_of", "params": {"symbol": "abf"}, "limit": 5}),
    )  # fmt: skip
    assert init.serverInfo.name == "Data Connector"
    names = {tool.name for tool in tools.tools}
    assert names == {
        "list_connections",
        "describe_schema",
        "run_query",
        "read_table",
        "run_saved_query",
    }
    assert all(tool.description for tool in tools.tools)
    with server.client() as http:
        widgets = http.get("/widgets.json").json()
    tool_ids = {w["mcp_tool"]["tool_id"] for w in widgets.values()}
    assert tool_ids == {"run_saved_query", "run_query"} and tool_ids <= names
    assert {w["mcp_tool"]["mcp_server"] for w in widgets.values()} == {init.serverInfo.name}
    connections, schema, query, table, saved = (json.loads(text(r)) for r in results)
    assert not any(r.isError for r in results)
    assert connections == [{"name": "sample", "kind": "sqlite", "read_only": True}]
    tables = {t["name"]: t for t in schema[0]["tables"]}
    assert {"tickers", "daily_prices"} <= set(tables)
    assert {"name": "close", "type": "real", "nullable": False} in tables["daily_prices"]["columns"]
    assert query["row_count"] == 3 and query["truncated"] is True
    assert query["columns"] == [{"name": "symbol", "type": "string"},
                                {"name": "close", "type": "float"}]  # fmt: skip
    assert {row["symbol"] for row in query["rows"]} == {"ABF"}
    # A DECIMAL(10, 4) keeps its digits: the contract's JSON, not a float's.
    raw = text(results[3])
    assert '"amount":' in raw and len(table["rows"]) == 2
    assert saved["row_count"] == 5 and saved["rows"][0]["date"] < saved["rows"][1]["date"]


def test_mcp_mistakes_are_tool_errors_with_the_contract_sentence(server: LiveServer) -> None:
    _, _, results = call(
        server,
        ("run_query", {"connection": "sample", "sql": "DELETE FROM tickers"}),
        ("run_query", {"connection": "nowhere", "sql": "SELECT 1"}),
        ("run_query", {"connection": "sample", "sql": "SELECT nope FROM tickers"}),
        ("read_table", {"connection": "sample", "schema": "main", "table": "nope"}),
        ("run_saved_query", {"name": "nope"}),
        ("run_saved_query", {"name": "closes_of", "params": {"symbol": ["A", "B"]}}),
    )
    assert all(r.isError for r in results)
    messages = [text(r) for r in results]
    assert messages[0].endswith("(read_only)")
    assert messages[1].endswith("(not_found)") and "nowhere" in messages[1]
    assert messages[2].endswith("(sql_error)")
    assert messages[3].endswith("(not_found)")
    assert messages[4].endswith("(not_found)")
    assert messages[5].endswith("(bad_param)")
    with server.client() as http:
        count = http.post("/connections/sample/query", json={"sql": "SELECT count(*) FROM tickers"})
        assert count.json()["rows"] == [[50]]  # the DELETE ran nowhere


def test_mcp_is_behind_the_same_guard(server: LiveServer) -> None:
    with httpx.Client(base_url=server.url, timeout=30) as http:
        assert_error(http.post("/mcp", json=INIT, headers=MCP_HEADERS), 401, "auth_required")
        wrong = {**MCP_HEADERS, "X-API-KEY": "nope"}
        assert_error(http.post("/mcp", json=INIT, headers=wrong), 403, "auth_invalid")
        keyed = {**MCP_HEADERS, "X-API-KEY": server.api_key}
        foreign = {**keyed, "Host": "evil.example"}
        assert_error(http.post("/mcp", json=INIT, headers=foreign), 421, "bad_host")
        form = {**keyed, "Content-Type": "text/plain"}
        answer = http.post("/mcp", content=json.dumps(INIT), headers=form)
        assert_error(answer, 415, "unsupported_media_type")
        origin = "https://pro.openbb.co"
        preflight = http.options(
            "/mcp",
            headers={"Origin": origin, "Access-Control-Request-Method": "POST",
                     "Access-Control-Request-Headers": "content-type, x-api-key, mcp-protocol-version"},
        )  # fmt: skip
        assert preflight.status_code == 204
        assert "mcp-protocol-version" in preflight.headers["access-control-allow-headers"]
        answer = http.post("/mcp", json=INIT, headers={**keyed, "Origin": origin})
        assert answer.status_code == 200, answer.text
        assert answer.headers["access-control-allow-origin"] == origin
        assert answer.json()["result"]["serverInfo"]["name"] == "Data Connector"
        assert http.get("/health").json()["status"] == "ok"
