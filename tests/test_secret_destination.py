"""A stored secret is only ever sent to the place it was saved for: a connection test or an
update that changes where the connection points (host, port, user, account, TLS, kind...)
must carry the secret again, and is refused with 422 before anything connects.

Each test points the changed connection at a real TCP listener on 127.0.0.1 that records
every connection and every byte. For PostgreSQL the listener plays the server far enough
to ask for the password in clear text (as a rogue server would); for Snowflake the password
travels in the sign-in request's body over plain HTTP. So on code that reuses the secret
the canary lands in the listener; here the listener must see no connection at all, and the
canary must appear in no response and no log line. Changes that do not move the secret
(another database, another warehouse) still reuse it: then the canary does reach the
listener, which is where the connection was saved.
"""

from __future__ import annotations

import contextlib
import logging
import socket
import struct
import threading
import zlib
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error
from tests.netdb import closed_port

CANARY = "canary-Zq7-secret-do-not-send"
LISTENER_READ_S = 3.0  # how long the listener waits for a client's next bytes
SSL_REQUEST, GSSENC_REQUEST = 80877103, 80877104


class Listener:
    """A TCP server on 127.0.0.1 that records connections and the bytes they send."""

    def __init__(self, *, postgres: bool = False) -> None:
        self.postgres = postgres
        self.connections = 0
        self.received = bytearray()
        self._server = socket.socket()
        self._server.bind(("127.0.0.1", 0))
        self._server.listen(16)
        self._server.settimeout(0.1)
        self.port = int(self._server.getsockname()[1])
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                connection, _ = self._server.accept()
            except OSError:
                continue
            self.connections += 1
            with connection:
                connection.settimeout(LISTENER_READ_S)
                with contextlib.suppress(OSError):
                    self._talk(connection)

    def _read(self, connection: socket.socket, size: int) -> bytes:
        data = b""
        while len(data) < size:
            chunk = connection.recv(size - len(data))
            if not chunk:
                break
            self.received += chunk  # kept at once: a timeout may end the wait for more
            data += chunk
        return data

    def _talk(self, connection: socket.socket) -> None:
        if not self.postgres:
            while self._read(connection, 4096):
                pass
            return
        while True:  # SSL and GSS requests are declined; then comes the startup message
            head = self._read(connection, 8)
            if len(head) < 8:
                return
            length, code = struct.unpack("!ii", head)
            if code in (SSL_REQUEST, GSSENC_REQUEST):
                connection.sendall(b"N")
                continue
            self._read(connection, length - 8)
            break
        connection.sendall(b"R" + struct.pack("!ii", 8, 3))  # AuthenticationCleartextPassword
        kind = self._read(connection, 5)
        if len(kind) == 5:
            self._read(connection, struct.unpack("!i", kind[1:])[0] - 4)

    def saw(self, secret: str) -> bool:
        """Whether ``secret`` arrived, as it was or inside a gzip body (Snowflake's)."""
        data = bytes(self.received)
        texts = [data]
        start = data.find(b"\x1f\x8b")
        while start != -1:
            with contextlib.suppress(zlib.error):
                texts.append(zlib.decompressobj(16 + zlib.MAX_WBITS).decompress(data[start:]))
            start = data.find(b"\x1f\x8b", start + 1)
        return any(secret.encode() in text for text in texts)

    def saw_canary(self) -> bool:
        return self.saw(CANARY)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._server.close()


@pytest.fixture
def listener() -> Iterator[Listener]:
    server = Listener()
    yield server
    server.close()


@pytest.fixture
def pg_listener() -> Iterator[Listener]:
    server = Listener(postgres=True)
    yield server
    server.close()


