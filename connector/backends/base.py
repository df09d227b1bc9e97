"""What every database backend provides, and the defaults most of them share.

A backend owns one database kind and describes itself: its options (a pydantic model whose
fields carry titles, help texts and defaults), its secret, its capabilities and its
``ErrorTable`` (see ``funnel``). ``describe()`` turns that into the ``KindInfo`` that
``GET /kinds``, the CLI and the desktop app's form are built from. Beyond that it validates
options, builds an SQLAlchemy engine (``URL.create``, never a pasted string), makes each
query's session read-only and time-limited, cancels a running statement, types result
columns, browses the schema and adds its own read-only rules to the statement guard.
It knows no HTTP.

``session()`` is the heart: given a DBAPI connection checked out from the engine's pool
and the query's control handle, it prepares the session, installs the cancel hook,
yields a cursor, and always leaves the connection clean for the pool. A read-write session
that ends without an error commits before it returns (a failed commit raises); any other
ends with nothing written. ``read_only`` may be True on a read-write connection (widgets,
exports): the session then refuses writes for that query where the kind can.

``quick_session()`` is the optional second way in: a session for a small read that runs on
the calling thread (the server's event loop) with no thread hop, bounded by the kind so
that it never holds the caller long. A kind that cannot bound it gives None (the default);
a session that finds the query too long, or blocked, raises ``QuickFallback`` and the
caller runs the query the usual way: nothing the quick attempt did is visible.
"""

from __future__ import annotations

import time
from abc import ABC, abstractmethod
from collections.abc import Sequence
from contextlib import AbstractContextManager
from typing import TYPE_CHECKING, Any, ClassVar, Literal

from pydantic import BaseModel
from sqlalchemy import Engine

from connector.backends.funnel import ErrorTable, first_sentence, translate
from connector.errors import ConnectorError
from connector.models import (
    Capabilities,
    Comments,
    KindInfo,
    OptionInfo,
    OptionType,
    ProbeResult,
    SchemaInfo,
)
from connector.models import ConnectionSpec as ConnectionSpec
from connector.running import QueryControl
from connector.statements import BoundStatement, GuardRules, ParamStyle
from connector.values import infer_column_types

if TYPE_CHECKING:
    from connector.fastpath import NativePlan

__all__ = [
    "Backend",
    "DBAPIConnection",
    "DBAPICursor",
    "QuickFallback",
    "first_sentence",
    "gather_comments",
    "options_info",
]

DBAPIConnection = Any
DBAPICursor = Any


class QuickFallback(Exception):
    """A quick session gave up (too long, blocked, or a write): run the query as usual."""


SecretUse = Literal["none", "optional", "required"]

_JSON_TYPES: dict[str, OptionType] = {
    "string": "string",
    "integer": "integer",
    "number": "number",
    "boolean": "boolean",
    "object": "object",
}


def _schema_type(prop: dict[str, Any], defs: dict[str, Any]) -> tuple[OptionType, list[Any] | None]:
    """The option type and choices of one JSON-schema property (``X | None`` unwrapped)."""
    variants = [v for v in prop.get("anyOf", [prop]) if v.get("type") != "null"]
    item = variants[0] if variants else prop
    if "$ref" in item:
        item = defs.get(item["$ref"].rsplit("/", 1)[-1], {"type": "object"})
    if "enum" in item:
        choices = list(item["enum"])
        kind: OptionType = "integer" if all(isinstance(c, int) for c in choices) else "string"
        return kind, choices
    if "const" in item:
        return "string", [item["const"]]
    return _JSON_TYPES.get(str(item.get("type", "string")), "string"), None


def _bound(prop: dict[str, Any], key: str) -> float | None:
    for item in prop.get("anyOf", [prop]):
        if key in item:
            return float(item[key])
    return None


