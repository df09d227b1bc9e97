"""Where a request's blocking work runs, so that no kind of work waits behind another.

Three thread limiters, one ``Pools`` per app (``app.state.pools``):

- ``user``: user SQL (``/query``, saved-query runs, widget and table data, dropdowns,
  ``/widgets.json``'s column probes, MCP tools), ``worker_threads`` at once, on
  ``UserThreads``: threads of their own that may be demoted (``connector.priority``) when
  a query runs long, and retire after the task during which that happened;
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
that; past the budget they wait on the loop for a later window, in order, and only when
``LOOP_MAX_WAITING`` wait already do they take the user limiter like any query.

Anything else (saving connections, schemas, saved-query CRUD) stays on anyio's default
limiter; ``/health`` is async and needs no thread; key checks have the guard's own limiter
(``connector.security``).

``run_user`` also watches the request's ASGI ``receive`` for ``http.disconnect`` while the
work runs: a client that goes away fires the work's ``StopSignal`` on the control
limiter, which stops its query in the database (``connector.running``).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import contextvars
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, TypeVarTuple, Unpack

import anyio
import anyio.to_thread
from starlette.requests import Request
from starlette.types import Receive

from connector.priority import open_lane
from connector.running import StopSignal, current_stop

log = logging.getLogger(__name__)

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
# Small reads that may wait on the loop for a later window; past that they take a thread.
LOOP_MAX_WAITING = 32
# A user-query thread with no work for this long ends (anyio's worker threads do the same).
IDLE_THREAD_S = 10.0


class LoopBudget:
    """How much of the event loop's time work run on it may take, window by window.

    ``run_in_turn`` calls the work while this window's share is not spent; past it, the
    work waits for a later window, in order of arrival, while fewer than ``max_waiting``
    reads wait, else it gets None (the caller then runs it on a thread). Waiting beats a
    thread: a small read on a thread waits for the GIL behind the loop on every row
    (measured: a fifth of the small SQLite reads at 16 connections went to threads, and
    they made the p99). Used on the event loop only, so it needs no lock.
    """

    def __init__(
        self,
        window_s: float = LOOP_WINDOW_S,
        share: float = LOOP_SHARE,
        clock: Callable[[], float] = time.perf_counter,
        max_waiting: int = LOOP_MAX_WAITING,
    ) -> None:
        self.window_s = window_s
        self.allowance_s = window_s * share
        self.max_waiting = max_waiting
        self._clock = clock
        self._window_started = -window_s
        self._used_s = 0.0
        self._waiting: collections.deque[asyncio.Future[None]] = collections.deque()
        self._next_window: asyncio.TimerHandle | None = None

    async def run_in_turn(self, work: Callable[[Unpack[Ts]], T | None], *args: *Ts) -> T | None:
        """``work(*args)`` on the loop, in this window or (waiting in line) a later one;
        None when ``max_waiting`` reads wait already, or when ``work`` gives None."""
        if self._waiting or self._spent():
            if len(self._waiting) >= self.max_waiting:
                return None
            turn = asyncio.get_running_loop().create_future()
            self._waiting.append(turn)
            self._wake_later()
            try:
                await turn
            except BaseException:
                if turn in self._waiting:
                    self._waiting.remove(turn)
                else:  # its turn had come: the next one takes it
                    self._wake_next()
                raise
        try:
            return self._timed(work, *args)
        finally:
            self._wake_next()

    def _spent(self) -> bool:
        now = self._clock()
        if now - self._window_started >= self.window_s:
            self._window_started = now
            self._used_s = 0.0
        return self._used_s >= self.allowance_s

    def _timed(self, work: Callable[[Unpack[Ts]], T | None], *args: *Ts) -> T | None:
        started = self._clock()
        try:
            return work(*args)
        finally:
            self._used_s += self._clock() - started

    def _wake_next(self) -> None:
        """Give the first waiting read its turn, now if this window has room, else when
        the next window starts."""
        while self._waiting and self._waiting[0].done():  # cancelled while waiting
            self._waiting.popleft()
        if not self._waiting:
            return
        if self._spent():
            self._wake_later()
        else:
            self._waiting.popleft().set_result(None)

    def _wake_later(self) -> None:
        if self._next_window is None:
            delay = max(0.0, self._window_started + self.window_s - self._clock())
            self._next_window = asyncio.get_running_loop().call_later(delay, self._new_window)

    def _new_window(self) -> None:
        self._next_window = None
        self._wake_next()


class _Job:
    """One call to run on a user-query thread, and the future its outcome settles."""

    def __init__(
        self,
        loop: asyncio.AbstractEventLoop,
        future: asyncio.Future[Any],
        context: contextvars.Context,
        work: Callable[..., Any],
        args: tuple[Any, ...],
    ) -> None:
        self.loop = loop
        self.future = future
        self.context = context
        self.work = work
        self.args = args

    def run(self) -> tuple[bool, Any]:
        """Call the work: (True, its result) or (False, the exception it raised)."""
        try:
            return (True, self.context.run(self.work, *self.args))
        except BaseException as exc:  # handed to the awaiting task, raised there
            return (False, exc)

    def settle(self, outcome: tuple[bool, Any]) -> None:
        """Hand the outcome to the awaiting task."""
        with contextlib.suppress(RuntimeError):  # the event loop is closed: the server stopped
            self.loop.call_soon_threadsafe(_settle, self.future, outcome)


def _settle(future: asyncio.Future[Any], outcome: tuple[bool, Any]) -> None:
    if future.cancelled():
        return
    ok, value = outcome
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class UserThreads:
    """The threads user SQL runs on. Each carries a ``Lane``: idle threads are reused,
    but one demoted during a task ends after it, and a new thread (made by the event
    loop's thread, so at its priority) takes its place. How many run at once is the
    user limiter's business."""

    def __init__(self, idle_s: float = IDLE_THREAD_S) -> None:
        self._idle_s = idle_s
        self._idle: list[queue.SimpleQueue[_Job | None]] = []
        self._lock = threading.Lock()

    async def run(self, work: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
        """``work(*args)`` on a user-query thread, in a copy of this context; like
        ``anyio.to_thread.run_sync``, the wait is not cancelled before the work ends."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        job = _Job(loop, future, contextvars.copy_context(), work, args)
        with self._lock:
            jobs = self._idle.pop() if self._idle else None
        if jobs is None:
            jobs = queue.SimpleQueue()
            threading.Thread(
                target=self._serve, args=(jobs,), name="user-query", daemon=True
            ).start()
        jobs.put(job)
        with anyio.CancelScope(shield=True):
            result = await future
        return result

    def close(self) -> None:
        """End the idle threads."""
        with self._lock:
            idle, self._idle = self._idle, []
        for jobs in idle:
            jobs.put(None)

    def _serve(self, jobs: queue.SimpleQueue[_Job | None]) -> None:
        lane = open_lane()
        while True:
            try:
                job = jobs.get(timeout=self._idle_s)
            except queue.Empty:
                with self._lock:
                    if jobs in self._idle:  # else a job is being handed over: take it
                        self._idle.remove(jobs)
                        return
                continue
            if job is None:
                return
            lane.begin()
            outcome = job.run()
            # Demoted: its priority cannot be raised again, so it runs nothing else. Else
            # it is idle again before the caller hears back, so the caller's next call
            # finds it.
            demoted = lane.end()
            if not demoted:
                with self._lock:
                    self._idle.append(jobs)
            job.settle(outcome)
            del job, outcome
            if demoted:
                return


@dataclass(frozen=True)
class Pools:
    """The app's thread limiters, one per kind of work."""

    user: anyio.CapacityLimiter
    control: anyio.CapacityLimiter
    loop: LoopBudget = field(default_factory=LoopBudget)
    threads: UserThreads = field(default_factory=UserThreads)
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
    the database if the client goes away before it ends.

    The watch on the client is a plain task, cancelled when the work ends: an anyio task
    group's cancel formatted the repr of the task it cancelled from, on every request
    (measured: 6% of the event loop's time on small network queries)."""
    signal = StopSignal()
    token = current_stop.set(signal)  # the worker thread runs in a copy of this context
    watch: asyncio.Task[None] | None = None
    try:
        if receive is not None:
            watch = asyncio.get_running_loop().create_task(
                _watch(receive, signal, pools), name="client-watch"
            )
        async with pools.user:
            return await pools.threads.run(work, *args)
    finally:
        current_stop.reset(token)
        if watch is not None:
            watch.cancel()


async def _watch(receive: Receive, signal: StopSignal, pools: Pools) -> None:
    """``stop_when_gone``, its failure logged (nobody awaits this task)."""
    try:
        await stop_when_gone(receive, signal, pools)
    except asyncio.CancelledError:
        raise
    except Exception:
        log.exception("stopping a query whose client left failed")


async def run_control(pools: Pools, work: Callable[[Unpack[Ts]], T], *args: *Ts) -> T:
    """``work(*args)`` on the control limiter, which user queries never hold."""
    return await anyio.to_thread.run_sync(work, *args, limiter=pools.control)
