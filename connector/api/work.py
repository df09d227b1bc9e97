"""Where a request's blocking work runs, so that no kind of work waits behind another.

Three thread limiters, one ``Pools`` per app (``app.state.pools``):

- ``user``: user SQL (``/query``, saved-query runs, widget and table data, dropdowns,
  ``/widgets.json``'s column probes, MCP tools), ``worker_threads`` threads;
- ``control``: control and metadata (``/connections`` list and get, ``/queries``, cancel,
  ``/kinds``, ``/history``) and stopping a query whose client left, a few threads that
  user queries never hold;
- ``exports``: at most ``EXPORTS_PER_CONNECTION`` exports of one connection at once,
  each on a thread of its own (``connector.api.export_stream``), so an export neither
  takes nor waits for the others' threads, and exports never hold every connection of a
  pool: one waiting for its turn waits on the event loop, holding no thread and no
  connection.

Small SQLite reads may run on the event loop itself (``Connector.run_quick``), within
``LoopBudget``: at most half of each 50 ms of the loop's time, so a burst of them (200
clients at once) never holds ``/health``, cancels or other requests' I/O for longer than
that; past the budget they take the user limiter like any query.

Anything else (saving connections, schemas, saved-query CRUD) stays on anyio's default
limiter; ``/health`` is async and needs no thread; key checks have the guard's own limiter
(``connector.security``).

``run_user`` also watches the request's ASGI ``receive`` for ``http.disconnect`` while the
work runs: a client that goes away fires the work's ``StopSignal`` on the control
limiter, which stops its query in the database (``connector.running``).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.types import Receive

from connector.running import StopSignal, current_stop

T = TypeVar("T")
Ts = TypeVarTuple("Ts")

CONTROL_THREADS = 4
# Exports of one connection running at once, each holding a thread and a connection: the
# network kinds' pools hold 10 (connector.backends.network), so five leave the other
# five for the user pool's queries and schema reads.
EXPORTS_PER_CONNECTION = 5
# The event loop's time small reads may take: LOOP_SHARE of each LOOP_WINDOW_S.
LOOP_WINDOW_S = 0.05
LOOP_SHARE = 0.5


class LoopBudget:
    """How much of the event loop's time work run on it may take, window by window.

    ``run`` calls the work while this window's share is not spent, else returns None (the
    caller then runs it on a thread). Used on the event loop only, so it needs no lock.
    """

    def __init__(
        self,
        window_s: float = LOOP_WINDOW_S,
        share: float = LOOP_SHARE,
        clock: Callable[[], float] = time.perf_counter,
    ) -> None:
        self.window_s = window_s
        self.allowance_s = window_s * share
        self._clock = clock
        self._window_started = -window_s
        self._used_s = 0.0

    def run(self, work: Callable[[Unpack[Ts]], T | None], *args: *Ts) -> T | None:
        now = self._clock()
        if now - self._window_started >= self.window_s:
            self._window_started = now
            self._used_s = 0.0
        if self._used_s >= self.allowance_s:
            return None
        try:
            return work(*args)
        finally:
            self._used_s += self._clock() - now


@dataclass(frozen=True)
class Pools:
    """The app's thread limiters, one per kind of work."""

    user: anyio.CapacityLimiter
    control: anyio.CapacityLimiter
    loop: LoopBudget = field(default_factory=LoopBudget)
    _exports: dict[str, anyio.CapacityLimiter] = field(default_factory=dict)

    def exports(self, connection: str) -> anyio.CapacityLimiter:
        """The export places of ``connection`` (used on the event loop only)."""
        limiter = self._exports.get(connection)
        if limiter is None:
            limiter = self._exports[connection] = anyio.CapacityLimiter(EXPORTS_PER_CONNECTION)
        return limiter


def make_pools(user_threads: int) -> Pools:
    return Pools(
        user=anyio.CapacityLimiter(user_threads),
        control=anyio.CapacityLimiter(CONTROL_THREADS),
    )


def pools_of(request: Request) -> Pools:
    pools: Pools = request.app.state.pools
    return pools


async def client_gone(receive: Receive) -> None:
    """Return once the request's client has gone away.

    Only for a request whose body has been read (FastAPI reads it before the handler
    runs) or that has none: what comes before the disconnect is the body's last part."""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def stop_when_gone(receive: Receive, signal: StopSignal, pools: Pools) -> None:
    """Fire ``signal`` (on the control limiter: cancel hooks block) when the client leaves."""
    await client_gone(receive)
    await anyio.to_thread.run_sync(signal.stop, limiter=pools.control)


async def run_user(
    pools: Pools,
    receive: Receive | None,
    work: Callable[[Unpack[Ts]], T],
    *args: *Ts,
) -> T:
    """``work(*args)`` on the user limiter; with ``receive``, its queries are stopped in
    the database if the client goes away before it ends."""
    signal = StopSignal()
    token = current_stop.set(signal)  # the worker thread runs in a copy of this context
    failure: Exception | None = None
    try:
        async with anyio.create_task_group() as group:
            if receive is not None:
                group.start_soon(stop_when_gone, receive, signal, pools)
            try:
                result = await anyio.to_thread.run_sync(work, *args, limiter=pools.user)
            except Exception as exc:  # raised below, not wrapped in the group's ExceptionGroup
                failure = exc
            group.cancel_scope.cancel()
    finally:
        current_stop.reset(token)
    if failure is not None:
        raise failure
    return result


async def run_control(pools: Pools, work: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``work(*args)`` on the control limiter, which user queries never hold."""
    return await anyio.to_thread.run_sync(work, *args, limiter=pools.control)
