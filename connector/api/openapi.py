"""What ``/openapi.json`` says the answers look like: the contract's error body, the errors
each endpoint can give, and the 200 bodies as models.

Only the document uses these. Every endpoint still returns a ``JSONBytes`` it wrote itself,
and FastAPI passes a returned response through untouched, so a ``response_model`` here
costs a request nothing.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel, Field

from connector.models import KIND_PATTERN, Column, SchemaInfo

# The contract's table of errors, one line per status.
_WHEN: dict[int, str] = {
    400: "Bad SQL (sql_error), a statement the read-only guard refused (read_only) or a "
    "bad parameter value (bad_param).",
    401: "The API key is missing (auth_required).",
    403: "The API key is wrong (auth_invalid).",
    404: "No such connection, saved query, query id or widget (not_found).",
    409: "The name is taken (conflict).",
    413: "The request body is larger than allowed (too_large).",
    415: "The request body is not application/json (unsupported_media_type).",
    421: "The Host header is not this server's (bad_host).",
    422: "The body or query string does not fit the schema (invalid_request).",
    499: "The query was cancelled (cancelled).",
    500: "The server's own failure; the server log has details (internal_error), or its "
    "data folder cannot be written, read-only or full (storage_error).",
    502: "The database refused the connection or failed (db_unavailable).",
    504: "The query ran past its timeout and was stopped in the database (timeout).",
}


class ErrorBody(BaseModel):
    """Every non-2xx answer."""

    detail: str = Field(
        description="One human sentence; never a password, key, token or bound value."
    )
    code: str = Field(description="A stable snake_case code, such as not_found.")


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """``responses=`` for these statuses, each with the contract's error body."""
    return {status: {"model": ErrorBody, "description": _WHEN[status]} for status in statuses}


# Every endpoint: the Host check and the server's own failures.
OPEN = errors(421, 500)
# Every endpoint behind the API key (router level); 422 for a path or query that does not fit.
KEYED = errors(401, 403, 421, 422, 500)
# A POST or PUT with a body.
BODY = errors(413, 415, 422)
# Running a statement.
RUNNING = errors(400, 404, 499, 502, 504)


class HealthBody(BaseModel):
    status: Literal["ok"]
    version: str
    uptime_s: float


class ProbeBody(BaseModel):
    ok: Literal[True]
    latency_ms: float
    server_version: str


class SchemaBody(BaseModel):
    schemas: list[SchemaInfo]


class QueryBody(BaseModel):
    """A finished query; ``rows`` are arrays, or objects with ``?shape=records``."""

    query_id: str
    columns: list[Column]
    rows: list[list[Any]] | list[dict[str, Any]]
    row_count: int
    truncated: bool
    elapsed_ms: float


class OmniBody(BaseModel):
    """The SQL widget's answer: rows as a table, or a sentence as text."""

    content: list[dict[str, Any]] | str
    data_format: dict[str, str]


def document_kinds(app: FastAPI, kinds: list[str]) -> None:
    """Make ``/openapi.json`` name the database kinds there are: every request or answer
    schema's ``kind`` becomes one of ``kinds`` (the registry's), where the models alone
    can only say what a kind's name looks like."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = build()
            for component in schema.get("components", {}).get("schemas", {}).values():
                kind = component.get("properties", {}).get("kind")
                if kind is not None and kind.get("pattern") == KIND_PATTERN:
                    kind["enum"] = list(kinds)
            app.openapi_schema = schema
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
