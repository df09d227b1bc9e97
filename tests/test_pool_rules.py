"""The network kinds' pool rules (``connector.backends.network.pool_rules``), on an SQLite
engine whose connections each carry a socket pair standing in for the server's socket: a
pooled connection is pinged only when its socket stirred or it sat idle, a failed ping
gets a new connection, and the rollback on return is skipped only after a clean session.
The same rules on the real servers: ``tests/test_read_only_isolation.py`` (a session the
server ended is replaced)."""

from __future__ import annotations

import socket
import sqlite3
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine
from sqlalchemy.pool import QueuePool

from connector.backends import network
from connector.backends.network import mark_clean, pool_rules


class FakeServerConnection(sqlite3.Connection):
    """An SQLite connection with a socket pair: ``server`` is the far end."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.server, self.client = socket.socketpair()
        self.rollbacks = 0

    def rollback(self) -> None:
        self.rollbacks += 1
        super().rollback()

    def close(self) -> None:
        self.server.close()
        self.client.close()
        super().close()


class Pings:
    def __init__(self) -> None:
        self.count = 0
        self.fail = False

    def __call__(self, _dbapi_connection: Any) -> bool:
        self.count += 1
        if self.fail:
            raise sqlite3.OperationalError("the server went away")
        return True


@pytest.fixture
def engine() -> Iterator[tuple[Engine, Pings]]:
    engine = create_engine(
        "sqlite://",
        creator=lambda: sqlite3.connect(
            ":memory:", factory=FakeServerConnection, check_same_thread=False
        ),
        poolclass=QueuePool,
        pool_size=1,
        max_overflow=0,
        pool_pre_ping=False,
        pool_reset_on_return=None,
    )
    pool_rules(engine, lambda connection: connection.client.fileno())
    pings = Pings()
    engine.dialect.do_ping = pings  # type: ignore[method-assign]
    yield engine, pings
    engine.dispose()


def checked_out(engine: Engine) -> FakeServerConnection:
    raw = engine.raw_connection()
    connection = raw.driver_connection
    assert isinstance(connection, FakeServerConnection)
    raw.close()
    return connection


def test_a_quiet_pooled_connection_is_handed_out_without_a_ping(
    engine: tuple[Engine, Pings],
) -> None:
    engine_, pings = engine
    first = checked_out(engine_)  # just connected: nothing to check
    assert checked_out(engine_) is first
    assert checked_out(engine_) is first
    assert pings.count == 0


def test_a_stirred_socket_is_pinged_and_a_failed_ping_gets_a_new_connection(
    engine: tuple[Engine, Pings],
) -> None:
    engine_, pings = engine
    first = checked_out(engine_)
    first.server.sendall(b"E")  # what a server sends before it hangs up: an error
    assert checked_out(engine_) is first  # the ping answered: kept
    assert pings.count == 1
    first.server.close()  # hung up: end of file on the socket
    pings.fail = True
    second = checked_out(engine_)
    assert second is not first
    assert pings.count == 2
    pings.fail = False
    assert checked_out(engine_) is second
    assert pings.count == 2  # the new one is quiet


def test_a_connection_idle_past_the_bound_is_pinged(
    engine: tuple[Engine, Pings], monkeypatch: pytest.MonkeyPatch
) -> None:
    engine_, pings = engine
    first = checked_out(engine_)
    monkeypatch.setattr(network, "PING_IDLE_S", 0.0)
    assert checked_out(engine_) is first
    assert pings.count == 1


def test_the_rollback_on_return_is_skipped_only_after_a_clean_session(
    engine: tuple[Engine, Pings],
) -> None:
    engine_, _ = engine
    connection = checked_out(engine_)  # the first connect's own work done
    before = connection.rollbacks
    raw = engine_.raw_connection()
    raw.close()
    assert connection.rollbacks == before + 1  # no session said it ended clean
    raw = engine_.raw_connection()
    mark_clean(raw.driver_connection)
    raw.close()
    assert connection.rollbacks == before + 1
    raw = engine_.raw_connection()  # a use without a session (a schema read, say)
    raw.close()
    assert connection.rollbacks == before + 2
