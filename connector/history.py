"""Query history, written off the request path.

Each finished query hands its entry to ``HistoryWriter``; one background thread writes them
to the store in batches, so a query never waits for the metadata database. Reading history
flushes first, and closing flushes what is left, so nothing recorded is lost on a clean stop.
Entries hold the SQL, never parameter values.

Must not import FastAPI or any backend.
"""

from __future__ import annotations

import collections
import logging
import threading

from connector.models import HistoryEntry
from connector.store import Store

log = logging.getLogger(__name__)

BATCH = 500
# How long to gather entries into one transaction: busy dashboards write a few per second.
GATHER_S = 0.2


class HistoryWriter:
    """Queues history entries and writes them to the store in a background thread.

    The thread is woken once per gathering window, not once per entry: a wake-up is a GIL
    hand-over between threads, and at a thousand small queries a second one per query
    cost the request path more than writing the entries did.
    """

    def __init__(self, store: Store, *, enabled: bool = True) -> None:
        self.store = store
        self.enabled = enabled
        # Entries, and the Events of flushes (set once what came before is written).
        self._pending: collections.deque[HistoryEntry | threading.Event] = collections.deque()
        self._wake = threading.Event()  # something is pending
        self._hurry = threading.Event()  # a flush or a close waits: write without gathering
        self._closing = False
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def record(self, entry: HistoryEntry) -> None:
        if not self.enabled:
            return
        if self._thread is None:
            with self._lock:
                if self._thread is None and not self._closing:
                    self._thread = threading.Thread(target=self._run, name="history", daemon=True)
                    self._thread.start()
        self._pending.append(entry)
        if not self._wake.is_set():
            self._wake.set()

    def flush(self) -> None:
        """Return once every entry recorded so far is in the store."""
        if self._thread is None:
            return
        written = threading.Event()
        self._pending.append(written)
        self._hurry.set()
        self._wake.set()
        # A bound so a broken store cannot hang a reader: writing a batch takes milliseconds.
        written.wait(timeout=30)

    def close(self) -> None:
        with self._lock:
            thread, self._thread = self._thread, None
            self._closing = True
        if thread is not None:
            self._hurry.set()
            self._wake.set()
            thread.join(timeout=10)

    def _run(self) -> None:
        while True:
            self._wake.wait()
            self._hurry.wait(GATHER_S)
            self._hurry.clear()
            self._wake.clear()
            entries: list[HistoryEntry] = []
            flushes: list[threading.Event] = []
            while self._pending:
                item = self._pending.popleft()
                if isinstance(item, threading.Event):
                    flushes.append(item)
                else:
                    entries.append(item)
            for start in range(0, len(entries), BATCH):
                batch = entries[start : start + BATCH]
                try:
                    self.store.add_history(batch)
                except Exception:  # history must never take the server down
                    log.warning("could not write %d history entries", len(batch), exc_info=True)
            for written in flushes:
                written.set()
            if self._closing and not self._pending:
                return
