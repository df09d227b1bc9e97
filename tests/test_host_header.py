"""The Host allow-list (the DNS-rebinding guard) parses the header strictly, as RFC 7230
(``Host = uri-host [ ":" port ]``) and RFC 3986 (an IPv6 address only whole, in brackets)
say: anything else, and any request with more than one Host header, is 421 ``bad_host``.

The guard is checked three ways: straight through its ASGI interface (raw header bytes,
duplicates and all), through the app in process, and over a real uvicorn server with raw
sockets, so no client library tidies a header up before it is sent.
"""

from __future__ import annotations

import asyncio
import socket
from typing import Any

import orjson
import pytest
from fastapi.testclient import TestClient

from connector.security import GuardMiddleware, host_name
from tests.conftest import LiveServer, assert_error

ALLOWED = [
    "localhost",
    "localhost:7800",
    "LOCALHOST:7800",
    "LocalHost",
    "127.0.0.1",
    "127.0.0.1:1",
    "127.0.0.1:65535",
    "[::1]",
    "[::1]:7800",
    "[0:0:0:0:0:0:0:1]:7800",  # the same address, written out
    "[::0001]",
    " localhost:7800 ",  # optional whitespace around a field value is not part of it
    "\tlocalhost",
    "myhost.lan",  # configured
    "MYHOST.LAN:443",
]
REFUSED = [
    # userinfo, or something made to look like it
    "localhost:7800@evil.example",
    "user@localhost",
    "user:pass@localhost:7800",
    "evil.example@localhost",
    "localhost@evil.example",
    "@localhost",
    # brackets: an IPv6 address only as a whole
    "[::1].evil.example",
    "[::1]evil",
    "[::1]evil.example:7800",
    "[::1]:7800evil",
    "[::1]:7800.evil.example",
    "[::1",
    "::1]",
    "::1",
    "::1:7800",
    "[[::1]]",
    "[]",
    "[]:7800",
    "[localhost]",
    "[127.0.0.1]",
    "[::ffff:127.0.0.1]",
    "[::2]",
    # IPv6 zone ids
    "[fe80::1%25eth0]",
    "[::1%25lo]",
    "[::1%lo]:7800",
    # trailing and doubled dots
    "localhost.",
    "localhost.:7800",
    "localhost..",
    ".localhost",
    "127.0.0.1.",
    "myhost.lan.",
    # spaces and controls inside
    "local host",
    "localhost :7800",
    "localhost: 7800",
    "localhost:7800 evil",
    "localhost\t:7800",
    "localhost,evil.example",
    "localhost;evil.example",
    "localhost/evil",
    "localhost\\evil",
    "localhost#evil",
    "localhost?evil",
    "localhost%2eevil.example",
    "http://localhost",
    "localhost\x00evil",
    # ports: digits only, one of them
    "localhost:",
    "localhost:abc",
    "localhost:-1",
    "localhost:+80",
    "localhost:80:80",
    "localhost:0x50",
    "localhost:65536",
    "localhost:123456",
    "localhost:\u0663\u0664",  # Arabic-Indic digits: digits to str.isdigit, not to HTTP
    "localhost:٣",
    "127.0.0.1:7800:",
    # other spellings of loopback that are not in the list
    "127.1",
    "2130706433",
    "0x7f.0.0.1",
    "127.0.0.01",
    "localhost.localdomain",
    "evil.example",
    "127.0.0.1.nip.io",
    "localhost.evil.example",
    "xn--localhost",
    "\uff4c\uff4f\uff43\uff41\uff4c\uff48\uff4f\uff53\uff54",  # "localhost", fullwidth
    # empty
    "",
    "   ",
    ":7800",
]


async def _ok_app(scope: Any, receive: Any, send: Any) -> None:
    await send({"type": "http.response.start", "status": 200, "headers": []})
    await send({"type": "http.response.body", "body": b"ok"})