@pytest.fixture
def logged(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    caplog.set_level(logging.DEBUG, logger="connector")
    caplog.set_level(logging.INFO)
    return caplog


def network(kind: str, **options: Any) -> dict[str, Any]:
    base: dict[str, Any] = {"host": "127.0.0.1", "user": "alice", "connect_timeout_s": 2}
    return {**base, **options}


def snowflake(**options: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "account": "myorg-myaccount",
        "user": "analyst",
        "warehouse": "WH",
        "host": "127.0.0.1",
        "protocol": "http",
        "login_timeout_s": 2,
    }
    return {key: value for key, value in {**base, **options}.items() if value is not None}


def save(client: TestClient, kind: str, options: dict[str, Any]) -> None:
    body = {"name": "db", "kind": kind, "options": options, "secret": CANARY}
    response = client.post("/connections?test=false", json=body)
    assert response.status_code == 201, response.text


def refused(response: httpx.Response, changed: str) -> None:
    detail = assert_error(response, 422, "invalid_request")
    assert "again" in detail and changed in detail, detail
    assert CANARY not in response.text


def assert_refused_everywhere(
    client: TestClient, kind: str, options: dict[str, Any], changed: str
) -> None:
    """Test, update and update-untested with ``options`` and no secret: each refused, and
    the saved connection left as it was."""
    before = client.get("/connections/db").json()
    body = {"name": "db", "kind": kind, "options": options}
    refused(client.post("/connections/test", json=body), changed)
    refused(client.put("/connections/db", json=body), changed)
    refused(client.put("/connections/db?test=false", json=body), changed)
    assert client.get("/connections/db").json() == before


def assert_never_leaked(
    client: TestClient, server: Listener, caplog: pytest.LogCaptureFixture
) -> None:
    assert server.connections == 0, f"{server.connections} connection(s) reached the listener"
    assert not server.saw_canary()
    assert CANARY not in caplog.text
    assert CANARY not in client.get("/connections").text
    assert CANARY not in client.get("/history").text


# MySQL / MariaDB and PostgreSQL --------------------------------------------------------------


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_new_port_needs_the_secret_again(
    client: TestClient, listener: Listener, logged: pytest.LogCaptureFixture, kind: str
) -> None:
    save(client, kind, network(kind, port=closed_port()))
    assert_refused_everywhere(client, kind, network(kind, port=listener.port), "port")
    assert_never_leaked(client, listener, logged)


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_new_host_needs_the_secret_again(
    client: TestClient, listener: Listener, logged: pytest.LogCaptureFixture, kind: str
) -> None:
    save(client, kind, network(kind, host="db.example.invalid", port=listener.port))
    assert_refused_everywhere(client, kind, network(kind, port=listener.port), "host")
    # Spellings of the same kind of change: another address, a name for it, upper case.
    for host in ("127.0.0.1", "localhost", "DB.EXAMPLE.INVALID", "db.example.invalid."):
        body = {"name": "db", "kind": kind, "options": network(kind, host=host, port=listener.port)}
        refused(client.post("/connections/test", json=body), "host")
    assert_never_leaked(client, listener, logged)


@pytest.mark.parametrize("kind", ["mysql", "postgresql"])
def test_a_new_user_needs_the_secret_again(
    client: TestClient, listener: Listener, logged: pytest.LogCaptureFixture, kind: str
) -> None:
    # Same host and port as saved: the secret would go to the right server, but to sign in
    # as someone else; that is for whoever knows the password.
    save(client, kind, network(kind, port=listener.port))
    changed = network(kind, port=listener.port, user="mallory")
    assert_refused_everywhere(client, kind, changed, "user")
    assert_never_leaked(client, listener, logged)


def test_a_new_kind_or_weaker_tls_needs_the_secret_again(
    client: TestClient, listener: Listener, logged: pytest.LogCaptureFixture
) -> None:
    save(client, "mysql", network("mysql", port=listener.port))
    assert_refused_everywhere(
        client, "postgresql", network("postgresql", port=listener.port), "kind"
    )
    client.delete("/connections/db")
    save(client, "postgresql", network("postgresql", port=listener.port, sslmode="require"))
    assert_refused_everywhere(
        client,
        "postgresql",
        network("postgresql", port=listener.port, sslmode="disable"),
        "sslmode",
    )
    client.delete("/connections/db")
    save(client, "mysql", network("mysql", port=listener.port, ssl={}))
    assert_refused_everywhere(client, "mysql", network("mysql", port=listener.port), "ssl")
    assert_never_leaked(client, listener, logged)


def test_several_changes_are_all_named(client: TestClient, listener: Listener) -> None:
    save(client, "postgresql", network("postgresql", port=closed_port()))
    body = {
        "name": "db",
        "kind": "postgresql",
        "options": network("postgresql", host="localhost", port=listener.port, user="bob"),
    }
    detail = assert_error(client.post("/connections/test", json=body), 422, "invalid_request")
    assert "host" in detail and "port" in detail and "user" in detail, detail
    assert listener.connections == 0


def test_a_change_that_keeps_the_destination_reuses_the_secret(
    client: TestClient, pg_listener: Listener, logged: pytest.LogCaptureFixture
) -> None:
    # Saved pointing at the listener: the listener *is* where the secret belongs.
    save(client, "postgresql", network("postgresql", port=pg_listener.port, database="d1"))
    for options in (
        network("postgresql", port=pg_listener.port, database="d1"),
        network("postgresql", port=pg_listener.port, database="other"),
        network("postgresql", port=pg_listener.port, database="d1", connect_timeout_s=3),
    ):
        body = {"name": "db", "kind": "postgresql", "options": options}
        response = client.post("/connections/test", json=body)
        assert response.status_code == 502, response.text  # the listener is no PostgreSQL
        assert CANARY not in response.text
    assert pg_listener.saw_canary(), "the secret was not reused where it was saved"
    assert CANARY not in logged.text


def test_a_change_that_carries_the_secret_sends_that_one(
    client: TestClient, pg_listener: Listener, logged: pytest.LogCaptureFixture
) -> None:
    save(client, "postgresql", network("postgresql", port=closed_port()))
    body = {
        "name": "db",
        "kind": "postgresql",
        "options": network("postgresql", port=pg_listener.port),
        "secret": "the-new-one",
    }
    assert client.post("/connections/test", json=body).status_code == 502
    assert pg_listener.saw("the-new-one") and not pg_listener.saw_canary()
    assert CANARY not in logged.text


def test_the_rogue_server_really_would_get_the_password(pg_listener: Listener) -> None:
    # The listener is a fair trap: a client that does send the password hands it over.
    import psycopg

    with pytest.raises(psycopg.Error):
        psycopg.connect(
            host="127.0.0.1",
            port=pg_listener.port,
            user="alice",
            password=CANARY,
            connect_timeout=5,
        )
    assert pg_listener.saw_canary()


# Snowflake -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("saved", "changed", "name"),
    [
        ({"port": "closed"}, {}, "port"),
        ({"host": "sf.example.invalid"}, {"host": "127.0.0.1"}, "host"),
        ({"account": "otherorg-other"}, {}, "account"),
        ({"protocol": "https"}, {"protocol": "http"}, "protocol"),
        ({"user": "owner"}, {}, "user"),
        ({"authenticator": "externalbrowser", "user": "analyst"}, {}, "authenticator"),
    ],
    ids=["port", "host", "account", "protocol", "user", "authenticator"],
)
def test_snowflake_changes_that_move_the_secret_need_it_again(
    client: TestClient,
    listener: Listener,
    logged: pytest.LogCaptureFixture,
    saved: dict[str, Any],
    changed: dict[str, Any],
    name: str,
) -> None:
    stored = {**saved, "port": closed_port() if saved.get("port") == "closed" else listener.port}
    save(client, "snowflake", snowflake(**stored))
    assert_refused_everywhere(client, "snowflake", snowflake(port=listener.port, **changed), name)
    assert_never_leaked(client, listener, logged)


def test_snowflake_warehouse_or_role_change_reuses_the_secret(
    client: TestClient, listener: Listener, logged: pytest.LogCaptureFixture
) -> None:
    save(client, "snowflake", snowflake(port=listener.port))
    body = {
        "name": "db",
        "kind": "snowflake",
        "options": snowflake(port=listener.port, warehouse="OTHER_WH", role="READER"),
    }
    response = client.post("/connections/test", json=body)
    assert response.status_code == 502, response.text
    assert CANARY not in response.text and CANARY not in logged.text
    assert listener.saw_canary(), "the secret was not reused where it was saved"
