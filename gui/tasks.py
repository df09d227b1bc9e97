"""Slow work off the UI thread: a callable runs in Qt's global thread pool and its result
(or exception) is handed back on the UI thread.

The hand-back goes through one dispatcher object that lives on the UI thread, so the
callbacks may be any callable (lambdas too) and still run on the UI thread: the signal
crosses threads as a queued call. Qt only; knows nothing of the server.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, QRunnable, QThreadPool, Signal, Slot

Callback = Callable[[Any], None]


class _Dispatcher(QObject):
    """Lives on the UI thread; calls the callbacks that pool threads hand it.

    Only an integer crosses threads in the signal; the callback and its value wait in a
    locked table. (Queued signals carrying Python objects corrupt reference counts in
    some PySide6 releases, which crashes the interpreter at exit.)
    """

    ready = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self._lock = threading.Lock()
        self._waiting: dict[int, tuple[Callback | None, Any]] = {}
        self._ids = itertools.count()
        self.ready.connect(self._call)

    def deliver(self, callback: Callback | None, value: Any) -> None:
        """Called from any thread: run ``callback(value)`` on the UI thread soon."""
        with self._lock:
            ticket = next(self._ids)
            self._waiting[ticket] = (callback, value)
        self.ready.emit(ticket)

    @Slot(int)
    def _call(self, ticket: int) -> None:
        with self._lock:
            callback, value = self._waiting.pop(ticket)
        if callback is not None:
            callback(value)


_dispatcher: _Dispatcher | None = None


def _the_dispatcher() -> _Dispatcher:
    global _dispatcher
    if _dispatcher is None:
        _dispatcher = _Dispatcher()  # made on the first call, which is on the UI thread
    return _dispatcher


class Task(QRunnable):
    """Run ``work()`` in a pool thread; hand its result to ``done`` or its error to ``failed``."""

    def __init__(
        self, work: Callable[[], Any], done: Callback | None, failed: Callback | None
    ) -> None:
        super().__init__()
        self.work = work
        self.done = done
        self.failed = failed
        self.dispatcher = _the_dispatcher()

    def run(self) -> None:
        try:
            result = self.work()
        except Exception as exc:  # handed to the UI thread, which shows it
            self.dispatcher.deliver(self.failed, exc)
        else:
            self.dispatcher.deliver(self.done, result)


def run_in_pool(
    work: Callable[[], Any], done: Callback | None = None, failed: Callback | None = None
) -> None:
    """Start ``work`` on the thread pool; ``done``/``failed`` are called on the UI thread."""
    QThreadPool.globalInstance().start(Task(work, done, failed))
