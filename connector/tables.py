"""Tables and views as OpenBB Workspace widgets: each connection's setting, the widgets of
the tables it picks, and their data (a capped table, or pages done in the database), the
values behind their filter dropdowns, and a plain 404 for a table dropped while its
widget is open.

The SQL is ``connector.table_sql``'s, the entries ``connector.table_widgets``', the
catalog ``connector.catalog``'s. Every statement is a plain SELECT built from catalog
names, run through the connector with its guard, row cap and timeout.

Must not import FastAPI.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from pydantic import ValidationError

from connector.backends import get_backend
from connector.catalog import Catalog
from connector.errors import BadParamError, ConnectorError, NotFoundError, SqlError
from connector.models import ConnectionSpec, SavedRunRequest, TableInfo
from connector.service import Connector
from connector.ssrm import Page, paged_sql
from connector.table_settings import WorkspaceSettings, filter_columns, select_tables
from connector.table_sql import distinct_sql, select_sql, table_ref
from connector.table_widgets import (
    FilterParam,
    filter_params,
    table_key,
    table_widget,
    table_widget_id,
)
from connector.values import format_timedelta
from connector.wire import records_with_note, ssrm_body

log = logging.getLogger(__name__)

_PLAIN_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_$]*$")
OPTIONS_MAX_AGE_S = 60.0
OPTIONS_TIMEOUT_S = 15.0


@dataclass(frozen=True)
class Resolved:
    """A table widget's table, found in the catalog by its key."""

    spec: ConnectionSpec
    settings: WorkspaceSettings
    schema: str
    table: TableInfo
    ref: str
    dialect: str
    filters: list[FilterParam]


