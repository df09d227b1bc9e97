"""Saved queries: named, parameterised SQL on a connection, kept in the metadata store.

A saved query becomes a widget, so it only reads: SQL the read-only guard would refuse is
refused when it is saved (400 naming ``sql``), and every run (widget GETs and their column
probing, SSRM pages, ``run``) is read-only in the guard and, where the kind can, in the
session, even on a read-write connection.

Every ``:name`` in the SQL must be declared as a parameter; values arrive as text (from
a query string or an OpenBB widget) and are converted to the declared type here, then
bound by the driver, never pasted into the SQL. A multi-select parameter arrives
comma-joined (as OpenBB sends it) and binds as a list; a date default such as
``$currentDate-1w`` is resolved on the day the query runs. Paged runs (OpenBB's
``ssrm_table``) wrap the saved SQL in a subquery so the database filters, sorts, counts
and pages (``connector.ssrm`` writes that SQL).

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import builtins
import calendar
import datetime as dt
import logging
import re
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import ValidationError

from connector.backends import get_backend
from connector.errors import BadParamError, ReadOnlyError
from connector.models import (
    Column,
    QueryResult,
    SavedParam,
    SavedQuery,
    SavedRunRequest,
)
from connector.options import check_options
from connector.param_links import check_linked_params
from connector.service import Connector
from connector.ssrm import Page, paged_sql
from connector.statements import check_read, parameter_names, reads_only_refusal
from connector.widget_options import check_widget

log = logging.getLogger(__name__)

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})
PROBE_ROWS = 50
PROBE_TIMEOUT_S = 10.0
# What only reads, in refusals: a saved query is a widget's, so it never writes.
READS_ONLY = "A saved query"
_RELATIVE_DATE = re.compile(r"^\$currentDate(?:([+-])(\d{1,4})([hdwMmy]))?$")
_ISO_DATE = re.compile(r"^(\d{4}-\d{2}-\d{2})(?:[T ][0-9:.]+(?:Z|[+-]\d{2}:?\d{2})?)?$")


def resolve_date(text: str, today: dt.date | None = None) -> dt.date | None:
    """``$currentDate``, ``$currentDate-1w`` (units h, d, w, M or m for months, y) as a date
    (hours move the day only when they cross midnight of today's date).

    Raises ``ValueError`` or ``OverflowError`` for a date outside the years 1 to 9999."""
    match = _RELATIVE_DATE.match(text.strip())
    if match is None:
        return None
    day = today or dt.date.today()
    sign, amount, unit = match.groups()
    if sign is None:
        return day
    count = int(amount) * (1 if sign == "+" else -1)
    if unit == "h":
        moment = dt.datetime.combine(day, dt.datetime.now().time()) + dt.timedelta(hours=count)
        return moment.date()
    if unit == "d":
        return day + dt.timedelta(days=count)
    if unit == "w":
        return day + dt.timedelta(weeks=count)
    months = day.year * 12 + day.month - 1 + (count * 12 if unit == "y" else count)
    year, month = divmod(months, 12)
    return dt.date(year, month + 1, min(day.day, calendar.monthrange(year, month + 1)[1]))


def _coerce_date(param: SavedParam, raw: Any) -> str:
    if isinstance(raw, dt.datetime):
        return raw.date().isoformat()
    if isinstance(raw, dt.date):
        return raw.isoformat()
    text = str(raw).strip()
    try:
        relative = resolve_date(text)
    except (ValueError, OverflowError):
        raise BadParamError(
            f"Parameter {param.name!r} is a relative date outside the years 1 to 9999."
        ) from None
    if relative is not None:
        return relative.isoformat()
    match = _ISO_DATE.match(text)
    if match is not None:
        try:
            return dt.date.fromisoformat(match.group(1)).isoformat()
        except ValueError:
            pass
    raise BadParamError(f"Parameter {param.name!r} must be a date written YYYY-MM-DD.")


def coerce_param(param: SavedParam, raw: Any) -> Any:
    """A parameter value converted to its declared type; 400 naming it when impossible.

    A multi-select parameter gives a list: from a list, or from comma-joined text.
    """
    if param.multiple:
        if raw is None:
            return []
        items = raw if isinstance(raw, list | tuple) else str(raw).split(",")
        texts = [item for item in items if not (isinstance(item, str) and not item.strip())]
        return [_coerce_one(param, item) for item in texts]
    if isinstance(raw, list | tuple):
        raise BadParamError(f"Parameter {param.name!r} takes one value, not a list.")
    return _coerce_one(param, raw)


def _coerce_one(param: SavedParam, raw: Any) -> Any:
    value = _coerce_type(param, raw)
    if param.options and value is not None:
        allowed = param.option_values()
        if value not in allowed and str(value) not in {str(item) for item in allowed}:
            raise BadParamError(f"Parameter {param.name!r} must be one of its options.")
    return value


def _coerce_type(param: SavedParam, raw: Any) -> Any:
    if raw is None:
        return None
    if param.type == "date":
        return _coerce_date(param, raw)
    if param.type in ("text", "ticker"):
        if isinstance(raw, dict | list):
            raise BadParamError(f"Parameter {param.name!r} must be text.")
        value = str(raw).strip() if param.type == "ticker" else str(raw)
        return value.upper() if param.type == "ticker" else value
    if isinstance(raw, dict | list):
        raise BadParamError(f"Parameter {param.name!r} must be a single value.")
    if param.type == "number":
        if isinstance(raw, bool):
            raise BadParamError(f"Parameter {param.name!r} must be a number.")
        if isinstance(raw, int | float):
            return raw
        text = str(raw).strip()
        try:
            return int(text)
        except ValueError:
            try:
                return float(text)
            except ValueError:
                raise BadParamError(f"Parameter {param.name!r} must be a number.") from None
    if isinstance(raw, bool):
        return raw
    text = str(raw).strip().lower()
    if text in TRUE_WORDS:
        return True
    if text in FALSE_WORDS:
        return False
    raise BadParamError(f"Parameter {param.name!r} must be true or false.")


class SavedQueries:
    """CRUD and execution of saved queries."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self.store = connector.store

    def validate(self, query: SavedQuery) -> SavedQuery:
        spec = self.connector.get_connection(query.connection)
        backend = get_backend(spec.kind)
        try:
            check_read(
                query.sql,
                dialect=backend.dialect,
                session_enforced=backend.enforces_read_only,
                rules=backend.guard_rules,
            )
        except ReadOnlyError as error:
            refusal = reads_only_refusal(error, READS_ONLY).detail
            raise ReadOnlyError(f"sql: {refusal[0].lower()}{refusal[1:]}") from None
        declared = {param.name for param in query.params}
        for name in parameter_names(query.sql, backend.dialect):
            if name not in declared:
                raise BadParamError(
                    f"The SQL uses :{name}, which is not declared in the query's params."
                )
        maximum = self.connector.settings.max_row_limit
        if query.limit is not None and query.limit > maximum:
            raise BadParamError(f"limit must be at most {maximum:,}, the server's maximum.")
        check_widget(query.widget.model_dump())
        seen: set[str] = set()
        params = []
        for param in query.params:
            if param.name in seen:
                raise BadParamError(f"Parameter {param.name!r} is declared twice.")
            seen.add(param.name)
            # A bad default is refused now, not at run time; a good one is kept with its
            # param's JSON type ("true" for a boolean is true), as Workspace needs it.
            typed = coerce_param(param, param.default)
            if param.type in ("boolean", "number") and not param.multiple:
                param = param.model_copy(update={"default": typed})
            params.append(param)
        checked = query.model_copy(update={"params": params})
        # Dropdowns from the data and linked params (connector.options, .param_links).
        check_options(self.connector, checked, self.bind(checked, {}))
        app_names = {
            name: str(body["app"])
            for name, body in self.store.workspace_settings().items()
            if body.get("app")
        }
        check_linked_params(checked, self.list(), app_names)
        return checked

    def list(self) -> list[SavedQuery]:
        return self.list_valid()[0]

    def list_valid(self) -> tuple[builtins.list[SavedQuery], builtins.list[str]]:
        """The saved queries that still fit the model, and a sentence for each that does not.

        A row written by an older version, or edited by hand, must not break every widget.
        """
        queries: builtins.list[SavedQuery] = []
        problems: builtins.list[str] = []
        for body in self.store.list_saved():
            try:
                queries.append(SavedQuery.model_validate(body))
            except ValidationError as exc:
                name = body.get("name", "?") if isinstance(body, dict) else "?"
                problem = (
                    f"saved query {name!r} is not valid and is left out: {exc.errors()[0]['msg']}"
                )
                log.warning(problem)
                problems.append(problem)
        return queries, problems

    def get(self, name: str) -> SavedQuery:
        return SavedQuery.model_validate(self.store.get_saved(name))

    def add(self, query: SavedQuery) -> SavedQuery:
        checked = self.validate(query)
        version = self.store.add_saved(checked.model_dump(mode="json"))
        return checked.model_copy(update={"version": version})

    def update(
        self, name: str, query: SavedQuery, expected_version: int | None = None
    ) -> SavedQuery:
        """Replace ``name``; the version the caller read (``expected_version``, else the
        body's ``version``) must still be current, or 409."""
        if query.name != name:
            raise BadParamError("A saved query cannot be renamed; remove it and add it again.")
        checked = self.validate(query)
        expected = expected_version if expected_version is not None else query.version
        version = self.store.update_saved(name, checked.model_dump(mode="json"), expected)
        return checked.model_copy(update={"version": version})

    def remove(self, name: str) -> None:
        self.store.remove_saved(name)

    def bind(self, query: SavedQuery, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values for every declared parameter: given ones converted, the rest defaults."""
        bound: dict[str, Any] = {}
        for param in query.params:
            raw = values.get(param.name, param.default)
            bound[param.name] = coerce_param(param, raw)
        return bound

    def _bound(
        self, query: SavedQuery, values: Mapping[str, Any], client: str | None
    ) -> dict[str, Any]:
        """``bind``, with a refusal recorded in history: a run refused for its values is
        still a query someone asked for."""
        try:
            return self.bind(query, values)
        except BadParamError as error:
            self.connector.record_refusal(query.connection, query.sql, error, client)
            raise

    def run(
        self,
        name: str,
        values: Mapping[str, Any],
        *,
        limit: int | None = None,
        client: str | None = None,
    ) -> QueryResult:
        """Run saved query ``name`` with ``values``: a name it does not declare is refused
        (a misspelt parameter would otherwise run with its default)."""
        query = self.get(name)
        self.check_names(query, values, client)
        return self.run_query(query, values, limit=limit, client=client)

    def check_names(self, query: SavedQuery, values: Mapping[str, Any], client: str | None) -> None:
        """Refuse (and record in history) a value for a parameter ``query`` does not declare."""
        declared = [param.name for param in query.params]
        unknown = [key for key in values if key not in declared]
        if unknown:
            takes = ", ".join(declared) if declared else "no parameters"
            error = BadParamError(
                f"The saved query {query.name!r} has no parameter {unknown[0]!r}; it takes {takes}."
            )
            self.connector.record_refusal(query.connection, query.sql, error, client)
            raise error

    def run_query(
        self,
        query: SavedQuery,
        values: Mapping[str, Any],
        *,
        limit: int | None = None,
        client: str | None = None,
    ) -> QueryResult:
        request = SavedRunRequest(
            sql=query.sql, params=self._bound(query, values, client), limit=limit or query.limit
        )
        return self.connector.run(query.connection, request, client, reads_only=READS_ONLY)

    def columns(self, query: SavedQuery) -> builtins.list[Column]:
        """The result's columns, from a few rows run with the defaults (for column defs)."""
        request = SavedRunRequest(
            sql=query.sql, params=self.bind(query, {}), limit=PROBE_ROWS, timeout_s=PROBE_TIMEOUT_S
        )
        return self.connector.run(
            query.connection, request, "widgets.json", reads_only=READS_ONLY
        ).columns

    def run_page(
        self,
        query: SavedQuery,
        values: Mapping[str, Any],
        page: Page,
        *,
        columns: Sequence[str] | None = None,
        client: str | None = None,
    ) -> tuple[QueryResult, int]:
        """One page of the result, filtered, sorted and paged by the database, and the count
        of rows that pass the filters. ``columns`` are the result's column names if known;
        else a query that returns no rows finds them."""
        dialect = get_backend(self.connector.get_connection(query.connection).kind).dialect
        inner = query.sql.strip().rstrip(";").rstrip()
        params = self._bound(query, values, client)
        if columns is None:
            empty = SavedRunRequest(
                sql=f"SELECT * FROM (\n{inner}\n) dc_cols LIMIT 0", params=params, limit=1
            )
            found = self.connector.run(query.connection, empty, client, reads_only=READS_ONLY)
            columns = [c.name for c in found.columns]
        paged, counted, bound = paged_sql(inner, page, columns, dialect, params)
        result = self.connector.run(
            query.connection,
            SavedRunRequest(sql=paged, params={**params, **bound}, limit=page.size),
            client,
            reads_only=READS_ONLY,
        )
        total = self.connector.run(
            query.connection,
            SavedRunRequest(sql=counted, params={**params, **bound}),
            client,
            reads_only=READS_ONLY,
        )
        return result, int(total.rows[0][0])
