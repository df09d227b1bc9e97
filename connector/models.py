"""The domain's data shapes: connections, query requests and results, schema trees, history.

These are the types that flow between layers: a router validates a request into one of
them, the service layer and backends work on them, and the router writes the result back.
They know nothing of HTTP.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from connector.inputs import unfit

# A database kind's name; the registry in ``connector.backends`` says which exist.
KIND_PATTERN = r"^[a-z][a-z0-9_]{0,31}$"
NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_NAME = re.compile(NAME_PATTERN)
# The document states the pattern; ``check_name`` enforces it with a sentence of its own.
DOCUMENTED_NAME: dict[str, Any] = {"pattern": NAME_PATTERN}


def fit_to_keep(data: Any) -> Any:
    """A request's value, if the store and the drivers can keep all of it (``inputs``)."""
    problem = unfit(data)
    if problem is not None:
        raise ValueError(problem)
    return data


def check_name(value: str, what: str = "name") -> str:
    if not _NAME.match(value):
        raise ValueError(
            f"{what} must be 1-64 letters, digits, '_', '-' or '.', starting with a letter or digit"
        )
    return value


class ConnectionSpec(BaseModel):
    """A saved connection, without its secret."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(json_schema_extra=DOCUMENTED_NAME)
    kind: str = Field(pattern=KIND_PATTERN)
    options: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = True

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value)


class ConnectionInput(BaseModel):
    """A connection as a client sends it to create, update or test: may carry a secret."""

    model_config = ConfigDict(extra="forbid")

    name: str | None = Field(default=None, json_schema_extra=DOCUMENTED_NAME)
    kind: str = Field(pattern=KIND_PATTERN)
    options: dict[str, Any] = Field(default_factory=dict)
    read_only: bool = True
    secret: str | None = Field(default=None, repr=False)

    @model_validator(mode="before")
    @classmethod
    def _fit_to_keep(cls, data: Any) -> Any:
        return fit_to_keep(data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else check_name(value)

    def spec(self, name: str | None = None) -> ConnectionSpec:
        return ConnectionSpec(
            name=name or self.name or "unnamed",
            kind=self.kind,
            options=self.options,
            read_only=self.read_only,
        )


class NewConnection(ConnectionInput):
    """A connection to create (``POST /connections``): its name is required."""

    name: str = Field(json_schema_extra=DOCUMENTED_NAME)


class QueryRequest(BaseModel):
    """The body of ``POST /connections/{name}/query`` and ``/export``."""

    model_config = ConfigDict(extra="forbid")

    sql: str = Field(min_length=1)
    params: dict[str, str | int | float | bool | None] = Field(default_factory=dict)
    limit: int | None = Field(default=None, ge=1)
    timeout_s: float | None = Field(default=None, gt=0)


Scalar = str | int | float | bool | None


class SavedRunRequest(QueryRequest):
    """A saved query's run, built in-process: a multi-select parameter binds as a list
    (``IN (:tickers)``). The HTTP query body keeps scalar parameters only."""

    params: dict[str, Scalar | list[Scalar]] = Field(default_factory=dict)  # type: ignore[assignment]


@dataclass(frozen=True)
class Column:
    name: str
    type: str


@dataclass
class QueryResult:
    """What a finished query gives back: columns, the rows under the cap, and whether more existed."""

    query_id: str
    columns: list[Column]
    rows: list[tuple[Any, ...]]
    truncated: bool
    elapsed_ms: float


@dataclass(frozen=True)
class ColumnInfo:
    name: str
    type: str
    nullable: bool


@dataclass
class TableInfo:
    name: str
    kind: Literal["table", "view"]
    columns: list[ColumnInfo] = field(default_factory=list)


@dataclass(frozen=True)
class Comments:
    """A table's comment and its columns' comments, as the database keeps them (empty where
    the database has none or cannot say)."""

    table: str | None = None
    columns: dict[str, str] = field(default_factory=dict)


@dataclass
class SchemaInfo:
    name: str
    tables: list[TableInfo] = field(default_factory=list)


OptionType = Literal["string", "integer", "number", "boolean", "object"]


@dataclass(frozen=True)
class OptionInfo:
    """One option of a database kind, as ``GET /kinds`` describes it.

    ``secret`` marks the connection's secret (password or key), which travels in the
    body's ``secret`` field rather than among the options. ``format`` is ``path`` for a
    file and ``folder`` for a directory; ``advanced`` options are for special set-ups
    (private endpoints, TLS files, tests) and may be tucked away by a form.
    """

    name: str
    label: str
    type: OptionType
    required: bool
    default: Any = None
    choices: list[Any] | None = None
    secret: bool = False
    help: str = ""
    format: str | None = None
    advanced: bool = False
    minimum: float | None = None
    maximum: float | None = None


@dataclass(frozen=True)
class Capabilities:
    """What a database kind can do, as ``GET /kinds`` describes it."""

    # The database session itself refuses writes on read-only connections (not only the
    # statement guard).
    session_read_only: bool
    # A running statement can be stopped in the database.
    cancel: bool
    # The database enforces the query timeout itself.
    server_timeout: bool
    # ``GET /connections/{name}/schema`` lists schemas, tables, views and columns.
    schema_browsing: bool
    # Exports read the result batch by batch (a server-side cursor or equivalent).
    streaming_export: bool


@dataclass(frozen=True)
class KindInfo:
    """A database kind: its options and capabilities, or why it cannot be used here."""

    kind: str
    label: str
    available: bool
    install: str | None
    options: list[OptionInfo]
    capabilities: Capabilities | None


@dataclass(frozen=True)
class ProbeResult:
    latency_ms: float
    server_version: str


@dataclass(frozen=True)
class RunningQueryInfo:
    query_id: str
    connection: str
    sql: str
    started_at: str
    elapsed_ms: float
    client: str | None
    caller: str | None = None


@dataclass(frozen=True)
class HistoryEntry:
    query_id: str
    connection: str
    sql: str
    started_at: str
    duration_ms: float
    row_count: int | None
    outcome: str
    error_code: str | None
    client: str | None
    caller: str | None = None


ParamType = Literal["text", "number", "date", "boolean", "ticker"]
# ``ssrm_table`` is the server-side row model as Workspace's frontend names it;
# ``table_ssrm`` (the widgets.json reference's spelling) is read as the same.
WidgetType = Literal["table", "chart", "metric", "markdown", "ssrm_table", "plotly"]


class SavedParam(BaseModel):
    """One declared parameter of a saved query."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(pattern=r"^[A-Za-z_]\w{0,63}$")
    type: ParamType = "text"
    default: Any = None
    label: str | None = None
    description: str | None = None
    options: list[Any] | None = None
    # Options from a query: value[, label[, description]] (``connector.options``); it may
    # use the query's other params, which makes a dependent dropdown.
    options_sql: str | None = Field(default=None, min_length=1, max_length=20_000)
    multiple: bool = False

    def option_values(self) -> list[Any]:
        """The allowed values, from options given as values or as ``{label, value}``."""
        return [o.get("value") if isinstance(o, dict) else o for o in self.options or []]