def options_info(model: type[BaseModel]) -> list[OptionInfo]:
    """A kind's options, read from its pydantic model's fields and their JSON schema.

    A field's ``title`` is its label, its ``description`` the help text; ``format`` and
    ``advanced`` come from ``json_schema_extra``.
    """
    schema = model.model_json_schema(by_alias=True)
    defs = schema.get("$defs", {})
    required = set(schema.get("required", []))
    options = []
    for name, prop in schema.get("properties", {}).items():
        kind, choices = _schema_type(prop, defs)
        options.append(
            OptionInfo(
                name=name,
                label=str(prop.get("title") or name),
                type=kind,
                required=name in required,
                default=prop.get("default"),
                choices=choices,
                help=str(prop.get("description") or ""),
                format=prop.get("format") if prop.get("format") in ("path", "folder") else None,
                advanced=bool(prop.get("advanced", False)),
                minimum=_bound(prop, "minimum"),
                maximum=_bound(prop, "maximum"),
            )
        )
    return options


def gather_comments(rows: Any) -> dict[tuple[str, str], Comments]:
    """(schema, table, column or None, comment) rows as Comments per table."""
    found: dict[tuple[str, str], tuple[str | None, dict[str, str]]] = {}
    for schema, table, column, comment in rows:
        if not comment:
            continue
        current, columns = found.get((str(schema), str(table)), (None, {}))
        if column is None:
            current = str(comment)
        else:
            columns[str(column)] = str(comment)
        found[(str(schema), str(table))] = (current, columns)
    return {key: Comments(table=t, columns=c) for key, (t, c) in found.items()}


