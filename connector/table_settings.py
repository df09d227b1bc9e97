"""A connection's Workspace setting: whether its tables and views become widgets, which ones
(include and exclude patterns for schemas and tables), which columns become filter
params, when a table is big enough to be paged in the database, and the app it goes in.

Kept in the metadata store beside the connection (``workspace_settings``, removed with
the connection). Patterns are shell-style (``*``, ``?``, ``[abc]``), matched without
regard to case; a table pattern matches the table's name or ``schema.table``. A setting
whose patterns match nothing is not an error: the connection's app has no table widgets
and the answer carries a warning saying which pattern found nothing.

Pure; must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator, model_validator

from connector.models import SchemaInfo, TableInfo, fit_to_keep

MAX_TABLES = 1000
DEFAULT_MAX_TABLES = 200


# A character ``str.strip`` keeps (spelled out: JSON schema's ``\\S`` is ECMAScript's, which
# takes U+001C-U+001F for text, where Python strips them).
_NOT_SPACE = r"[^\t-\r\x1c-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]"
# What ``_patterns`` accepts, as the document says it: 1-200 characters, not all spaces.
Pattern = Annotated[
    str,
    WithJsonSchema({"type": "string", "minLength": 1, "maxLength": 200, "pattern": _NOT_SPACE}),
]


def _patterns(value: list[str]) -> list[str]:
    for pattern in value:
        if not pattern.strip() or len(pattern) > 200:
            raise ValueError("each pattern must be 1-200 characters")
    return [pattern.strip() for pattern in value]


class WorkspaceSettings(BaseModel):
    """``PUT /connections/{name}/workspace``: how a connection shows in OpenBB Workspace."""

    model_config = ConfigDict(extra="forbid")

    tables: bool = Field(
        default=False, description="Show the connection's tables and views as widgets."
    )
    include_schemas: list[Pattern] = Field(default_factory=lambda: ["*"])
    exclude_schemas: list[Pattern] = Field(default_factory=list)
    include_tables: list[Pattern] = Field(default_factory=lambda: ["*"])
    exclude_tables: list[Pattern] = Field(default_factory=list)
    filters: list[Pattern] = Field(
        default_factory=list,
        description="Column name patterns that become widget params (dropdowns of the "
        "column's values); the same column across tables links them in the app.",
    )
    ssrm_above: int | None = Field(
        default=None,
        ge=1,
        le=2**63 - 1,
        description="Tables with more rows than this are paged in the database "
        "(ssrm_table); the server's row limit when unset.",
    )
    max_tables: int = Field(default=DEFAULT_MAX_TABLES, ge=1, le=MAX_TABLES)
    app: str | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The app the connection's widgets go in; the connection's name if unset.",
    )

    @model_validator(mode="before")
    @classmethod
    def _fit_to_keep(cls, data: Any) -> Any:
        # Kept in the store as JSON: no whole number past 64 bits, no lone surrogate (a
        # 500 from the store's encoder before; found by the fuzz test).
        return fit_to_keep(data)

    _check = field_validator(
        "include_schemas", "exclude_schemas", "include_tables", "exclude_tables", "filters"
    )(_patterns)


@dataclass(frozen=True)
class Selected:
    """One table chosen for a widget."""

    schema: str
    table: TableInfo


def _matches(name: str, patterns: Sequence[str]) -> bool:
    folded = name.casefold()
    return any(fnmatch.fnmatchcase(folded, pattern.casefold()) for pattern in patterns)


def _table_matches(schema: str, table: str, patterns: Sequence[str]) -> bool:
    return _matches(table, patterns) or _matches(f"{schema}.{table}", patterns)


def select_tables(
    schemas: Sequence[SchemaInfo], settings: WorkspaceSettings
) -> tuple[list[Selected], list[str]]:
    """The tables the setting picks, in catalog order, at most ``max_tables``, and a
    sentence for each include pattern that found nothing (and for a cut at the cap)."""
    chosen: list[Selected] = []
    used_schema: set[str] = set()
    used_table: set[str] = set()
    for schema in schemas:
        if not _matches(schema.name, settings.include_schemas):
            continue
        used_schema.update(p for p in settings.include_schemas if _matches(schema.name, [p]))
        if _matches(schema.name, settings.exclude_schemas):
            continue
        for table in schema.tables:
            hits = [
                p for p in settings.include_tables if _table_matches(schema.name, table.name, [p])
            ]
            if not hits or _table_matches(schema.name, table.name, settings.exclude_tables):
                continue
            used_table.update(hits)
            chosen.append(Selected(schema.name, table))
    warnings = [
        f"No schema matches the pattern {pattern!r}."
        for pattern in settings.include_schemas
        if pattern not in used_schema
    ]
    if used_schema:  # with no schema, every table pattern finds nothing: say it once
        warnings += [
            f"No table matches the pattern {pattern!r}."
            for pattern in settings.include_tables
            if pattern not in used_table
        ]
    if len(chosen) > settings.max_tables:
        warnings.append(
            f"{len(chosen)} tables match; only the first {settings.max_tables} become widgets "
            "(raise max_tables or narrow the patterns)."
        )
        chosen = chosen[: settings.max_tables]
    return chosen, warnings


def filter_columns(table: TableInfo, settings: WorkspaceSettings) -> list[str]:
    """The table's columns that the setting turns into filter params."""
    return [c.name for c in table.columns if _matches(c.name, settings.filters)]
