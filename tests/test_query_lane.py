"""The lean lane of ``POST /connections/{name}/query`` (``connector.api.query_lane``).

It must answer plain queries itself, and for every other request give exactly what
FastAPI's route gives: each case below is sent to the app with the lane and to the same
app with the lane taken out, and the answers must match (status, content type and body,
the query's id and time aside)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from connector.api.query_lane import QueryLane
from connector.app import create_app
from connector.runtime import Runtime

QUERY = "/connections/sample/query"
PLAIN = {"sql": "SELECT symbol, name FROM tickers ORDER BY symbol", "limit": 3}
JSON = {"Content-Type": "application/json"}


class Counted:
    """The lane's router, counting the requests the lane handed on."""

    def __init__(self, router: Any) -> None:
        self.router = router
        self.handed_on = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.handed_on += 1
        await self.router(scope, receive, send)


def _lane(app: Any) -> QueryLane:
    lane = app.router.routes[0]
    assert isinstance(lane, QueryLane)
    return lane


@pytest.fixture
def apps(runtime: Runtime) -> Iterator[tuple[TestClient, TestClient, Counted]]:
    """A client of the app with its lane (the lane's router counted) and one of the same
    app without it."""
    with_lane = create_app(runtime, close_runtime=False)
    lane = _lane(with_lane)
    counted = Counted(lane.router)
    lane.router = counted
    without = create_app(runtime, close_runtime=False)
    without.router.routes.remove(_lane(without))
    assert runtime.api_key is not None
    headers = {"X-API-KEY": runtime.api_key}
    with (
        TestClient(with_lane, base_url="http://localhost", headers=headers) as ours,
        TestClient(without, base_url="http://localhost", headers=headers) as theirs,
    ):
        yield ours, theirs, counted


def _answer(response: httpx.Response) -> tuple[int, str, Any]:
    body: Any = response.content
    if response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        if isinstance(body, dict):
            body.pop("query_id", None)
            body.pop("elapsed_ms", None)
    return response.status_code, response.headers.get("content-type", ""), body


def _same(clients: tuple[TestClient, TestClient, Counted], **request: Any) -> httpx.Response:
    ours, theirs, _ = clients
    request.setdefault("method", "POST")
    request.setdefault("url", QUERY)
    mine = ours.request(**request)
    assert _answer(mine) == _answer(theirs.request(**request))
    return mine


def test_the_lane_answers_plain_queries_itself(
    apps: tuple[TestClient, TestClient, Counted],
) -> None:
    for url, shape in (
        (QUERY, list),
        (QUERY + "?shape=rows", list),
        (QUERY + "?shape=records", dict),
    ):
        response = _same(apps, url=url, json=PLAIN)
        assert response.status_code == 200
        body = response.json()
        assert body["row_count"] == 3 and isinstance(body["rows"][0], shape)
    charset = _same(
        apps, content=json.dumps(PLAIN), headers={"Content-Type": "Application/JSON; charset=utf-8"}
    )
    assert charset.status_code == 200
    assert apps[2].handed_on == 0


