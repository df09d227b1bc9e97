"""The wire format: how results look as JSON, for the routers, the CLI and the widgets.

One home for the query result body (``{"query_id", "columns", "rows", ...}``), rows as
arrays or as objects keyed by unique column names, and the shapes OpenBB Workspace
widgets expect (records, metrics, markdown, the omni widget's content). Values inside are
written by ``connector.values.dumps``. Pure functions over ``connector.models`` types.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

from connector.models import Column, QueryResult
from connector.values import dumps

RowShape = Literal["rows", "records"]


def record_keys(columns: Sequence[Column]) -> list[str]:
    """Column names made unique for use as object keys (``_2``, ``_3``... suffixes)."""
    keys: list[str] = []
    seen: dict[str, int] = {}
    for column in columns:
        name = column.name
        count = seen.get(name, 0) + 1
        seen[name] = count
        key = name if count == 1 else f"{name}_{count}"
        while key in seen and key != name:
            count += 1
            key = f"{name}_{count}"
        seen.setdefault(key, 1)
        keys.append(key)
    return keys


def records(result: QueryResult) -> list[dict[str, Any]]:
    """The rows as objects keyed by column name."""
    keys = record_keys(result.columns)
    return [dict(zip(keys, row, strict=True)) for row in result.rows]


def result_body(result: QueryResult, shape: RowShape = "rows") -> dict[str, Any]:
    """The contract's body for a finished query."""
    rows: list[Any] = records(result) if shape == "records" else list(result.rows)
    return {
        "query_id": result.query_id,
        # A Column holds two strings: its fields as they are, without asdict's deep copy
        # (which cost more than the rest of the body).
        "columns": [dict(vars(column)) for column in result.columns],
        "rows": rows,
        "row_count": len(result.rows),
        "truncated": result.truncated,
        "elapsed_ms": result.elapsed_ms,
    }


def cut_note(result: QueryResult, maximum: int) -> str:
    """The sentence a widget shows when its result was cut at its row limit."""
    return (
        f"Showing the first {len(result.rows):,} rows; more exist. Raise the saved query's "
        f"limit (at most {maximum:,}) or make it an ssrm_table widget, which pages in the "
        "database."
    )


def records_with_note(result: QueryResult, maximum: int) -> list[dict[str, Any]]:
    """The rows as records and, when the result was cut, a last row saying so in its first
    column (the others empty), so the cut is seen in the grid rather than silent."""
    rows = records(result)
    if result.truncated and result.columns:
        keys = record_keys(result.columns)
        rows.append(
            {key: (cut_note(result, maximum) if i == 0 else None) for i, key in enumerate(keys)}
        )
    return rows


def metric_body(result: QueryResult) -> list[dict[str, Any]]:
    """A metric widget's items: rows with label/value(/delta), else the first row's cells."""
    rows = records(result)
    if rows and {"label", "value"} <= rows[0].keys():
        return [
            {key: row[key] for key in ("label", "value", "delta") if key in row} for row in rows
        ]
    if not rows:
        return []
    return [{"label": key, "value": value} for key, value in rows[0].items()]


def _markdown_cell(value: Any) -> str:
    text = "" if value is None else dumps(value).decode().strip('"')
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_body(result: QueryResult) -> str:
    """A markdown widget's text: one text cell as it is, else the rows as a table."""
    if len(result.columns) == 1 and len(result.rows) == 1 and isinstance(result.rows[0][0], str):
        return result.rows[0][0]
    header = [column.name for column in result.columns]
    lines = [
        "| " + " | ".join(_markdown_cell(name) for name in header) + " |",
        "| " + " | ".join("---" for _ in header) + " |",
    ]
    lines.extend("| " + " | ".join(_markdown_cell(v) for v in row) + " |" for row in result.rows)
    return "\n".join(lines)


def markdown_with_note(result: QueryResult, maximum: int) -> str:
    text = markdown_body(result)
    return f"{text}\n\n*{cut_note(result, maximum)}*" if result.truncated else text


def ssrm_body(result: QueryResult, total: int) -> dict[str, Any]:
    """A server-side row model page: its rows and the total row count."""
    return {"rowData": records(result), "rowCount": total}


def omni_table(result: QueryResult, maximum: int) -> dict[str, Any]:
    """The omni (SQL) widget's answer: the rows as a table, with a note row if cut."""
    return {
        "content": records_with_note(result, maximum),
        "data_format": {"data_type": "object", "parse_as": "table"},
    }


def omni_text(text: str) -> dict[str, Any]:
    """The omni widget's answer as text (a hint, or an error shown to the user)."""
    return {"content": text, "data_format": {"data_type": "object", "parse_as": "text"}}
