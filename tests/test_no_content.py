"""204 answers carry no body at all, so a keep-alive connection survives them.

Over a real uvicorn server: one httpx connection does a DELETE and then more requests on
the same socket; raw pipelined requests show nothing follows a 204's headers but the next
response; and the server log never says "Response content longer than Content-Length".
"""

from __future__ import annotations

import os
import socket
import threading
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import LiveServer, wait_until

# A query that runs until it is cancelled (the cancel test stops it).
ENDLESS = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
LOG_LINE = b"Response content longer than Content-Length"


def server_log(server: LiveServer) -> bytes:
    """What the server printed so far, read without moving the offset it writes at."""
    descriptor = server.log.fileno()
    return os.pread(descriptor, os.fstat(descriptor).st_size, 0)


def peer(response: httpx.Response) -> object:
    """The local address of the connection that carried ``response``."""
    return response.extensions["network_stream"].get_extra_info("client_addr")


@pytest.fixture
def one_connection(live_server: LiveServer) -> Iterator[httpx.Client]:
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    with live_server.client(limits=limits) as client:
        yield client


def add_saved(client: httpx.Client, name: str) -> None:
    body = {"name": name, "connection": "sample", "sql": "SELECT 1 AS one"}
    assert client.post("/saved-queries", json=body).status_code == 201


def test_delete_then_more_requests_on_one_keep_alive_connection(
    live_server: LiveServer, one_connection: httpx.Client
) -> None:
    client = one_connection
    first = client.get("/health")
    add_saved(client, "gone")
    deleted = client.delete("/saved-queries/gone")
    assert deleted.status_code == 204 and deleted.content == b""
    assert deleted.headers.get("content-length") in (None, "0")
    assert "content-type" not in deleted.headers
    after = client.get("/saved-queries")
    assert after.status_code == 200 and after.json() == []
    assert peer(first) == peer(deleted) == peer(after), "the connection was not kept alive"

    sample = live_server.data_dir / "sample.db"
    body = {"name": "doomed", "kind": "sqlite", "options": {"path": str(sample)}}
    assert client.post("/connections", json=body).status_code == 201
    removed = client.delete("/connections/doomed")
    assert removed.status_code == 204 and removed.content == b""
    listed = client.get("/connections")
    assert "doomed" not in listed.text
    assert peer(removed) == peer(listed) == peer(first)
    assert LOG_LINE not in server_log(live_server)


def test_cancel_answers_204_with_no_body(
    live_server: LiveServer, one_connection: httpx.Client
) -> None:
    answers: list[httpx.Response] = []

    def slow() -> None:
        with live_server.client() as other:
            answers.append(
                other.post("/connections/sample/query", json={"sql": ENDLESS, "timeout_s": 120})
            )

    worker = threading.Thread(target=slow)
    worker.start()
    try:
        wait_until(
            lambda: one_connection.get("/queries").json() != [],
            within_s=30,  # it shows at once; 30 s covers a loaded two-core machine
            what="the endless query in GET /queries",
        )
        (running,) = one_connection.get("/queries").json()
        cancelled = one_connection.delete(f"/queries/{running['query_id']}")
        assert cancelled.status_code == 204 and cancelled.content == b""
        again = one_connection.get("/health")
        assert again.status_code == 200 and peer(again) == peer(cancelled)
    finally:
        worker.join(60)
    assert answers and answers[0].status_code == 499, answers
    assert LOG_LINE not in server_log(live_server)


def test_pipelined_requests_after_a_204_are_answered_in_order(
    live_server: LiveServer, one_connection: httpx.Client
) -> None:
    add_saved(one_connection, "piped")
    port = int(live_server.url.rsplit(":", 1)[1])
    key = live_server.api_key.encode()
    request = (
        b"DELETE /saved-queries/piped HTTP/1.1\r\nHost: localhost\r\nX-API-KEY: "
        + key
        + b"\r\n\r\n"
        b"GET /health HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n"
    )
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    head, _, rest = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 204"), answer[:400]
    # Straight after the 204's blank line comes the next response: no "null", no bytes.
    assert rest.startswith(b"HTTP/1.1 200"), answer[:400]
    assert LOG_LINE not in server_log(live_server)
