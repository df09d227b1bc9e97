"""OpenBB Workspace behind its endpoints: ``widgets.json`` and ``apps.json`` with each saved
query's columns probed once and kept (side by side, within a time budget, failures kept
for a minute; declared columns need no probe), and each widget's data shaped for its type.

The routers in ``connector.api.openbb`` only read the request and write the answer; this
module holds the cache and decides what runs. Must not import FastAPI.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from concurrent.futures import Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from typing import Any

import orjson

from connector.apps import build_apps, plan_apps
from connector.backends import get_backend
from connector.charts import TEMPLATES, chart_rows, figure
from connector.errors import BadParamError, ConnectorError, NotFoundError, SqlError
from connector.inputs import NOT_TEXT, is_text
from connector.models import Column, QueryRequest, SavedQuery
from connector.options import Options, depends_on
from connector.param_links import app_of
from connector.saved import SavedQueries
from connector.service import Connector
from connector.ssrm import DEFAULT_PAGE_ROWS, Page
from connector.tables import TableWidgets
from connector.widget_options import check_widget
from connector.widgets import build_widgets, saved_widget_id, sql_widget_id
from connector.wire import (
    markdown_with_note,
    metric_body,
    omni_table,
    omni_text,
    records_with_note,
    ssrm_body,
)

log = logging.getLogger(__name__)


# widgets.json must answer well within the ~60 s Workspace gives a backend: probes run
# side by side, and those not done within the budget are left for the next request.
PROBE_WORKERS = 4
PROBE_BUDGET_S = 15.0
# A probe that failed is tried again after this long, not on every widgets.json.
PROBE_RETRY_S = 60.0


@dataclass
class _Probe:
    columns: list[Column] | None
    at: float


class Workspace:
    """The widgets of one connector, and the data behind them."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.saved = SavedQueries(connector)
        self.tables = TableWidgets(connector)
        self.options = Options(connector)
        self._probes: dict[bytes, _Probe] = {}
        self._running: dict[bytes, Future[None]] = {}
        self._lock = threading.Lock()
        self._pool: ThreadPoolExecutor | None = None

    @staticmethod
    def _key(query: SavedQuery) -> bytes:
        return orjson.dumps(query.model_dump(mode="json", include={"connection", "sql", "params"}))

    def _probe(self, key: bytes, query: SavedQuery) -> None:
        try:
            columns: list[Column] | None = self.saved.columns(query)
        except ConnectorError as error:
            log.warning("widget %s: no column definitions (%s)", query.name, error.detail)
            columns = None
        if columns is not None and any(column.type == "unknown" for column in columns):
            columns = None  # no rows to type them from: try again later
        with self._lock:
            self._probes[key] = _Probe(columns, time.monotonic())
            self._running.pop(key, None)

    def _cached(self, key: bytes) -> _Probe | None:
        probe = self._probes.get(key)
        if probe is None:
            return None
        if probe.columns is None and time.monotonic() - probe.at > PROBE_RETRY_S:
            return None
        return probe

    def known_columns(self, queries: list[SavedQuery]) -> dict[str, list[Column] | None]:
        """Each query's result columns: declared, cached, or probed now side by side within
        ``PROBE_BUDGET_S`` (a probe that is not done by then fills the cache later)."""
        found: dict[str, list[Column] | None] = {}
        waiting: dict[str, tuple[bytes, Future[None]]] = {}
        with self._lock:
            for query in queries:
                if (query.widget.model_extra or {}).get("columns"):
                    found[query.name] = None  # declared on the query: widgets.py uses them
                    continue
                key = self._key(query)
                cached = self._cached(key)
                if cached is not None:
                    found[query.name] = cached.columns
                    continue
                future = self._running.get(key)
                if future is None:
                    if self._pool is None:
                        self._pool = ThreadPoolExecutor(PROBE_WORKERS, "widget-probe")
                    future = self._pool.submit(self._probe, key, query)
                    self._running[key] = future
                waiting[query.name] = (key, future)
        if waiting:
            wait([future for _, future in waiting.values()], timeout=PROBE_BUDGET_S)
        with self._lock:
            for name, (key, _) in waiting.items():
                probe = self._probes.get(key)
                found[name] = None if probe is None else probe.columns
        return found

    def _known_columns(self, query: SavedQuery) -> list[Column] | None:
        return self.known_columns([query])[query.name]

    def _build(self) -> tuple[dict[str, dict[str, Any]], list[SavedQuery], dict[str, str]]:
        queries, _ = self.saved.list_valid()
        columns = self.known_columns(queries)
        tables = self.tables.widgets()
        connections = self.connector.list_connections()
        table_connections = {wid: entry["subCategory"] for wid, entry in tables.items()}
        dialects = {spec.name: get_backend(spec.kind).dialect for spec in connections}
        depends = {
            query.name: {
                param.name: depends_on(param, dialects.get(query.connection, "sqlite"))
                for param in query.params
                if param.options_sql
            }
            for query in queries
        }
        return (
            build_widgets(queries, columns, connections, tables, depends),
            queries,
            table_connections,
        )

    def widgets(self) -> dict[str, dict[str, Any]]:
        """``widgets.json``."""
        return self._build()[0]

    def close(self) -> None:
        self.tables.close()
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)

    def apps(self) -> list[dict[str, Any]]:
        """``apps.json``: one app per connection (or per app name given), laid out."""
        widgets, queries, table_connections = self._build()
        settings = self.tables.all_settings()
        app_names = {name: s.app for name, s in settings.items() if s.app}
        plans = plan_apps(
            widgets,
            saved_apps={
                saved_widget_id(q.name): (q.connection, app_of(q, app_names)) for q in queries
            },
            table_connections=table_connections,
            sql_connections={
                spec.name: sql_widget_id(spec.name) for spec in self.connector.list_connections()
            },
            app_names=app_names,
            enabled=[name for name, s in settings.items() if s.tables],
        )
        return build_apps(widgets, plans)

    def widget_data(
        self,
        name: str,
        values: Mapping[str, Any],
        page: Page | None,
        client: str | None,
    ) -> Any:
        """A saved query's widget data, shaped for its widget type; ``page`` for SSRM."""
        try:
            query = self.saved.get(name)
        except NotFoundError:
            raise NotFoundError(f"No widget named {name!r}.") from None
        kind = query.widget.type
        if kind == "ssrm_table":
            known = self._known_columns(query)
            result, total = self.saved.run_page(
                query,
                values,
                page or Page(0, DEFAULT_PAGE_ROWS),
                columns=None if known is None else [column.name for column in known],
                client=client,
            )
            return ssrm_body(result, total)
        result = self.saved.run_query(query, values, client=client)
        maximum = self.connector.settings.max_row_limit
        if result.truncated:
            log.warning(
                "widget %s shows the first %d rows of a longer result (its limit)",
                name,
                len(result.rows),
            )
        if kind == "plotly":
            if str(values.get("raw", "")).lower() in ("true", "1"):
                return chart_rows(result)  # the rows, for Workspace's AI
            spec = check_widget(query.widget.model_dump()).chart
            if spec is None:  # refused when saved; a row edited by hand may lack it
                raise BadParamError(f"The plotly widget {name!r} has no chart.")
            theme = str(values.get("theme") or "dark")
            if theme not in TEMPLATES:
                raise BadParamError("theme must be dark or light.")
            return figure(spec, result, theme)
        if kind == "metric":
            return metric_body(result)
        if kind == "markdown":
            return markdown_with_note(result, maximum)
        return records_with_note(result, maximum)

    def param_options(
        self, name: str, param: str, values: Mapping[str, Any]
    ) -> list[dict[str, Any]]:
        """A param's dropdown from its options query, with the values of the params it
        depends on."""
        try:
            query = self.saved.get(name)
        except NotFoundError:
            raise NotFoundError(f"No widget named {name!r}.") from None
        return self.options.options(query, param, values, self.saved.bind)

    def is_paged(self, name: str) -> bool:
        try:
            return self.saved.get(name).widget.type == "ssrm_table"
        except NotFoundError:
            raise NotFoundError(f"No widget named {name!r}.") from None

    def omni(self, connection: str, body: Any, client: str | None) -> dict[str, Any]:
        """The SQL widget: ``body`` is ``{"prompt": "<sql>"}`` (or that as a JSON string);
        the rows come back as a table, an error as text for the user."""
        self.connector.get_connection(connection)  # an unknown connection is a 404
        try:
            sql = _prompt(body).strip()
            if not sql:
                return omni_text("Type a SQL query to run it on this connection.")
            result = self.connector.run(connection, QueryRequest(sql=sql), client)
        except ConnectorError as error:
            return omni_text(f"Error ({error.code}): {error.detail}")
        return omni_table(result, self.connector.settings.max_row_limit)


def _prompt(body: Any) -> str:
    if isinstance(body, str):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadParamError("The body must be JSON with a prompt.") from None
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        raise BadParamError('The body must be {"prompt": "<sql>"}.')
    prompt: str = body["prompt"]
    if not is_text(prompt):
        raise SqlError(f"The SQL {NOT_TEXT}.")
    return prompt