# What the lane passes on or answers with an error: each must be what the route says.
CASES: dict[str, dict[str, Any]] = {
    "sql error": {"json": {"sql": "SELECT nope FROM nowhere"}},
    "a write on a read-only connection": {"json": {"sql": "DELETE FROM tickers"}},
    "no such connection": {"url": "/connections/missing/query", "json": PLAIN},
    "parameters": {"json": {"sql": "SELECT :a AS a, :b AS b", "params": {"a": 1, "b": "x"}}},
    "every kind of parameter": {
        "content": (
            b'{"sql": "SELECT :a AS a, :b AS b, :c AS c, :d AS d, :e AS e, :f AS f", "params":'
            b' {"a": 0.1, "b": -9223372036854775808, "c": 18446744073709551615, "d": true,'
            b' "e": null, "f": "\\u00e9\\n\\ud83d\\ude00"}}'
        ),
        "headers": JSON,
    },
    "a float that is whole": {"json": {"sql": "SELECT :a AS a", "params": {"a": 3.0}}},
    "a missing parameter": {"json": {"sql": "SELECT :a AS a"}},
    "a timeout and a limit": {"json": {**PLAIN, "timeout_s": 5, "limit": 1}},
}
HANDED_ON: dict[str, dict[str, Any]] = {
    "an unknown shape": {"url": QUERY + "?shape=columns", "json": PLAIN},
    "shape twice": {"url": QUERY + "?shape=rows&shape=records", "json": PLAIN},
    "another query parameter": {"url": QUERY + "?debug=1", "json": PLAIN},
    "an empty shape": {"url": QUERY + "?shape=", "json": PLAIN},
    "text/plain": {"content": json.dumps(PLAIN), "headers": {"Content-Type": "text/plain"}},
    "no content type": {"content": json.dumps(PLAIN).encode(), "headers": {"Content-Type": ""}},
    "two content types": {
        "content": json.dumps(PLAIN),
        "headers": [("Content-Type", "application/json"), ("Content-Type", "application/json")],
    },
    "json with a suffix": {
        "content": json.dumps(PLAIN),
        "headers": {"Content-Type": "application/vnd.x+json"},
    },
    "not JSON": {"content": b"{sql: 1}", "headers": JSON},
    "an empty body": {"content": b"", "headers": JSON},
    "a list": {"content": b"[1, 2]", "headers": JSON},
    "a string": {"content": b'"SELECT 1"', "headers": JSON},
    "NaN": {"content": b'{"sql": "SELECT :a", "params": {"a": NaN}}', "headers": JSON},
    "Infinity": {"content": b'{"sql": "SELECT :a", "params": {"a": -Infinity}}', "headers": JSON},
    "a lone surrogate": {"content": b'{"sql": "SELECT \'\\ud800\'"}', "headers": JSON},
    "UTF-16": {"content": json.dumps(PLAIN).encode("utf-16"), "headers": JSON},
    "not UTF-8": {"content": b'{"sql": "SELECT \'\xff\'"}', "headers": JSON},
    "a byte order mark": {"content": b"\xef\xbb\xbf" + json.dumps(PLAIN).encode(), "headers": JSON},
    "a huge integer": {
        "content": b'{"sql": "SELECT :a AS a", "params": {"a": 123456789012345678901234567890}}',
        "headers": JSON,
    },
    "a huge integer as the limit": {
        "content": b'{"sql": "SELECT 1 AS a", "limit": 123456789012345678901234567890}',
        "headers": JSON,
    },
    "a float past 64 bits": {
        "content": b'{"sql": "SELECT :a AS a", "params": {"a": 1e308}}',
        "headers": JSON,
    },
    "past 64 bits, unsigned": {
        "content": b'{"sql": "SELECT :a AS a", "params": {"a": 18446744073709551616}}',
        "headers": JSON,
    },
    "an extra field": {"json": {**PLAIN, "format": "csv"}},
    "no sql": {"json": {"limit": 3}},
    "empty sql": {"json": {"sql": ""}},
    "a zero limit": {"json": {**PLAIN, "limit": 0}},
    "a fractional limit": {"json": {**PLAIN, "limit": 2.5}},
    "a negative timeout": {"json": {**PLAIN, "timeout_s": -1}},
    "a nested parameter": {"json": {"sql": "SELECT :a", "params": {"a": {"b": 1}}}},
    "a list parameter": {"json": {"sql": "SELECT :a", "params": {"a": [1, 2]}}},
    "deep nesting": {
        "content": b'{"sql": "x", "params": ' + b"[" * 5000 + b"]" * 5000 + b"}",
        "headers": JSON,
    },
    "a name with a newline": {"url": "/connections/sample%0A/query", "json": PLAIN},
    "a name with a slash": {"url": "/connections/sam%2Fple/query", "json": PLAIN},
    "a name with a space": {"url": "/connections/sam%20ple/query", "json": PLAIN},
    "a name too long": {"url": f"/connections/{'a' * 65}/query", "json": PLAIN},
    "a trailing slash": {"url": QUERY + "/", "json": PLAIN},
    "GET": {"method": "GET"},
    "PUT": {"method": "PUT", "json": PLAIN},
    "a body over the limit": {"json": {"sql": "SELECT 1 -- " + "x" * 1_100_000}},
    "no API key": {"json": PLAIN, "headers": {"X-API-KEY": ""}},
    "a wrong API key": {"json": PLAIN, "headers": {"X-API-KEY": "nope"}},
}


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_what_the_lane_answers_is_what_the_route_answers(
    apps: tuple[TestClient, TestClient, Counted], case: str
) -> None:
    _same(apps, **CASES[case])
    assert apps[2].handed_on == 0


