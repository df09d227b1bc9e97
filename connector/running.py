"""The queries running now: their control handles, cancellation and a timeout watchdog.

A ``QueryControl`` is shared by the thread that runs a query and anyone who may stop it.
The backend running the query installs a cancel hook (SQLite ``interrupt()``, MySQL
``KILL QUERY``, ...). One watchdog thread fires that hook, marked as a timeout, for any
query that outlives its deadline: a backstop behind the limits the databases enforce.
The same watchdog demotes a query that runs past ``demote_after_s`` on a thread that may
be demoted (``connector.priority``): its thread's CPU priority is lowered, so exports,
small queries and the event loop run first.
A query's caller (its API key's name) is taken from ``connector.callers`` when it starts.
A ``StopSignal`` gathers the queries one piece of work starts (``current_stop``, a context
variable like the caller), so whoever started the work can stop them all at once: the
HTTP layer fires it when the request's client goes away.
With several server processes, ``connector.running_board`` shares this registry.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import heapq
import logging
import secrets
import threading
import time
from collections.abc import Callable
from contextvars import ContextVar
from datetime import UTC, datetime

from connector.callers import current_caller
from connector.errors import QueryCancelledError, QueryTimeoutError
from connector.models import RunningQueryInfo
from connector.priority import Lane, current_lane

log = logging.getLogger(__name__)

# How long past its deadline a query may run before the watchdog stops it: the database's
# own timeout should have fired first.
WATCHDOG_GRACE_S = 0.25


def new_query_id() -> str:
    return "q_" + secrets.token_hex(8)


class QueryControl:
    """Cancel flag, deadline and cancel hook of one running query."""

    def __init__(
        self,
        query_id: str,
        connection: str,
        sql: str,
        timeout_s: float,
        client: str | None = None,
    ) -> None:
        self.query_id = query_id
        self.connection = connection
        self.sql = sql
        self.timeout_s = timeout_s
        self.client = client
        self.caller = current_caller.get()
        self.started = time.monotonic()
        self.started_at = datetime.now(UTC)
        self.deadline = self.started + timeout_s
        self.cancelled = False
        self.timed_out = False
        self._hook: Callable[[], None] | None = None
        self._lock = threading.Lock()
        self.stop_signal: StopSignal | None = None
        # The thread running the query, when it may be demoted (set by RunningQueries.add).
        self.lane: Lane | None = None
        self.lane_task = 0

    @property
    def stopped(self) -> bool:
        return self.cancelled or self.timed_out

    def stopped_error(self) -> QueryTimeoutError | QueryCancelledError:
        """The error of a query that was stopped: past its deadline, or cancelled."""
        if self.timed_out:
            return QueryTimeoutError(
                f"The query ran past its {self.timeout_s:g} s timeout and was stopped."
            )
        return QueryCancelledError("The query was cancelled.")

    def expired(self) -> bool:
        return time.monotonic() >= self.deadline

    def remaining_s(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    def elapsed_ms(self) -> float:
        return (time.monotonic() - self.started) * 1000

    def set_cancel_hook(self, hook: Callable[[], None] | None) -> None:
        """Install how to stop this query in its database (None removes it)."""
        with self._lock:
            self._hook = hook
            fire = hook is not None and self.stopped
        if fire and hook is not None:
            self._run_hook(hook)

    def cancel(self) -> None:
        self._stop(timed_out=False)

    def expire(self, *, run_hook: bool = True) -> None:
        """Mark the query as timed out; ``run_hook=False`` when the database already stopped it."""
        self._stop(timed_out=True, run_hook=run_hook)

    def _stop(self, *, timed_out: bool, run_hook: bool = True) -> None:
        with self._lock:
            if self.stopped:
                return
            if timed_out:
                self.timed_out = True
            else:
                self.cancelled = True
            hook = self._hook if run_hook else None
        if hook is not None:
            self._run_hook(hook)

    def _run_hook(self, hook: Callable[[], None]) -> None:
        try:
            hook()
        except Exception:  # the query may have ended meanwhile; that is fine
            log.warning("stopping query %s in its database failed", self.query_id, exc_info=True)

    def demote(self) -> bool:
        """Lower the priority of the thread running this query, if it may be demoted."""
        return self.lane is not None and self.lane.demote(self.lane_task)

    def info(self) -> RunningQueryInfo:
        return RunningQueryInfo(
            query_id=self.query_id,
            connection=self.connection,
            sql=self.sql,
            started_at=self.started_at.isoformat(timespec="milliseconds"),
            elapsed_ms=round(self.elapsed_ms(), 1),
            client=self.client,
            caller=self.caller,
        )


class StopSignal:
    """The queries one piece of work runs, to stop them together; a query that starts
    after ``stop()`` is stopped as it starts."""

    def __init__(self) -> None:
        self.stopped = False
        self._controls: dict[str, QueryControl] = {}
        self._lock = threading.Lock()

    def attach(self, control: QueryControl) -> None:
        with self._lock:
            stopped = self.stopped
            if not stopped:
                self._controls[control.query_id] = control
        if stopped:
            control.cancel()

    def detach(self, control: QueryControl) -> None:
        with self._lock:
            self._controls.pop(control.query_id, None)

    def stop(self) -> None:
        """Cancel every query attached now and any attached later (runs cancel hooks:
        call it from a thread, never the event loop)."""
        with self._lock:
            self.stopped = True
            controls = list(self._controls.values())
        for control in controls:
            control.cancel()


# The stop signal of the work running in this context (None outside a request's work).
current_stop: ContextVar[StopSignal | None] = ContextVar("current_stop", default=None)


class RunningQueries:
    """The registry of running queries, with one watchdog thread for their deadlines and
    demotions (``demote_after_s``: None or 0 never demotes)."""

    def __init__(
        self, grace_s: float = WATCHDOG_GRACE_S, demote_after_s: float | None = None
    ) -> None:
        self._queries: dict[str, QueryControl] = {}
        self._deadlines: list[tuple[float, str]] = []
        self._demotions: list[tuple[float, str]] = []
        self._grace_s = grace_s
        self._demote_after_s = demote_after_s or None
        self._wake = threading.Condition()
        self._closed = False
        self._thread: threading.Thread | None = None

    def add(self, control: QueryControl) -> None:
        signal = current_stop.get()
        if signal is not None:
            control.stop_signal = signal
            signal.attach(control)
        lane = current_lane() if self._demote_after_s is not None else None
        if lane is not None:
            control.lane, control.lane_task = lane, lane.task
        with self._wake:
            self._queries[control.query_id] = control
            earliest = self._next_due()
            due = control.deadline + self._grace_s
            heapq.heappush(self._deadlines, (due, control.query_id))
            if lane is not None and self._demote_after_s is not None:
                demote_at = control.started + self._demote_after_s
                heapq.heappush(self._demotions, (demote_at, control.query_id))
                due = min(due, demote_at)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._watch, name="query-watchdog", daemon=True
                )
                self._thread.start()
            if earliest is None or due < earliest:
                self._wake.notify()  # only an earlier deadline changes the watchdog's wait

    def remove(self, control: QueryControl) -> None:
        if control.stop_signal is not None:
            control.stop_signal.detach(control)
        with self._wake:
            self._queries.pop(control.query_id, None)

    def get(self, query_id: str) -> QueryControl | None:
        with self._wake:
            return self._queries.get(query_id)

    def cancel(self, query_id: str) -> bool:
        """Stop the query ``query_id``; False when no such query runs."""
        control = self.get(query_id)
        if control is None:
            return False
        control.cancel()
        return True

    def list(self) -> list[RunningQueryInfo]:
        with self._wake:
            controls = list(self._queries.values())
        return [control.info() for control in controls]

    def cancel_connection(self, connection: str) -> int:
        """Cancel every query on ``connection``; returns how many."""
        with self._wake:
            controls = [c for c in self._queries.values() if c.connection == connection]
        for control in controls:
            control.cancel()
        return len(controls)

    def close(self) -> None:
        with self._wake:
            self._closed = True
            controls = list(self._queries.values())
            self._wake.notify()
        for control in controls:
            control.cancel()

    def _next_due(self) -> float | None:
        dues = [heap[0][0] for heap in (self._deadlines, self._demotions) if heap]
        return min(dues) if dues else None

    def _watch(self) -> None:
        with self._wake:
            while not self._closed:
                now = time.monotonic()
                while self._deadlines and self._deadlines[0][0] <= now:
                    _, query_id = heapq.heappop(self._deadlines)
                    control = self._queries.get(query_id)
                    if control is not None:
                        threading.Thread(target=control.expire, daemon=True).start()
                while self._demotions and self._demotions[0][0] <= now:
                    _, query_id = heapq.heappop(self._demotions)
                    control = self._queries.get(query_id)
                    if control is not None and control.demote():
                        log.debug("query %s demoted", query_id)
                due = self._next_due()
                self._wake.wait(timeout=None if due is None else due - now)
