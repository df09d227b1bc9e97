"""OpenBB Workspace behind its endpoints: ``widgets.json`` and ``apps.json`` with each saved
query's columns probed once and kept, and each widget's data shaped for its type.

The routers in ``connector.api.openbb`` only read the request and write the answer; this
module holds the cache and decides what runs. Must not import FastAPI.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Mapping
from typing import Any

import orjson

from connector.errors import BadParamError, ConnectorError, NotFoundError
from connector.models import Column, QueryRequest, SavedQuery
from connector.saved import SavedQueries
from connector.service import Connector
from connector.ssrm import DEFAULT_PAGE_ROWS, Page
from connector.widgets import build_apps, build_widgets
from connector.wire import markdown_body, metric_body, omni_table, omni_text, records, ssrm_body

log = logging.getLogger(__name__)


class Workspace:
    """The widgets of one connector, and the data behind them."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.saved = SavedQueries(connector)
        self._columns: dict[bytes, list[Column]] = {}
        self._lock = threading.Lock()

    def _known_columns(self, query: SavedQuery) -> list[Column] | None:
        """The result's columns, probed once per (connection, SQL, params) and kept."""
        key = orjson.dumps(query.model_dump(mode="json", include={"connection", "sql", "params"}))
        with self._lock:
            if key in self._columns:
                return self._columns[key]
        try:
            columns = self.saved.columns(query)
        except ConnectorError as error:
            log.warning("widget %s: no column definitions (%s)", query.name, error.detail)
            return None
        if all(column.type != "unknown" for column in columns):  # else try again next time
            with self._lock:
                self._columns[key] = columns
        return columns

    def widgets(self) -> dict[str, dict[str, Any]]:
        """``widgets.json``."""
        queries, _ = self.saved.list_valid()
        columns = {query.name: self._known_columns(query) for query in queries}
        return build_widgets(queries, columns, self.connector.list_connections())

    def apps(self) -> list[dict[str, Any]]:
        """``apps.json``."""
        return build_apps(self.widgets())

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
        if kind == "metric":
            return metric_body(result)
        if kind == "markdown":
            return markdown_body(result)
        return records(result)

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
        return omni_table(result)


def _prompt(body: Any) -> str:
    if isinstance(body, str):
        try:
            body = orjson.loads(body)
        except orjson.JSONDecodeError:
            raise BadParamError("The body must be JSON with a prompt.") from None
    if not isinstance(body, dict) or not isinstance(body.get("prompt"), str):
        raise BadParamError('The body must be {"prompt": "<sql>"}.')
    prompt: str = body["prompt"]
    return prompt
