"""The SQL behind a table widget: select, filter, count and list a column's values, with
every identifier quoted by sqlglot for the connection's dialect and every value bound
(``:_w0``, ``:_w1``...), never pasted. Names come from the database's own catalog, not
from the request: a request only picks which catalog entry by its key.

Pure; must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlglot import exp

OPTION_ROWS = 500


def quote(name: str, dialect: str) -> str:
    return exp.to_identifier(name, quoted=True).sql(dialect=dialect)


def table_ref(schema: str, table: str, dialect: str, *, catalog_in_schema: bool = False) -> str:
    """``"schema"."table"``; with ``catalog_in_schema`` the schema label is
    ``database.schema`` (Snowflake without a database chosen) and both are quoted."""
    parts = schema.split(".", 1) if catalog_in_schema and "." in schema else [schema]
    return ".".join(quote(part, dialect) for part in [*parts, table])


def where_sql(filters: Mapping[str, Sequence[Any]], dialect: str) -> tuple[str, dict[str, Any]]:
    """`` WHERE "a" IN (:_w0, :_w1) AND "b" = :_w2`` and the values; empty with no filters.
    ``filters`` maps a column to the values it may take (a missing key or an empty list
    filters nothing)."""
    clauses: list[str] = []
    bound: dict[str, Any] = {}
    for column, values in filters.items():
        if not values:
            continue
        names = []
        for value in values:
            name = f"_w{len(bound)}"
            bound[name] = value
            names.append(f":{name}")
        quoted = quote(column, dialect)
        clauses.append(
            f"{quoted} = {names[0]}" if len(names) == 1 else f"{quoted} IN ({', '.join(names)})"
        )
    return (f" WHERE {' AND '.join(clauses)}" if clauses else ""), bound


def select_sql(
    ref: str, filters: Mapping[str, Sequence[Any]], dialect: str
) -> tuple[str, dict[str, Any]]:
    """Every column of the table, filtered; the caller caps the rows."""
    where, bound = where_sql(filters, dialect)
    return f"SELECT * FROM {ref}{where}", bound


def bounded_count_sql(ref: str, cap: int) -> str:
    """How many rows, reading at most ``cap`` of them: enough to know 'more than cap'."""
    return f"SELECT COUNT(*) FROM (SELECT 1 AS one FROM {ref} LIMIT {int(cap):d}) dc_n"


def distinct_sql(ref: str, column: str, dialect: str, limit: int = OPTION_ROWS) -> str:
    """A column's distinct values, for a dropdown."""
    quoted = quote(column, dialect)
    return (
        f"SELECT DISTINCT {quoted} FROM {ref} WHERE {quoted} IS NOT NULL "
        f"ORDER BY {quoted} LIMIT {int(limit):d}"
    )