class Backend(ABC):
    """One database kind."""

    kind: ClassVar[str]
    # The name in messages ("MySQL refused the login"); ``title`` is the name in lists.
    label: ClassVar[str]
    title: ClassVar[str | None] = None
    dialect: ClassVar[str]
    paramstyle: ClassVar[ParamStyle]
    options_model: ClassVar[type[BaseModel]]
    secret_use: ClassVar[SecretUse] = "none"
    secret_label: ClassVar[str] = "Password"
    secret_help: ClassVar[str] = ""
    capabilities: ClassVar[Capabilities]
    errors: ClassVar[ErrorTable]
    # This kind's own read-only rules, added to the statement guard's common ones.
    guard_rules: ClassVar[GuardRules] = GuardRules()
    # Options that may change while the saved secret is reused, because they do not decide
    # where it is sent or whom it signs in; a change to any other needs the secret again.
    secret_free_options: ClassVar[frozenset[str]] = frozenset()

    @property
    def enforces_read_only(self) -> bool:
        """True when ``session(read_only=True)`` makes the database itself refuse writes."""
        return self.capabilities.session_read_only

    @classmethod
    def describe(cls) -> KindInfo:
        """This kind as ``GET /kinds`` shows it."""
        options = options_info(cls.options_model)
        if cls.secret_use != "none":
            options.append(
                OptionInfo(
                    name="secret",
                    label=cls.secret_label,
                    type="string",
                    required=cls.secret_use == "required",
                    secret=True,
                    help=cls.secret_help,
                )
            )
        return KindInfo(
            kind=cls.kind,
            label=cls.title or cls.label,
            available=True,
            install=None,
            options=options,
            capabilities=cls.capabilities,
        )

    def validate_options(self, options: dict[str, Any]) -> dict[str, Any]:
        """Options checked and normalised; raises ``ValueError`` with a readable reason."""
        model = self.options_model.model_validate(options)
        return model.model_dump(mode="json", exclude_none=True)

    def secret_moves(self, saved: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
        """The options, both sets validated, whose change would send the saved secret
        somewhere else (or sign in as someone else): all but ``secret_free_options``."""
        names = (saved.keys() | wanted.keys()) - self.secret_free_options
        return sorted(name for name in names if saved.get(name) != wanted.get(name))

    def validate_secret(self, options: dict[str, Any], secret: str | None) -> None:
        """Raise ``ValueError`` (a reason that never quotes the secret) when ``secret`` cannot
        sign in with ``options``; by default any secret will do."""
        return None

    @abstractmethod
    def create_engine(
        self, spec: ConnectionSpec, secret: str | None, *, pooled: bool = True
    ) -> Engine:
        """An engine for ``spec``; ``pooled=False`` for a one-off connection test."""

    @abstractmethod
    def session(
        self,
        connection: DBAPIConnection,
        control: QueryControl,
        *,
        read_only: bool,
        stream: bool,
    ) -> AbstractContextManager[DBAPICursor]:
        """Prepare the session for one query and yield a cursor; clean up afterwards."""

    @property
    def has_quick_session(self) -> bool:
        """True when this kind has a quick session at all (it overrides ``quick_session``),
        so a caller need not prepare a query for a lane that does not exist."""
        return type(self).quick_session is not Backend.quick_session

    def quick_session(
        self, engine: Engine, control: QueryControl
    ) -> AbstractContextManager[DBAPICursor] | None:
        """A read-only session for a small read on the calling thread, bounded so that it
        returns within milliseconds (or raises ``QuickFallback``); None where this kind has
        none or it is in use."""
        return None

    def execute(self, cursor: DBAPICursor, statement: BoundStatement) -> None:
        if statement.params is None:
            cursor.execute(statement.sql)
        else:
            cursor.execute(statement.sql, statement.params)

    def native_export(
        self, cursor: DBAPICursor, statement: BoundStatement, fmt: str
    ) -> NativePlan | None:
        """A plan for the database to write export ``fmt`` itself (``connector.fastpath``),
        on the session ``cursor`` is open on, or None to export the rows as usual."""
        return None

    def cap_rows(self, cursor: DBAPICursor, rows: int) -> None:
        """Before ``execute``: the caller reads at most ``rows`` rows of the next statement,
        so the database need not produce more (a row-limited ``/query``). By default
        nothing: the cursor already reads rows as they are fetched (SQLite, DuckDB)."""
        return None

    def column_types(
        self, description: Sequence[Sequence[Any]], rows: Sequence[Sequence[Any]]
    ) -> list[str]:
        """Contract column types; by default inferred from the first rows' values."""
        return infer_column_types(len(description), rows)

    def decimal_shapes(self, description: Sequence[Sequence[Any]]) -> list[tuple[int, int] | None]:
        """Each result column's declared (precision, scale), or None where the database
        does not declare them; the columnar exports type decimal columns with them. By
        default the DBAPI description's own precision and scale fields."""
        shapes: list[tuple[int, int] | None] = []
        for item in description:
            precision, scale = (item[4], item[5]) if len(item) > 5 else (None, None)
            if isinstance(precision, int) and isinstance(scale, int) and precision > 0:
                shapes.append((precision, scale))
            else:
                shapes.append(None)
        return shapes

    @abstractmethod
    def server_version(self, connection: DBAPIConnection) -> str:
        """The database server's version, as the server reports it."""

    def probe(self, engine: Engine) -> ProbeResult:
        """Connect, run the cheapest query the database allows, and time it."""
        started = time.perf_counter()
        raw = engine.raw_connection()
        try:
            version = self.server_version(raw.driver_connection)
        finally:
            raw.close()
        return ProbeResult(
            latency_ms=round((time.perf_counter() - started) * 1000, 1),
            server_version=version,
        )

    @abstractmethod
    def describe_schema(self, connection: DBAPIConnection) -> list[SchemaInfo]:
        """Schemas, tables, views and columns, in a fixed number of queries."""

    def describe_comments(self, connection: DBAPIConnection) -> dict[tuple[str, str], Comments]:
        """Comments on tables and their columns, keyed by (schema, table) as
        ``describe_schema`` names them; none by default (the database keeps none)."""
        return {}

    def translate_error(self, exc: BaseException) -> ConnectorError:
        """Our error for ``exc``, through this kind's error table (pure)."""
        return translate(exc, self.errors)