def _status(headers: list[tuple[bytes, bytes]]) -> tuple[int, bytes]:
    """Send one request with exactly these raw headers through the guard."""
    guard = GuardMiddleware(
        _ok_app, api_key=lambda: None, cors_origins=(), allowed_hosts=["myhost.lan"]
    )
    scope = {"type": "http", "method": "GET", "path": "/health", "headers": headers}
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    asyncio.run(guard(scope, receive, send))
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return sent[0]["status"], body


@pytest.mark.parametrize("host", ALLOWED)
def test_guard_accepts_the_allowed_hosts(host: str) -> None:
    assert _status([(b"host", host.encode("latin-1"))])[0] == 200


@pytest.mark.parametrize("host", REFUSED)
def test_guard_refuses_anything_else_with_421(host: str) -> None:
    status, body = _status([(b"host", host.encode("utf-8"))])
    assert status == 421, host
    assert orjson.loads(body)["code"] == "bad_host"


@pytest.mark.parametrize(
    "hosts",
    [
        ["localhost", "evil.example"],
        ["evil.example", "localhost"],
        ["localhost", "localhost"],
        ["localhost:7800", "127.0.0.1:7800"],
        ["localhost", ""],
    ],
)
def test_guard_refuses_more_than_one_host_header(hosts: list[str]) -> None:
    headers = [(b"host", host.encode()) for host in hosts]
    status, body = _status([(b"accept", b"*/*"), *headers])
    assert status == 421
    assert orjson.loads(body)["code"] == "bad_host"


def test_guard_refuses_a_request_without_a_host() -> None:
    assert _status([(b"accept", b"*/*")])[0] == 421


def test_host_name_parses_strictly() -> None:
    assert host_name("LOCALHOST:7800") == "localhost"
    assert host_name("[0:0:0:0:0:0:0:1]:80") == "::1"
    assert host_name("127.0.0.1") == "127.0.0.1"
    for bad in ("localhost:7800@evil.example", "[::1].evil.example", "[::1]evil", "::1", ""):
        assert host_name(bad) is None, bad


@pytest.mark.parametrize(
    "host", ["localhost:7800@evil.example", "[::1].evil.example", "[::1]evil", "localhost."]
)
def test_app_refuses_hostile_hosts_on_every_path(client: TestClient, host: str) -> None:
    for path in ("/health", "/connections", "/widgets.json"):
        assert_error(client.get(path, headers={"Host": host}), 421, "bad_host")


def _raw(server: LiveServer, request: bytes) -> bytes:
    """One raw HTTP/1.1 request to the live server; everything it answers."""
    port = int(server.url.rsplit(":", 1)[1])
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


@pytest.mark.parametrize(
    "host_lines",
    [
        [b"Host: localhost:7800@evil.example"],
        [b"Host: [::1].evil.example"],
        [b"Host: [::1]evil"],
        [b"Host: localhost", b"Host: evil.example"],
        [b"Host: evil.example", b"Host: localhost"],
        [b"Host: localhost."],
        [b"Host: localhost:80:80"],
    ],
)
def test_live_server_refuses_hostile_hosts(
    live_server: LiveServer, host_lines: list[bytes]
) -> None:
    request = (
        b"GET /connections HTTP/1.1\r\n"
        + b"\r\n".join(host_lines)
        + b"\r\nX-API-KEY: "
        + live_server.api_key.encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    answer = _raw(live_server, request)
    status_line, _, rest = answer.partition(b"\r\n")
    assert status_line.split()[1] == b"421", answer[:300]
    body = orjson.loads(rest.split(b"\r\n\r\n", 1)[1])
    assert body["code"] == "bad_host" and "sample" not in str(body)


def test_live_server_still_answers_localhost(live_server: LiveServer) -> None:
    request = (
        b"GET /connections HTTP/1.1\r\nHost: localhost:7800\r\nX-API-KEY: "
        + live_server.api_key.encode()
        + b"\r\nConnection: close\r\n\r\n"
    )
    assert _raw(live_server, request).split(b"\r\n", 1)[0].split()[1] == b"200"
