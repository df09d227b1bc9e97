"""What each connection's database holds, kept briefly: its schemas, tables, views and
columns (``Connector.describe_schema``), the comments on them, and whether a table has
more rows than a threshold (a count that reads at most threshold + 1 rows).

``/widgets.json`` reads every enabled connection's catalog afresh, side by side, within a
time budget (so a new table shows when Workspace refreshes the backend); a catalog not
read within the budget, or one that fails, is the last one read. Widget data reuses a
catalog younger than ``CATALOG_MAX_AGE_S`` and reads it again when a table seems gone.

Must not import FastAPI.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass

from connector.errors import ConnectorError
from connector.models import Comments, SavedRunRequest, SchemaInfo
from connector.service import Connector
from connector.table_sql import bounded_count_sql

log = logging.getLogger(__name__)

CATALOG_WORKERS = 4
# widgets.json waits at most this long for the catalogs (and row counts) it asked for.
CATALOG_BUDGET_S = 10.0
CATALOG_MAX_AGE_S = 30.0
# A table's "more rows than the threshold" answer is kept this long.
COUNT_MAX_AGE_S = 300.0
COUNT_TIMEOUT_S = 10.0

TableComments = dict[tuple[str, str], Comments]


@dataclass
class _Entry:
    schemas: list[SchemaInfo]
    comments: TableComments
    at: float


class Catalog:
    """Schemas, comments and bounded row counts per connection, cached."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self._entries: dict[str, _Entry] = {}
        self._counts: dict[tuple[str, str, int], tuple[int, float]] = {}
        self._reading: dict[str, Future[None]] = {}
        self._counting: dict[tuple[str, str, int], Future[None]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def _submit(self, work: object, *args: object) -> Future[None]:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(CATALOG_WORKERS, "catalog")
        return self._pool.submit(work, *args)  # type: ignore[arg-type]

    def _read(self, name: str) -> None:
        try:
            schemas = self.connector.describe_schema(name)
        except ConnectorError as error:
            log.warning("connection %s: its tables could not be listed (%s)", name, error.detail)
            with self._lock:
                self._reading.pop(name, None)
            return
        comments = self._comments(name)
        with self._lock:
            self._entries[name] = _Entry(schemas, comments, time.monotonic())
            self._reading.pop(name, None)

    def refresh(self, names: Iterable[str], budget_s: float = CATALOG_BUDGET_S) -> None:
        """Read the catalogs of ``names`` again, side by side, waiting at most ``budget_s``."""
        futures = []
        with self._lock:
            for name in names:
                future = self._reading.get(name)
                if future is None:
                    future = self._submit(self._read, name)
                    self._reading[name] = future
                futures.append(future)
        if futures:
            wait(futures, timeout=budget_s)

    def schemas(self, name: str, max_age_s: float = CATALOG_MAX_AGE_S) -> list[SchemaInfo]:
        """The connection's catalog, read now if the kept one is older than ``max_age_s``;
        an error reading it is raised when no catalog was ever read."""
        entry = self._entries.get(name)
        if entry is None or time.monotonic() - entry.at > max_age_s:
            schemas = self.connector.describe_schema(name)
            entry = _Entry(schemas, self._comments(name), time.monotonic())
            with self._lock:
                self._entries[name] = entry
        return entry.schemas

    def _comments(self, name: str) -> TableComments:
        """The database's comments; none (and a log line) where it cannot say."""
        try:
            return self.connector.describe_comments(name)
        except ConnectorError as error:
            log.warning("connection %s: no comments read (%s)", name, error.detail)
            return {}

    def kept(self, name: str) -> tuple[list[SchemaInfo], TableComments] | None:
        """The last catalog read for ``name``, however old, or None."""
        entry = self._entries.get(name)
        return None if entry is None else (entry.schemas, entry.comments)

    def comments(self, name: str) -> TableComments:
        entry = self._entries.get(name)
        return {} if entry is None else entry.comments

    def forget(self, name: str) -> None:
        with self._lock:
            self._entries.pop(name, None)
            for key in [key for key in self._counts if key[0] == name]:
                del self._counts[key]

    # row counts -------------------------------------------------------------------------

    def _count(self, key: tuple[str, str, int]) -> None:
        name, ref, cap = key
        try:
            request = SavedRunRequest(
                sql=bounded_count_sql(ref, cap + 1), limit=1, timeout_s=COUNT_TIMEOUT_S
            )
            count = int(self.connector.run(name, request, "widgets.json").rows[0][0])
        except (ConnectorError, IndexError, TypeError, ValueError) as exc:
            log.warning("connection %s: rows of %s not counted (%s)", name, ref, exc)
            with self._lock:
                self._counting.pop(key, None)
            return
        with self._lock:
            self._counts[key] = (count, time.monotonic())
            self._counting.pop(key, None)

    def more_rows_than(
        self, name: str, refs: Iterable[str], cap: int, budget_s: float = CATALOG_BUDGET_S
    ) -> dict[str, bool | None]:
        """For each table reference, whether it has more than ``cap`` rows (None: not known
        within ``budget_s``; it is known on a later call)."""
        keys = {ref: (name, ref, cap) for ref in refs}
        futures = []
        now = time.monotonic()
        with self._lock:
            for key in keys.values():
                kept = self._counts.get(key)
                if kept is not None and now - kept[1] <= COUNT_MAX_AGE_S:
                    continue
                future = self._counting.get(key)
                if future is None:
                    future = self._submit(self._count, key)
                    self._counting[key] = future
                futures.append(future)
        if futures:
            wait(futures, timeout=budget_s)
        found: dict[str, bool | None] = {}
        with self._lock:
            for ref, key in keys.items():
                kept = self._counts.get(key)
                found[ref] = None if kept is None else kept[0] > cap
        return found