@pytest.mark.parametrize("case", HANDED_ON, ids=list(HANDED_ON))
def test_what_the_lane_hands_on_the_route_answers(
    apps: tuple[TestClient, TestClient, Counted], case: str
) -> None:
    _same(apps, **HANDED_ON[case])
    # Some the guard refuses before any route (a key, the body's size or type).
    assert apps[2].handed_on <= 1


def test_a_duplicated_key_is_read_as_the_route_reads_it(
    apps: tuple[TestClient, TestClient, Counted],
) -> None:
    body = b'{"sql": "SELECT 1 AS a", "sql": "SELECT 2 AS a"}'
    response = _same(apps, content=body, headers=JSON)
    assert response.json()["rows"] == [[2]]


class _Asgi:
    """One request sent straight to an app: the body in ``chunks``, then ``after`` (a
    disconnect, or nothing: the client waits for the answer)."""

    def __init__(self, app: Any, key: str, chunks: list[bytes], *, leave: bool = False) -> None:
        self.app, self.key, self.chunks, self.leave = app, key, chunks, leave
        self.sent: list[dict[str, Any]] = []

    async def run(self) -> list[dict[str, Any]]:
        messages: list[dict[str, Any]] = [
            {"type": "http.request", "body": chunk, "more_body": index < len(self.chunks) - 1}
            for index, chunk in enumerate(self.chunks)
        ]
        if self.leave:
            messages[-1]["more_body"] = True
            messages.append({"type": "http.disconnect"})
        gone = asyncio.Event()

        async def receive() -> dict[str, Any]:
            if messages:
                return messages.pop(0)
            await gone.wait()
            return {"type": "http.disconnect"}

        async def send(message: dict[str, Any]) -> None:
            self.sent.append(message)
            if message["type"] == "http.response.body" and not message.get("more_body"):
                gone.set()

        scope = {
            "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST",
            "scheme": "http", "path": QUERY, "raw_path": QUERY.encode(), "query_string": b"",
            "root_path": "", "client": ("127.0.0.1", 5000), "server": ("127.0.0.1", 80),
            "headers": [
                (b"host", b"localhost"), (b"content-type", b"application/json"),
                (b"x-api-key", self.key.encode()),
                (b"content-length", str(sum(map(len, self.chunks))).encode()),
            ],
            "state": {},
        }  # fmt: skip
        async with self.app.router.lifespan_context(self.app):
            await asyncio.wait_for(self.app(scope, receive, send), timeout=60)
        return self.sent


def _status_and_body(sent: list[dict[str, Any]]) -> tuple[int | None, bytes]:
    status = next((m["status"] for m in sent if m["type"] == "http.response.start"), None)
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, body


def test_a_body_in_parts_is_read_whole(runtime: Runtime) -> None:
    app = create_app(runtime, close_runtime=False)
    counted = Counted(_lane(app).router)
    _lane(app).router = counted
    text = json.dumps(PLAIN).encode()
    assert runtime.api_key is not None
    sent = asyncio.run(_Asgi(app, runtime.api_key, [text[:5], text[5:20], text[20:]]).run())
    status, body = _status_and_body(sent)
    assert status == 200 and json.loads(body)["row_count"] == 3
    assert counted.handed_on == 0


def test_a_client_that_leaves_mid_body_is_the_routes_business(runtime: Runtime) -> None:
    text = json.dumps(PLAIN).encode()
    outcomes = []
    for keep in (True, False):
        app = create_app(runtime, close_runtime=False)
        if not keep:
            app.router.routes.remove(_lane(app))
        assert runtime.api_key is not None
        sent = asyncio.run(_Asgi(app, runtime.api_key, [text[:10]], leave=True).run())
        outcomes.append(_status_and_body(sent))
    assert outcomes[0] == outcomes[1]
    assert outcomes[0][0] != 200