class TableWidgets:
    """The table widgets of every connection whose setting turns them on."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.catalog = Catalog(connector)
        self._options: dict[tuple[str, ...], tuple[list[dict[str, Any]], float]] = {}
        self._lock = threading.Lock()

    def close(self) -> None:
        self.catalog.close()

    # settings ---------------------------------------------------------------------------

    def all_settings(self) -> dict[str, WorkspaceSettings]:
        found: dict[str, WorkspaceSettings] = {}
        for name, body in self.connector.store.workspace_settings().items():
            try:
                found[name] = WorkspaceSettings.model_validate(body)
            except ValidationError as exc:
                log.warning("connection %s: its Workspace setting is left out (%s)", name, exc)
        return found

    def settings(self, name: str) -> WorkspaceSettings:
        self.connector.get_connection(name)  # an unknown connection is a 404
        return self.all_settings().get(name, WorkspaceSettings())

    def put_settings(self, name: str, settings: WorkspaceSettings) -> dict[str, Any]:
        """Keep the setting and say which tables it picks now (and why none, if none)."""
        spec = self.connector.get_connection(name)
        self.connector.store.put_workspace_settings(name, settings.model_dump(mode="json"))
        self.catalog.forget(name)
        return self.preview(spec, settings)

    def remove_settings(self, name: str) -> None:
        self.connector.get_connection(name)
        self.connector.store.remove_workspace_settings(name)
        self.catalog.forget(name)

    def preview(self, spec: ConnectionSpec, settings: WorkspaceSettings) -> dict[str, Any]:
        body: dict[str, Any] = {"settings": settings.model_dump(mode="json")}
        if not settings.tables:
            return {**body, "widgets": [], "warnings": []}
        try:
            schemas = self.catalog.schemas(spec.name, max_age_s=0)
        except ConnectorError as error:
            warning = f"The tables could not be listed now ({error.detail.rstrip('.')})."
            return {**body, "widgets": [], "warnings": [warning]}
        chosen, warnings = select_tables(schemas, settings)
        widgets = [
            table_widget_id(spec.name, table_key(item.schema, item.table.name)) for item in chosen
        ]
        return {**body, "widgets": widgets, "warnings": warnings}

    # widgets.json -----------------------------------------------------------------------

    def widgets(self) -> dict[str, dict[str, Any]]:
        """The entries of every enabled connection's chosen tables; a connection whose
        catalog cannot be read keeps its last one, or has none."""
        enabled = {name: s for name, s in self.all_settings().items() if s.tables}
        if not enabled:
            return {}
        self.catalog.refresh(enabled)
        entries: dict[str, dict[str, Any]] = {}
        for name, settings in enabled.items():
            kept = self.catalog.kept(name)
            if kept is None:
                continue
            try:
                spec = self.connector.get_connection(name)
            except NotFoundError:
                continue
            schemas, comments = kept
            chosen, warnings = select_tables(schemas, settings)
            for warning in warnings:
                log.warning("connection %s: %s", name, warning)
            refs = {
                (item.schema, item.table.name): self.reference(spec, item.schema, item.table.name)
                for item in chosen
            }
            big = self.catalog.more_rows_than(name, refs.values(), self._threshold(settings))
            several = len({item.schema for item in chosen}) > 1
            for item in chosen:
                key = table_key(item.schema, item.table.name)
                entries[table_widget_id(name, key)] = table_widget(
                    spec,
                    item.schema,
                    item.table,
                    paged=big[refs[(item.schema, item.table.name)]] is not False,
                    filters=filter_params(item.table, filter_columns(item.table, settings)),
                    comments=comments.get((item.schema, item.table.name)),
                    several_schemas=several,
                )
        return entries

    def _threshold(self, settings: WorkspaceSettings) -> int:
        return settings.ssrm_above or self.connector.settings.row_limit

    @staticmethod
    def reference(spec: ConnectionSpec, schema: str, table: str) -> str:
        """The quoted reference: Snowflake's names its database too (the connection's, or
        the first part of the schema label when it has none), as Snowflake advises."""
        dialect = get_backend(spec.kind).dialect
        if spec.kind != "snowflake":
            return table_ref(schema, table, dialect)
        database = str(spec.options.get("database") or "")
        if _PLAIN_NAME.match(database):
            database = database.upper()  # Snowflake folds an unquoted name to upper case
        if database:
            return table_ref(f"{database}.{schema}", table, dialect, catalog_in_schema=True)
        return table_ref(schema, table, dialect, catalog_in_schema=True)

    # widget data ------------------------------------------------------------------------

    def _find(self, name: str, key: str, max_age_s: float) -> Resolved | None:
        spec = self.connector.get_connection(name)
        settings = self.all_settings().get(name)
        if settings is None or not settings.tables:
            raise NotFoundError(f"Connection {name!r} does not show its tables as widgets.")
        chosen, _ = select_tables(self.catalog.schemas(name, max_age_s), settings)
        for item in chosen:
            if table_key(item.schema, item.table.name) == key:
                dialect = get_backend(spec.kind).dialect
                ref = self.reference(spec, item.schema, item.table.name)
                filters = filter_params(item.table, filter_columns(item.table, settings))
                return Resolved(spec, settings, item.schema, item.table, ref, dialect, filters)
        return None

    def resolve(self, name: str, key: str) -> Resolved:
        """The table behind a widget; read the catalog again before saying it is gone."""
        found = self._find(name, key, max_age_s=30.0) or self._find(name, key, max_age_s=0)
        if found is None:
            raise NotFoundError(
                f"No table or view behind the widget {key!r} on connection {name!r} exists "
                "now; refresh the backend in Workspace to drop its widget."
            )
        return found

    def _gone(self, table: Resolved, error: SqlError) -> ConnectorError:
        """A SQL error on a table widget: a 404 if the table is no longer in the catalog."""
        if self._find(table.spec.name, table_key(table.schema, table.table.name), 0) is None:
            return NotFoundError(
                f"The {table.table.kind} {table.schema}.{table.table.name} on connection "
                f"{table.spec.name!r} no longer exists; refresh the backend in Workspace."
            )
        return error

    def data(
        self,
        name: str,
        key: str,
        values: Mapping[str, Any],
        page: Page | None,
        client: str | None,
    ) -> Any:
        """A table widget's rows (capped, with a note when cut) or, with ``page``, one page
        done in the database."""
        table = self.resolve(name, key)
        try:
            filters = {f.column: _filter_values(f, values.get(f.name)) for f in table.filters}
        except BadParamError as error:
            unfiltered, _ = select_sql(table.ref, {}, table.dialect)
            self.connector.record_refusal(name, unfiltered, error, client)
            raise
        inner, bound = select_sql(table.ref, filters, table.dialect)
        try:
            if page is None:
                limit = min(
                    max(self._threshold(table.settings), self.connector.settings.row_limit),
                    self.connector.settings.max_row_limit,
                )
                result = self.connector.run(
                    name, SavedRunRequest(sql=inner, params=bound, limit=limit), client
                )
                return records_with_note(result, self.connector.settings.max_row_limit)
            columns = [c.name for c in table.table.columns]
            paged, counted, more = paged_sql(inner, page, columns, table.dialect, bound)
            params = {**bound, **more}
            result = self.connector.run(
                name, SavedRunRequest(sql=paged, params=params, limit=page.size), client
            )
            total = self.connector.run(name, SavedRunRequest(sql=counted, params=params), client)
            return ssrm_body(result, int(total.rows[0][0]))
        except SqlError as error:
            raise self._gone(table, error) from None

    def options(self, name: str, key: str, param: str, client: str | None) -> list[Any]:
        """A filter param's dropdown: the column's distinct values, kept for a minute."""
        table = self.resolve(name, key)
        wanted = [f for f in table.filters if f.name == param]
        if not wanted:
            raise NotFoundError(f"The widget {key!r} has no filter named {param!r}.")
        cache_key = (name, table.ref, wanted[0].column)
        with self._lock:
            kept = self._options.get(cache_key)
        if kept is not None and time.monotonic() - kept[1] <= OPTIONS_MAX_AGE_S:
            return kept[0]
        sql = distinct_sql(table.ref, wanted[0].column, table.dialect)
        try:
            result = self.connector.run(
                name, SavedRunRequest(sql=sql, timeout_s=OPTIONS_TIMEOUT_S), client
            )
        except SqlError as error:
            raise self._gone(table, error) from None
        options = [{"label": _label(row[0]), "value": _option_value(row[0])} for row in result.rows]
        with self._lock:
            self._options[cache_key] = (options, time.monotonic())
        return options


def _label(value: Any) -> str:
    if isinstance(value, dt.timedelta):
        return format_timedelta(value)
    return str(value)


def _option_value(value: Any) -> Any:
    if isinstance(value, bool | int | float | str) or value is None:
        return value
    if isinstance(value, Decimal):
        return str(value)
    return _label(value)


def _filter_values(param: FilterParam, raw: Any) -> list[Any]:
    """The values a filter param was given (a list, or comma-joined text) in the column's
    type; nothing given means no filter."""
    if raw is None:
        return []
    items: Sequence[Any] = raw if isinstance(raw, list | tuple) else str(raw).split(",")
    values = []
    for item in items:
        if isinstance(item, str):
            item = item.strip()
            if not item:
                continue
        values.append(_typed(param, item))
    return values


def _typed(param: FilterParam, item: Any) -> Any:
    if param.type == "string":
        return str(item)
    if param.type == "boolean":
        text = str(item).strip().lower()
        if text in ("true", "1"):
            return True
        if text in ("false", "0"):
            return False
        raise BadParamError(f"Parameter {param.name!r} takes true or false.")
    try:
        if param.type == "integer":
            return int(str(item))
        return float(str(item))
    except ValueError:
        raise BadParamError(f"Parameter {param.name!r} takes numbers.") from None
