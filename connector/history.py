"""Query history, written off the request path.

Each finished query hands its entry to ``HistoryWriter``; one background thread writes them
to the store in batches, so a query never waits for the metadata database. Reading history
flushes first, and closing flushes what is left, so nothing recorded is lost on a clean stop.
Entries hold the SQL, never parameter values.

Must not import FastAPI or any backend.
"""

from __future__ import annotations

import logging
import queue
import threading
import time

from connector.models import HistoryEntry
from connector.store import Store

log = logging.getLogger(__name__)

BATCH = 500
# How long to gather entries into one transaction: busy dashboards write a few per second.
GATHER_S = 0.2


class HistoryWriter:
    """Queues history entries and writes them to the store in a background thread."""

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        self._queue: queue.Queue[HistoryEntry | None] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, entry: HistoryEntry) -> None:
        if not self.enabled:
            return
        with self._lock:
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="history", daemon=True)
                self._thread.start()
        self._queue.put(entry)

    def flush(self) -> None:
        """Return once every entry recorded so far is in the store."""
        if self._thread is not None:
            self._queue.join()

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None:
            self._queue.put(None)
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            entries = [] if first is None else [first]
            stop = first is None
            gather_until = time.monotonic() + GATHER_S
            while not stop and len(entries) < BATCH:
                try:
                    item = self._queue.get(timeout=max(0.0, gather_until - time.monotonic()))
                except queue.Empty:
                    break
                if item is None:
                    stop = True
                else:
                    entries.append(item)
            try:
                if entries:
                    self.store.add_history(entries)
            except Exception:  # history must never take the server down
                log.warning("could not write %d history entries", len(entries), exc_info=True)
            finally:
                for _ in range(len(entries) + (1 if stop else 0)):
                    self._queue.task_done()
            if stop:
                return
