"""Dropdowns from the data: a saved-query param whose options come from a query.

``options_sql`` returns one to three columns: the value, then a label, then a description
(Workspace shows it as ``extraInfo``). It may use the query's other params (``:sector``),
which makes a dependent dropdown: Workspace sends their current values
(``optionsParams``) and the options follow. The query is checked when the saved query is
saved: it must run with the params' defaults, return rows, and have one to three
columns; each is a 400 ``bad_param`` naming the param. Options are kept for
``OPTIONS_MAX_AGE_S``, per set of values.

Must not import FastAPI.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping
from typing import Any

import orjson

from connector.backends import get_backend
from connector.errors import BadParamError, ConnectorError, NotFoundError
from connector.models import QueryResult, SavedParam, SavedQuery, SavedRunRequest
from connector.service import Connector
from connector.statements import parameter_names
from connector.values import dumps

OPTIONS_MAX_AGE_S = 60.0
OPTIONS_ROWS = 1000
OPTIONS_TIMEOUT_S = 15.0

Binder = Callable[[SavedQuery, Mapping[str, Any]], dict[str, Any]]


def options_endpoint(query: str, param: str) -> str:
    return f"widgets/{query}/options/{param}"


def depends_on(param: SavedParam, dialect: str) -> list[str]:
    """The params the options query uses, in order."""
    return parameter_names(param.options_sql, dialect) if param.options_sql else []


def _run(
    connector: Connector, query: SavedQuery, param: SavedParam, bound: Mapping[str, Any]
) -> QueryResult:
    dialect = get_backend(connector.get_connection(query.connection).kind).dialect
    used = depends_on(param, dialect)
    request = SavedRunRequest(
        sql=param.options_sql or "",
        params={name: bound.get(name) for name in used},
        limit=OPTIONS_ROWS,
        timeout_s=OPTIONS_TIMEOUT_S,
    )
    return connector.run(query.connection, request, "options")


def _text(value: Any) -> str:
    if isinstance(value, str):
        return value
    return dumps(value).decode().strip('"')


def _option_value(value: Any) -> Any:
    return value if isinstance(value, str | int | float | bool) or value is None else _text(value)


def option_items(result: QueryResult) -> list[dict[str, Any]]:
    """``[{label, value}]`` (and ``extraInfo.description`` from a third column)."""
    items = []
    for row in result.rows:
        item: dict[str, Any] = {
            "label": _text(row[1] if len(row) > 1 and row[1] is not None else row[0]),
            "value": _option_value(row[0]),
        }
        if len(row) > 2 and row[2] is not None:
            item["extraInfo"] = {"description": _text(row[2])}
        items.append(item)
    return items


def check_options(connector: Connector, query: SavedQuery, bound: Mapping[str, Any]) -> None:
    """Refuse (400 naming the param) an options query that does not run with the defaults,
    uses an undeclared or its own param, returns no rows or the wrong number of columns."""
    dialect = get_backend(connector.get_connection(query.connection).kind).dialect
    declared = {p.name for p in query.params}
    for param in query.params:
        if not param.options_sql:
            continue
        if param.options:
            raise BadParamError(f"Parameter {param.name!r} has options and options_sql; keep one.")
        for name in depends_on(param, dialect):
            if name == param.name or name not in declared:
                raise BadParamError(
                    f"The options query of parameter {param.name!r} uses :{name}, which is "
                    "not another of the query's params."
                )
        try:
            result = _run(connector, query, param, bound)
        except ConnectorError as error:
            raise BadParamError(
                f"The options query of parameter {param.name!r} failed: {error.detail.rstrip('.')}."
            ) from None
        if not 1 <= len(result.columns) <= 3:
            raise BadParamError(
                f"The options query of parameter {param.name!r} returns "
                f"{len(result.columns)} columns; it needs value, then optionally label and "
                "description."
            )
        if not result.rows:
            raise BadParamError(
                f"The options query of parameter {param.name!r} returns no rows with the "
                "params' defaults, so its dropdown would be empty."
            )


class Options:
    """Options queries' answers, kept briefly per query, param and values."""

    def __init__(self, connector: Connector) -> None:
        self.connector = connector
        self._kept: dict[bytes, tuple[list[dict[str, Any]], float]] = {}
        self._lock = threading.Lock()

    def options(
        self, query: SavedQuery, name: str, values: Mapping[str, Any], bind: Binder
    ) -> list[dict[str, Any]]:
        params = [p for p in query.params if p.name == name and p.options_sql]
        if not params:
            raise NotFoundError(f"Parameter {name!r} of {query.name!r} has no options query.")
        try:
            bound = bind(query, values)
        except BadParamError as error:
            # Refused for its values, it is still a query a dropdown asked for.
            self.connector.record_refusal(
                query.connection, params[0].options_sql or "", error, "options"
            )
            raise
        key = orjson.dumps(
            [query.connection, params[0].options_sql, dumps(bound).decode()],
        )
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and time.monotonic() - kept[1] <= OPTIONS_MAX_AGE_S:
            return kept[0]
        items = option_items(_run(self.connector, query, params[0], bound))
        with self._lock:
            self._kept[key] = (items, time.monotonic())
        return items
