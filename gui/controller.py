"""The app object: owns the server process and the API client, and carries the signals
that the views subscribe to. Views never call the server themselves.

Every HTTP call runs on the thread pool (:mod:`gui.tasks`); results come back here on the
UI thread and go out as signals. Each time the server comes up, the database kinds it
offers (``GET /kinds``) are fetched and kept in :attr:`Controller.kinds`; the connection
form is built from them. While it runs, the connections and saved queries are polled (often
just after a start, until the server's background-made ``sample`` connection appears, then
at a modest pace) so changes made behind the window's back (the CLI, another client) show
up; a list is handed on only when it changed. A query the window runs itself (a preview)
is a :class:`Preview`, which can be cancelled from where it runs. A server that exits with ``serve``'s documented port-taken code is
reported with a free port found here; its output is only shown, never parsed. Must not
import widgets or the server's internals (only the pure ``connector.ports`` and
``connector.keys``).
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QTimer, Signal

from connector.keys import read_api_key as read_key_file
from connector.ports import EXIT_PORT_TAKEN, is_port_free, recommend_port
from gui.client import ApiClient, ApiError, Health, Kind
from gui.links import openbb_link, server_url
from gui.server import ServerProcess
from gui.tasks import run_in_pool

STARTING_POLL_MS = 150
RUNNING_POLL_MS = 2000
QUERIES_POLL_MS = 1000
LISTS_POLL_MS = 3000  # connections and saved queries, while running
LISTS_EAGER_POLL_MS = 500  # just after a start, until the sample connection appears
SAMPLE_PATIENCE_S = 60.0  # how long to poll eagerly for it (a first start builds it)
SAMPLE_NAME = "sample"
PREVIEW_ROWS = 500  # rows a preview asks for
FIND_QUERY_TRIES = 25  # a cancel looks this many times for its query (100 ms apart)
START_PATIENCE_S = 30.0
DEFAULT_PORT = 7800  # the same default as the CLI's

STOPPED, STARTING, RUNNING, UNREACHABLE, DIED = (
    "stopped",
    "starting",
    "running",
    "unreachable",
    "died",
)
# The server prints a new key once; the window shows it only when asked (Show / Copy).
_KEY = re.compile(r"\bdc_[A-Za-z0-9_-]{16,}")
HIDDEN_KEY = "dc_•••••• (hidden: use Show or Copy next to API key)"


def read_api_key(data_dir: Path) -> str | None:
    """The key the server keeps in its data folder (made at its first start), or None."""
    try:
        return read_key_file(data_dir)
    except OSError:  # unreadable: the window says no key rather than crash
        return None


@dataclass(eq=False)
class Preview:
    """A query the window itself runs (the SQL box, a saved query's Run), for as long as
    it runs: its ``query_id`` is learned from ``GET /queries`` (same connection, same SQL,
    not one that was already running when it was sent), so it can be cancelled."""

    connection: str
    sql: str
    before: frozenset[str]
    started: float = field(default_factory=time.monotonic)
    query_id: str | None = None
    finished: bool = False
    cancelling: bool = False

    @property
    def elapsed_s(self) -> float:
        return time.monotonic() - self.started


def find_query(queries: list[dict[str, Any]], preview: Preview, taken: set[str]) -> str | None:
    """The running query that is ``preview``'s: same connection and SQL, neither running
    before it was sent nor claimed by another preview; the earliest such one."""
    candidates = [
        query
        for query in queries
        if query.get("connection") == preview.connection
        and query.get("sql") == preview.sql
        and str(query.get("query_id")) not in preview.before
        and str(query.get("query_id")) not in taken
    ]
    if not candidates:
        return None
    first = min(candidates, key=lambda query: str(query.get("started_at", "")))
    return str(first["query_id"])


def default_data_dir() -> Path:
    from connector.config import default_data_dir as connector_default  # pydantic: load late

    return connector_default()


class Controller(QObject):
    """State of the one server this app runs, and every call to it."""

    state_changed = Signal(str, str)  # state, human message
    log_line = Signal(str)
    port_problem = Signal(str, int)  # message, a free port to offer
    connections_changed = Signal(object)  # list of dicts: object, not a Qt list conversion
    saved_changed = Signal(object)  # list of saved query dicts
    queries_changed = Signal(object)
    kinds_changed = Signal(object)  # list of gui.client.Kind
    server_ready = Signal(str, str)  # url, api key

    def __init__(self, data_dir: Path | None = None, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.data_dir = data_dir or default_data_dir()
        self.state = STOPPED
        self.port: int | None = None
        self.client: ApiClient | None = None
        self.version = ""
        self.process = ServerProcess(self)
        self.process.output.connect(self._on_output)
        self.process.finished.connect(self._on_finished)
        self._health_timer = QTimer(self)
        self._health_timer.timeout.connect(self._poll_health)
        self._queries_timer = QTimer(self)
        self._queries_timer.setInterval(QUERIES_POLL_MS)
        self._queries_timer.timeout.connect(self.refresh_queries)
        self._lists_timer = QTimer(self)
        self._lists_timer.timeout.connect(self._poll_lists)
        self._health_busy = False
        self._queries_busy = False
        self._start_waited_ms = 0
        self._eager_until = 0.0
        self.kinds: list[Kind] = []
        self.connections: list[dict[str, Any]] | None = None  # None: not read yet
        self.saved: list[dict[str, Any]] | None = None
        self._asked = {"connections": 0, "saved": 0}  # each list's latest request ...
        self._applied = {"connections": 0, "saved": 0}  # ... and the latest answer used
        self._running_ids: set[str] = set()  # the ids GET /queries last answered
        self.previews: list[Preview] = []

    # the server -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return server_url(self.port or DEFAULT_PORT)

    @property
    def openbb_url(self) -> str:
        return openbb_link(self.url)

    def recommend_port(self, start: int = DEFAULT_PORT) -> int:
        """A port that is free right now (checked by binding)."""
        return recommend_port(start)

    def start(self, port: int) -> bool:
        """Start the server on ``port``; False (and ``port_problem``) when it is taken."""
        if self.process.running:
            return True
        if not is_port_free(port):
            self._offer_other_port(port, recommend_port(port + 1))
            return False
        self.port = port
        self.client = None
        self._start_waited_ms = 0
        self._set_state(STARTING, f"Starting on port {port}…")
        self.log_line.emit(f"Starting the server on port {port} (data folder: {self.data_dir}).")
        self.process.start(self.data_dir, port)
        self._health_timer.start(STARTING_POLL_MS)
        return True

    def stop(self) -> None:
        if self.process.running:
            self._set_state(STARTING if self.state == STARTING else self.state, "Stopping…")
            self.process.stop()

    def restart(self) -> None:
        if self.port is not None and not self.process.running:
            self.start(self.port)

    def shutdown(self) -> None:
        """Stop the server and wait for it (quitting the app)."""
        self._health_timer.stop()
        self._queries_timer.stop()
        self._lists_timer.stop()
        self.process.stop_and_wait()

    def _offer_other_port(self, port: int, suggestion: int) -> None:
        message = (
            f"Port {port} is already used by another program. "
            f"Port {suggestion} is free: use it, or choose another."
        )
        self.port_problem.emit(message, suggestion)
        self.log_line.emit(message)

    def _set_state(self, state: str, message: str) -> None:
        self.state = state
        self.state_changed.emit(state, message)

    def _on_output(self, line: str) -> None:
        self.log_line.emit(_KEY.sub(HIDDEN_KEY, line))

    def _on_finished(self, exit_code: int, asked: bool) -> None:
        self._health_timer.stop()
        self._queries_timer.stop()
        self._lists_timer.stop()
        self.client = None
        self._running_ids = set()
        self.queries_changed.emit([])
        if asked:
            self._set_state(STOPPED, "Stopped.")
            self.log_line.emit("The server stopped.")
        elif exit_code == EXIT_PORT_TAKEN and self.port is not None:
            # taken between our check and the server's bind
            self._set_state(STOPPED, "The port was taken.")
            self._offer_other_port(self.port, recommend_port(self.port + 1))
        else:
            message = f"The server stopped unexpectedly (exit code {exit_code}). Restart it?"
            self.log_line.emit(message)
            self._set_state(DIED, message)

    def _poll_health(self) -> None:
        if self._health_busy or self.port is None or not self.process.running:
            return
        self._health_busy = True
        probe = ApiClient(self.url, None)
        run_in_pool(probe.health, self._on_health, self._on_health_failed)

    def _on_health(self, health: Health) -> None:
        self._health_busy = False
        if not self.process.running:
            return
        self.version = health.version
        if self.state != RUNNING:
            key = read_api_key(self.data_dir)
            self.client = ApiClient(self.url, key)
            self._set_state(RUNNING, f"Running: version {health.version}.")
            self.server_ready.emit(self.url, key or "")
            self._health_timer.start(RUNNING_POLL_MS)
            self._queries_timer.start()
            self._eager_until = time.monotonic() + SAMPLE_PATIENCE_S
            self._lists_timer.start(LISTS_EAGER_POLL_MS)
            self.refresh_kinds()
            self.refresh_connections()
            self.refresh_saved()

    def _on_health_failed(self, error: Exception) -> None:
        self._health_busy = False
        if not self.process.running:
            return
        if self.state == STARTING:
            self._start_waited_ms += STARTING_POLL_MS
            if self._start_waited_ms > START_PATIENCE_S * 1000:
                self._set_state(UNREACHABLE, "The server started but does not answer.")
            return
        if self.state == RUNNING:
            detail = error.detail if isinstance(error, ApiError) else str(error)
            self._set_state(UNREACHABLE, f"The server does not answer: {detail}")

    # connections and queries ------------------------------------------------------------

    def _call(
        self,
        work: Callable[[ApiClient], Any],
        done: Callable[[Any], None] | None,
        failed: Callable[[ApiError], None] | None,
    ) -> None:
        client = self.client
        if client is None:
            if failed is not None:
                failed(ApiError("Start the server first.", "not_running"))
            return

        def on_failed(error: Exception) -> None:
            api_error = error if isinstance(error, ApiError) else ApiError(str(error), "error")
            if failed is not None:
                failed(api_error)
            else:
                self.log_line.emit(f"error: {api_error.detail}")

        run_in_pool(lambda: work(client), done, on_failed)

    def refresh_kinds(self, failed: Callable[[ApiError], None] | None = None) -> None:
        """Fetch the database kinds the server offers (``GET /kinds``) into :attr:`kinds`."""

        def fetched(kinds: list[Kind]) -> None:
            self.kinds = kinds
            self.kinds_changed.emit(kinds)

        def not_fetched(error: ApiError) -> None:
            self.log_line.emit(f"error: the database kinds could not be read: {error.detail}")
            if failed is not None:
                failed(error)

        self._call(lambda c: c.kinds(), fetched, not_fetched)

    def kind(self, name: str) -> Kind | None:
        return next((kind for kind in self.kinds if kind.kind == name), None)

    def kind_label(self, name: str) -> str:
        """How a kind is named in lists ("MySQL / MariaDB"); its id until kinds arrive."""
        kind = self.kind(name)
        return kind.label if kind is not None else name

    def _poll_lists(self) -> None:
        if self.client is None:
            return
        if self._lists_timer.interval() != LISTS_POLL_MS and (
            time.monotonic() > self._eager_until
            or any(c.get("name") == SAMPLE_NAME for c in self.connections or [])
        ):
            self._lists_timer.setInterval(LISTS_POLL_MS)  # found it (or gave up): calm down
        # one request of each kind at a time: a slow server is not asked again and again
        if self._asked["connections"] == self._applied["connections"]:
            self.refresh_connections()
        if self._asked["saved"] == self._applied["saved"]:
            self.refresh_saved()

    def _refresh_list(
        self,
        which: str,
        work: Callable[[ApiClient], list[dict[str, Any]]],
        changed: Callable[[list[dict[str, Any]]], None],
    ) -> None:
        """Read one list; hand it on when it differs from the one shown. An answer older
        than one already used is dropped (a poll sent before a save, answered after it)."""
        self._asked[which] += 1
        ticket = self._asked[which]

        def done(items: list[dict[str, Any]]) -> None:
            if ticket <= self._applied[which]:
                return
            self._applied[which] = ticket
            if items != getattr(self, which):
                setattr(self, which, items)
                changed(items)

        def failed(error: ApiError) -> None:
            if ticket > self._applied[which]:
                self._applied[which] = ticket
            if error.code not in ("unreachable", "timeout", "not_running"):
                self.log_line.emit(f"error: the {which} could not be read: {error.detail}")

        self._call(work, done, failed)

    def refresh_connections(self) -> None:
        """Read the connections; ``connections_changed`` when they changed."""
        self._refresh_list(
            "connections", lambda c: c.list_connections(), self.connections_changed.emit
        )

    def refresh_saved(self) -> None:
        """Read the saved queries; ``saved_changed`` when they changed."""
        self._refresh_list("saved", lambda c: c.list_saved(), self.saved_changed.emit)

    def schema(
        self,
        name: str,
        done: Callable[[list[dict[str, Any]]], None],
        failed: Callable[[ApiError], None],
    ) -> None:
        """The connection's schemas, tables and views, and their columns."""
        self._call(lambda c: c.schema(name), done, failed)

    def test_connection(
        self,
        connection: dict[str, Any],
        done: Callable[[Any], None],
        failed: Callable[[ApiError], None],
    ) -> None:
        self._call(lambda c: c.test_connection(connection), done, failed)

    def save_connection(
        self,
        connection: dict[str, Any],
        original_name: str | None,
        done: Callable[[Any], None],
        failed: Callable[[ApiError], None],
    ) -> None:
        def work(c: ApiClient) -> Any:
            if original_name is None:
                return c.create_connection(connection)
            return c.update_connection(original_name, connection)

        def saved(result: Any) -> None:
            self.log_line.emit(f"Saved connection {connection['name']!r}.")
            self.refresh_connections()
            done(result)

        self._call(work, saved, failed)

    def remove_connection(self, name: str) -> None:
        def removed(_: Any) -> None:
            self.log_line.emit(f"Removed connection {name!r}.")
            self.refresh_connections()

        self._call(lambda c: c.delete_connection(name), removed, None)

    def refresh_queries(self) -> None:
        if self._queries_busy or self.client is None:
            return
        self._queries_busy = True

        def done(queries: Any) -> None:
            self._queries_busy = False
            self._running_ids = {str(query.get("query_id")) for query in queries}
            self._claim(queries)
            self.queries_changed.emit(queries)

        def failed(_: ApiError) -> None:
            self._queries_busy = False

        self._call(lambda c: c.running_queries(), done, failed)

    def cancel_query(self, query_id: str) -> None:
        def cancelled(_: Any) -> None:
            self.log_line.emit(f"Cancelled query {query_id}.")
            self.refresh_queries()

        self._call(lambda c: c.cancel_query(query_id), cancelled, None)

    # the window's own queries ----------------------------------------------------------

    def run_query(
        self,
        connection: str,
        sql: str,
        done: Callable[[dict[str, Any]], None],
        failed: Callable[[ApiError], None],
        *,
        params: dict[str, Any] | None = None,
        limit: int = PREVIEW_ROWS,
        timeout_s: float | None = None,
    ) -> Preview:
        """Run ``sql`` on ``connection`` for a preview; :meth:`cancel_preview` stops it."""
        return self._preview(
            connection,
            sql,
            lambda c: c.query(connection, sql, params, limit=limit, timeout_s=timeout_s),
            done,
            failed,
        )

    def run_saved(
        self,
        saved: dict[str, Any],
        values: dict[str, Any],
        done: Callable[[dict[str, Any]], None],
        failed: Callable[[ApiError], None],
        *,
        limit: int = PREVIEW_ROWS,
    ) -> Preview:
        """Run a saved query with ``values`` for its parameters (the rest: defaults)."""
        name = str(saved["name"])
        return self._preview(
            str(saved["connection"]),
            str(saved["sql"]),
            lambda c: c.run_saved(name, values, limit=limit),
            done,
            failed,
        )

    def _preview(
        self,
        connection: str,
        sql: str,
        work: Callable[[ApiClient], dict[str, Any]],
        done: Callable[[dict[str, Any]], None],
        failed: Callable[[ApiError], None],
    ) -> Preview:
        preview = Preview(connection, sql, frozenset(self._running_ids))
        self.previews.append(preview)

        def finish() -> None:
            preview.finished = True
            if preview in self.previews:
                self.previews.remove(preview)

        def answered(result: dict[str, Any]) -> None:
            finish()
            done(result)

        def refused(error: ApiError) -> None:
            finish()
            failed(error)

        self._call(work, answered, refused)
        QTimer.singleShot(200, self.refresh_queries)  # learn its id soon
        return preview

    def _claim(self, queries: list[dict[str, Any]]) -> None:
        """Give each preview still without an id its running query."""
        taken = {p.query_id for p in self.previews if p.query_id is not None}
        for preview in self.previews:
            if preview.query_id is None and not preview.finished:
                preview.query_id = find_query(queries, preview, taken)
                if preview.query_id is not None:
                    taken.add(preview.query_id)

    def cancel_preview(
        self, preview: Preview, failed: Callable[[ApiError], None] | None = None
    ) -> None:
        """Cancel a preview's query in the database; its own answer then says cancelled.
        Before its id is known, the running queries are asked (a few times: the request
        may not have reached the database yet)."""
        if preview.finished or preview.cancelling:
            return
        preview.cancelling = True
        taken = {p.query_id for p in self.previews if p.query_id and p is not preview}

        def work(c: ApiClient) -> str:
            query_id = preview.query_id
            for _ in range(FIND_QUERY_TRIES):
                if query_id is not None or preview.finished:
                    break
                query_id = find_query(c.running_queries(), preview, set(taken))
                if query_id is None:
                    time.sleep(0.1)
            if query_id is None:
                if preview.finished:
                    return ""
                raise ApiError("The query is not among the running ones.", "not_found")
            try:
                c.cancel_query(query_id)
            except ApiError as error:
                if error.code != "not_found":  # it ended on its own meanwhile
                    raise
            return query_id

        def cancelled(query_id: str) -> None:
            if query_id:
                self.log_line.emit(f"Cancelled query {query_id}.")
            self.refresh_queries()

        def not_cancelled(error: ApiError) -> None:
            preview.cancelling = False
            self.log_line.emit(f"error: the query could not be cancelled: {error.detail}")
            if failed is not None:
                failed(error)

        self._call(work, cancelled, not_cancelled)

    # saved queries ----------------------------------------------------------------------

    def save_saved(
        self,
        query: dict[str, Any],
        done: Callable[[Any], None],
        failed: Callable[[ApiError], None],
    ) -> None:
        def saved(result: Any) -> None:
            self.log_line.emit(f"Saved the query {query['name']!r}.")
            self.refresh_saved()
            done(result)

        self._call(lambda c: c.create_saved(query), saved, failed)

    def remove_saved(self, name: str) -> None:
        def removed(_: Any) -> None:
            self.log_line.emit(f"Removed the saved query {name!r}.")
            self.refresh_saved()

        self._call(lambda c: c.delete_saved(name), removed, None)
