"""OpenBB Workspace's server-side row model (AG Grid): a page request read from its body,
and its sorting and filters written as SQL around the saved query.

Workspace sends ``startRow``, ``endRow``, ``sortModel`` and ``filterModel`` (text, number,
date and set filters, alone or two joined by ``operator``). Each becomes SQL over a
wrapped subquery with quoted identifiers and bound values (``:_f0``, ``:_f1``...), never
pasted text; a column the result does not have, a filter type we do not know or a value
that does not fit its filter is a ``BadParamError`` (400) naming it; a request whose shape
is wrong (``endRow`` before ``startRow``, a sortModel that is not a list) is 422.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlglot import exp

from connector.errors import BadParamError, InvalidRequestError

DEFAULT_PAGE_ROWS = 100
LIKE_ESCAPE = "!"  # not a backslash: its escaping differs between dialects
Direction = Literal["asc", "desc"]

_COMPARISONS = {
    "equals": "=",
    "notEqual": "<>",
    "greaterThan": ">",
    "greaterThanOrEqual": ">=",
    "lessThan": "<",
    "lessThanOrEqual": "<=",
}
_TEXT_PATTERNS = {
    "contains": ("%", "%", False),
    "notContains": ("%", "%", True),
    "startsWith": ("", "%", False),
    "endsWith": ("%", "", False),
}


@dataclass(frozen=True)
class Page:
    """Rows ``start`` up to ``end`` (exclusive), sorted by (column, asc|desc) pairs and
    filtered by AG Grid filter models keyed by column."""

    start: int
    end: int
    sort: tuple[tuple[str, Direction], ...] = ()
    filters: Mapping[str, Any] = field(default_factory=dict)

    @property
    def size(self) -> int:
        return max(self.end - self.start, 1)


def _whole(value: Any, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int | str):
        raise InvalidRequestError(f"{name} must be a whole number.")
    try:
        return int(value)
    except ValueError:
        raise InvalidRequestError(f"{name} must be a whole number.") from None


def read_page(body: Mapping[str, Any], max_rows: int) -> Page:
    """The page an AG Grid request asks for, checked; ``max_rows`` caps its size."""
    start = _whole(body.get("startRow", 0), "startRow")
    end = _whole(body.get("endRow", start + DEFAULT_PAGE_ROWS), "endRow")
    if start < 0 or end <= start:
        raise InvalidRequestError("endRow must be greater than startRow, and startRow at least 0.")
    sort_model = body.get("sortModel") or []
    if not isinstance(sort_model, list):
        raise InvalidRequestError('sortModel must be a list of {"colId", "sort"}.')
    sort: list[tuple[str, Direction]] = []
    for item in sort_model:
        if not isinstance(item, dict) or not isinstance(item.get("colId"), str):
            raise InvalidRequestError('sortModel must be a list of {"colId", "sort"}.')
        if item.get("sort", "asc") not in ("asc", "desc"):
            raise InvalidRequestError("A sortModel entry's sort must be asc or desc.")
        sort.append((item["colId"], "desc" if item.get("sort") == "desc" else "asc"))
    filters = body.get("filterModel") or {}
    if not isinstance(filters, dict):
        raise InvalidRequestError("filterModel must be an object keyed by column.")
    return Page(start=start, end=min(end, start + max_rows), sort=tuple(sort), filters=filters)


class _Binder:
    """Collects bound values under names no saved-query parameter uses."""

    def __init__(self, taken: Iterable[str]) -> None:
        self.taken = set(taken)
        self.values: dict[str, Any] = {}

    def bind(self, value: Any) -> str:
        name = f"_f{len(self.values)}"
        while name in self.taken:
            name = "_" + name
        self.values[name] = value
        return f":{name}"


def _number(value: Any, column: str) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        raise BadParamError(f"The filter on {column!r} needs a number.")
    try:
        number = float(value) if not isinstance(value, int) else value
    except ValueError:
        raise BadParamError(f"The filter on {column!r} needs a number.") from None
    if isinstance(number, float) and not math.isfinite(number):
        raise BadParamError(f"The filter on {column!r} needs a finite number.")
    return int(number) if isinstance(number, float) and number.is_integer() else number


def _date(value: Any, column: str) -> str:
    """AG Grid sends ``"2024-05-01 00:00:00"``; the day, as ISO text, is what is bound."""
    text = str(value or "").strip()[:10]
    try:
        return dt.date.fromisoformat(text).isoformat()
    except ValueError:
        raise BadParamError(f"The filter on {column!r} needs a date written YYYY-MM-DD.") from None


def _escape_like(text: str) -> str:
    return (
        text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2)
        .replace("%", LIKE_ESCAPE + "%")
        .replace("_", LIKE_ESCAPE + "_")
    )


def _condition(column: str, quoted: str, model: Mapping[str, Any], binder: _Binder) -> str:
    if "conditions" in model or "operator" in model:
        operator = str(model.get("operator", "AND")).upper()
        parts = model.get("conditions") or []
        if operator not in ("AND", "OR") or not isinstance(parts, list) or not parts:
            raise BadParamError(
                f"The filter on {column!r} joins its conditions with AND or OR and needs some."
            )
        joined = f" {operator} ".join(
            _condition(column, quoted, {"filterType": model.get("filterType"), **part}, binder)
            for part in parts
            if isinstance(part, dict)
        )
        return f"({joined})"
    kind = model.get("filterType")
    if kind == "set":
        values = model.get("values")
        if not isinstance(values, list):
            raise BadParamError(f"The set filter on {column!r} needs a list of values.")
        if not values:
            return "1 = 0"
        present = [value for value in values if value is not None]
        clauses = []
        if present:
            clauses.append(f"{quoted} IN ({', '.join(binder.bind(v) for v in present)})")
        if len(present) < len(values):
            clauses.append(f"{quoted} IS NULL")
        return "(" + " OR ".join(clauses) + ")"
    if kind not in ("text", "number", "date"):
        raise BadParamError(f"The filter on {column!r} has an unknown filterType {kind!r}.")
    how = model.get("type", "equals")
    if how == "blank":
        return f"({quoted} IS NULL" + (f" OR {quoted} = ''" if kind == "text" else "") + ")"
    if how == "notBlank":
        return f"({quoted} IS NOT NULL" + (f" AND {quoted} <> ''" if kind == "text" else "") + ")"
    if kind == "text":
        if not isinstance(model.get("filter"), str | int | float):
            raise BadParamError(f"The text filter on {column!r} needs a value.")
        text = str(model["filter"])
        if how in _TEXT_PATTERNS:
            before, after, negate = _TEXT_PATTERNS[how]
            pattern = binder.bind(before + _escape_like(text.lower()) + after)
            like = f"LOWER({quoted}) LIKE {pattern} ESCAPE '{LIKE_ESCAPE}'"
            return f"NOT ({like})" if negate else like
        if how in ("equals", "notEqual"):
            return f"{quoted} {_COMPARISONS[how]} {binder.bind(text)}"
        raise BadParamError(f"The text filter on {column!r} has an unknown type {how!r}.")
    convert = _number if kind == "number" else _date
    first_key, second_key = ("filter", "filterTo") if kind == "number" else ("dateFrom", "dateTo")
    if how == "inRange":
        low = binder.bind(convert(model.get(first_key), column))
        high = binder.bind(convert(model.get(second_key), column))
        return f"({quoted} >= {low} AND {quoted} <= {high})"
    if how in _COMPARISONS:
        return f"{quoted} {_COMPARISONS[how]} {binder.bind(convert(model.get(first_key), column))}"
    raise BadParamError(f"The {kind} filter on {column!r} has an unknown type {how!r}.")


def _quote(column: str, dialect: str) -> str:
    return exp.to_identifier(column, quoted=True).sql(dialect=dialect)


def paged_sql(
    inner: str, page: Page, columns: Iterable[str], dialect: str, taken: Iterable[str]
) -> tuple[str, str, dict[str, Any]]:
    """The page's SQL, the SQL counting every row that passes the filters, and the values
    the filters bind. ``columns`` are the result's; ``taken`` the parameter names in use."""
    known = set(columns)
    for column, _ in page.sort:
        if column not in known:
            raise BadParamError(f"The sort names the column {column!r}, which the result lacks.")
    binder = _Binder(taken)
    conditions = []
    for column, model in page.filters.items():
        if column not in known:
            raise BadParamError(f"The filter names the column {column!r}, which the result lacks.")
        if not isinstance(model, dict):
            raise BadParamError(f"The filter on {column!r} must be an object.")
        conditions.append(_condition(column, _quote(column, dialect), model, binder))
    where = f" WHERE {' AND '.join(conditions)}" if conditions else ""
    order = ", ".join(
        f"{_quote(column, dialect)} {direction.upper()}" for column, direction in page.sort
    )
    paged = (
        f"SELECT * FROM (\n{inner}\n) dc_page{where}"
        + (f" ORDER BY {order}" if order else "")
        + f" LIMIT {page.size:d} OFFSET {page.start:d}"
    )
    counted = f"SELECT COUNT(*) FROM (\n{inner}\n) dc_count{where}"
    return paged, counted, binder.values