class WidgetSpec(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: WidgetType = "table"

    @field_validator("type", mode="before")
    @classmethod
    def _frontend_spelling(cls, value: Any) -> Any:
        return "ssrm_table" if value == "table_ssrm" else value


class SavedQuery(BaseModel):
    """A named query on a connection, with typed parameters; it becomes an OpenBB widget."""

    model_config = ConfigDict(extra="forbid")

    name: str = Field(json_schema_extra=DOCUMENTED_NAME)
    connection: str = Field(json_schema_extra=DOCUMENTED_NAME)
    sql: str = Field(min_length=1)
    description: str = ""
    params: list[SavedParam] = Field(default_factory=list)
    widget: WidgetSpec = Field(default_factory=WidgetSpec)
    # Rows a widget shows at most (up to the server's maximum); the server's row limit if
    # unset. A widget whose result is cut says so in its last row.
    limit: int | None = Field(default=None, ge=1)
    # Set by the server: 1 when saved, one more at each update. An update that sends the
    # version it read (here or as If-Match) is refused with 409 if someone changed it since.
    version: int | None = Field(default=None, ge=1)

    @model_validator(mode="before")
    @classmethod
    def _fit_to_keep(cls, data: Any) -> Any:
        return fit_to_keep(data)

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_name(value, "a saved query's name")

    @field_validator("connection")
    @classmethod
    def _connection(cls, value: str) -> str:
        return check_name(value, "a connection name")
