"""Saved queries: named, parameterised SQL on a connection, kept in the metadata store.

Every ``:name`` in the SQL must be declared as a parameter; values arrive as text (from
a query string or an OpenBB widget) and are converted to the declared type here, then
bound by the driver, never pasted into the SQL.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connector.backends import get_backend
from connector.errors import BadParamError, NotFoundError
from connector.models import QueryRequest, QueryResult, SavedParam, SavedQuery
from connector.service import Connector
from connector.statements import parameter_names

TRUE_WORDS = frozenset({"true", "1", "yes", "on"})
FALSE_WORDS = frozenset({"false", "0", "no", "off"})


def coerce_param(param: SavedParam, raw: Any) -> Any:
    """A parameter value converted to its declared type; 400 naming it when impossible."""
    if raw is None:
        return None
    if param.type in ("text", "ticker", "date"):
        value = str(raw).strip() if param.type != "text" else str(raw)
        return value.upper() if param.type == "ticker" else value
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
        declared = {param.name for param in query.params}
        for name in parameter_names(query.sql, get_backend(spec.kind).dialect):
            if name not in declared:
                raise BadParamError(
                    f"The SQL uses :{name}, which is not declared in the query's params."
                )
        return query

    def list(self) -> list[SavedQuery]:
        return [SavedQuery.model_validate(body) for body in self.store.list_saved()]

    def get(self, name: str) -> SavedQuery:
        return SavedQuery.model_validate(self.store.get_saved(name))

    def add(self, query: SavedQuery) -> SavedQuery:
        self.store.add_saved(self.validate(query).model_dump(mode="json"))
        return query

    def update(self, name: str, query: SavedQuery) -> SavedQuery:
        if query.name != name:
            raise BadParamError("A saved query cannot be renamed; remove it and add it again.")
        self.store.update_saved(name, self.validate(query).model_dump(mode="json"))
        return query

    def remove(self, name: str) -> None:
        self.store.remove_saved(name)

    def bind(self, query: SavedQuery, values: Mapping[str, Any]) -> dict[str, Any]:
        """Values for every declared parameter: given ones converted, the rest defaults."""
        bound: dict[str, Any] = {}
        for param in query.params:
            raw = values.get(param.name, param.default)
            bound[param.name] = coerce_param(param, raw)
        return bound

    def run(
        self,
        name: str,
        values: Mapping[str, Any],
        *,
        limit: int | None = None,
        client: str | None = None,
    ) -> QueryResult:
        try:
            query = self.get(name)
        except NotFoundError:
            raise
        request = QueryRequest(sql=query.sql, params=self.bind(query, values), limit=limit)
        return self.connector.run(query.connection, request, client)
