"""The running queries of every server process, through the shared metadata store.

With several workers or replicas a request to list or cancel queries reaches any one
process, while each query runs in (and can only be stopped by) the process that took it.
``SharedRunningQueries`` keeps the local registry of ``connector.running`` and publishes
it: a background thread writes this process's running queries to the ``running_queries``
table every ``TICK_S`` while it has any (a query done before the next tick is never
written, so short queries cost nothing), refreshes their ``seen_at``, and stops the ones
another process asked to cancel (``cancel_requested``). Listing reads every process's
rows that are fresh; a process that died leaves rows that go stale and are removed.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
import threading
import time

from sqlalchemy import Boolean, Column, Float, String, Table, Text, delete, insert, select, update
from sqlalchemy import false as sql_false

from connector.models import RunningQueryInfo
from connector.running import QueryControl, RunningQueries
from connector.store import Store, metadata

log = logging.getLogger(__name__)

# How often a process with running queries publishes them and reads cancel requests: the
# delay before another process lists a new query or a cancel reaches it.
TICK_S = 0.25
# A row not refreshed for this long belongs to a process that is gone (it refreshes every
# TICK_S); generous, since replicas' clocks and a loaded machine's ticks drift.
STALE_S = 30.0

running_queries_table = Table(
    "running_queries",
    metadata,
    Column("query_id", String(40), primary_key=True),
    Column("owner", String(64), nullable=False, index=True),
    Column("connection", String(64), nullable=False),
    Column("sql", Text, nullable=False),
    Column("started_at", String(40), nullable=False),
    Column("client", String(200)),
    Column("caller", String(64)),
    Column("seen_at", Float, nullable=False),
    Column("cancel_requested", Boolean, nullable=False, server_default=sql_false()),
)


def process_name() -> str:
    """This process's name on the board: host, pid and a random part (pids are reused)."""
    return f"{socket.gethostname()[:40]}:{os.getpid()}:{secrets.token_hex(3)}"


class SharedRunningQueries(RunningQueries):
    """The local registry, published to the store for the other processes."""

    def __init__(
        self, store: Store, owner: str | None = None, *, demote_after_s: float | None = None
    ) -> None:
        super().__init__(demote_after_s=demote_after_s)
        self.store = store
        self.owner = owner or process_name()
        self._published: set[str] = set()
        self._board_wake = threading.Condition()
        self._board_closed = False
        self._board: threading.Thread | None = None

    def add(self, control: QueryControl) -> None:
        super().add(control)
        with self._board_wake:
            if self._board is None and not self._board_closed:
                self._board = threading.Thread(target=self._publish_loop, name="running-board")
                self._board.daemon = True
                self._board.start()
            self._board_wake.notify()

    def list(self) -> list[RunningQueryInfo]:
        local = super().list()
        mine = {info.query_id for info in local}
        table = running_queries_table
        now = time.time()
        try:
            with self.store.engine.connect() as connection:
                rows = connection.execute(
                    select(table)
                    .where(table.c.seen_at > now - STALE_S)
                    .order_by(table.c.started_at)
                ).all()
        except Exception:  # the board is a convenience; local queries are still listed
            log.warning("could not read the other processes' running queries", exc_info=True)
            return local
        others = [
            RunningQueryInfo(
                query_id=row.query_id,
                connection=row.connection,
                sql=row.sql,
                started_at=row.started_at,
                elapsed_ms=round(_elapsed_ms(row.started_at), 1),
                client=row.client,
                caller=row.caller,
            )
            for row in rows
            if row.query_id not in mine and row.owner != self.owner
        ]
        return [*local, *others]

    def cancel(self, query_id: str) -> bool:
        if super().cancel(query_id):
            return True
        table = running_queries_table
        with self.store.transaction() as connection:
            result = connection.execute(
                update(table)
                .where(table.c.query_id == query_id, table.c.seen_at > time.time() - STALE_S)
                .values(cancel_requested=True)
            )
        return bool(result.rowcount)

    def close(self) -> None:
        with self._board_wake:
            self._board_closed = True
            board, self._board = self._board, None
            self._board_wake.notify()
        super().close()
        if board is not None:
            board.join(timeout=5)
        try:
            self._publish(set())
        except Exception:
            log.warning("could not clear this process's running queries", exc_info=True)

    # the publisher ----------------------------------------------------------------------

    def _local(self) -> dict[str, QueryControl]:
        with self._wake:
            return dict(self._queries)

    def _publish_loop(self) -> None:
        while True:
            with self._board_wake:
                if self._board_closed:
                    return
                if not self._local() and not self._published:
                    self._board_wake.wait()
                    continue
                self._board_wake.wait(timeout=TICK_S)
                if self._board_closed:
                    return
            try:
                self._publish(set(self._local()))
            except Exception:  # the store may be briefly unreachable; try again next tick
                log.warning("could not publish the running queries", exc_info=True)

    def _publish(self, running: set[str]) -> None:
        """Write this process's running queries, drop finished ones, act on cancels."""
        table = running_queries_table
        local = self._local()
        now = time.time()
        to_cancel: list[str] = []
        with self.store.transaction() as connection:
            gone = self._published - running
            if gone:
                connection.execute(delete(table).where(table.c.query_id.in_(gone)))
            new = [local[q] for q in running - self._published if q in local]
            if new:
                connection.execute(
                    insert(table),
                    [
                        {
                            "query_id": c.query_id,
                            "owner": self.owner,
                            "connection": c.connection,
                            "sql": c.sql,
                            "started_at": c.started_at.isoformat(timespec="milliseconds"),
                            "client": c.client,
                            "caller": c.caller,
                            "seen_at": now,
                            "cancel_requested": False,
                        }
                        for c in new
                    ],
                )
            if running:
                connection.execute(
                    update(table).where(table.c.owner == self.owner).values(seen_at=now)
                )
                to_cancel = list(
                    connection.scalars(
                        select(table.c.query_id).where(
                            table.c.owner == self.owner, table.c.cancel_requested.is_(True)
                        )
                    )
                )
            connection.execute(delete(table).where(table.c.seen_at < now - 2 * STALE_S))
        self._published = set(running)
        for query_id in to_cancel:
            control = local.get(query_id)
            if control is not None:
                log.info("query %s cancelled through another server process", query_id)
                control.cancel()


def _elapsed_ms(started_at: str) -> float:
    from datetime import UTC, datetime

    try:
        started = datetime.fromisoformat(started_at)
    except ValueError:
        return 0.0
    return max(0.0, (datetime.now(UTC) - started).total_seconds() * 1000)
