"""Statement analysis with sqlglot: one statement per request, the read-only guard, and
named ``:name`` parameters rewritten to the driver's own placeholder style.

The guard is the second line of defence: every backend that can also makes the database
session itself read-only. The rules here are the ones every dialect shares; a backend adds
its own (SQLite's pragmas, Snowflake's ``SYSTEM$`` functions) as ``GuardRules``. Each
statement is tokenized and parsed once (cached by its text), and what the parse found,
the tables it reads among it, travels with the bound statement. Parameters are found with sqlglot's tokenizer, so a colon inside
a string literal or comment, a ``::`` cast, a slice ``a[1:n]`` and a Snowflake path
``col:field`` are never taken for parameters. Values are bound by the driver, never pasted.

Must not import FastAPI, the store or any driver.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

from sqlglot import expressions as exp
from sqlglot.dialects.dialect import Dialect
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from connector.errors import BadParamError, ReadOnlyError, SqlError
from connector.inputs import NOT_TEXT, is_text

# sqlglot warns when it falls back to a generic Command; the guard handles those itself.
logging.getLogger("sqlglot").setLevel(logging.ERROR)

ParamStyle = Literal["named", "pyformat", "qmark", "format", "numeric"]
ParamValue = str | int | float | bool | None
_SCALARS = (str, int, float, bool)

_NAME = re.compile(r"^[A-Za-z_]\w*$")
# How every read-only refusal begins (the backends' own rules too), so that a caller that
# runs a read-write connection read-only can say who only reads instead.
READ_ONLY_REFUSAL = "This connection is read-only and "

_READ_ROOTS: tuple[type[exp.Expression], ...] = (
    exp.Select,
    exp.SetOperation,
    exp.Subquery,
    exp.Values,
    exp.Describe,
    exp.Show,
)
_WRITE_NODES: tuple[type[exp.Expression], ...] = (
    exp.Insert,
    exp.Update,
    exp.Delete,
    exp.Merge,
    exp.Create,
    exp.Drop,
    exp.Alter,
    exp.TruncateTable,
    exp.Copy,
    exp.Into,
    exp.Attach,
    exp.Detach,
    exp.Lock,
    exp.Set,
    exp.Grant,
    # Not writes to a table, but lasting or acting beyond the request: statistics, the
    # session's database, other sessions, transaction control.
    exp.Analyze,
    exp.Use,
    exp.Kill,
    exp.Commit,
    exp.Rollback,
    exp.Transaction,
    exp.Execute,
)
_READ_COMMANDS = {"EXPLAIN", "SHOW", "DESCRIBE", "DESC"}
_WRITE_WORDS = {
    "INSERT", "UPDATE", "DELETE", "MERGE", "UPSERT", "REPLACE", "CREATE", "DROP", "ALTER",
    "TRUNCATE", "GRANT", "REVOKE", "INTO", "ATTACH", "DETACH", "VACUUM", "CALL", "EXECUTE",
    "COPY", "PUT", "REMOVE", "LOAD", "HANDLER", "LOCK", "UNLOCK", "SET", "RENAME", "COMMENT",
    "REINDEX", "ANALYZE", "OPTIMIZE", "UNDROP", "USE", "DO", "BEGIN", "COMMIT", "ROLLBACK",
}  # fmt: skip


TableRef = tuple[str | None, str]


@dataclass(frozen=True)
class BoundStatement:
    """SQL in the driver's placeholder style and the parameters to pass with it, and the
    tables (schema or None, name) the statement names, as its one parse found them."""

    sql: str
    params: dict[str, Any] | list[Any] | None
    tables: tuple[TableRef, ...] = ()


GuardCheck = Callable[[Sequence[Token], Sequence[exp.Expression]], None]


@dataclass(frozen=True)
class GuardRules:
    """A kind's own read-only rules, beside the shared ones.

    ``check`` sees the tokens and parsed trees first and raises ``ReadOnlyError`` to refuse;
    trees of a type in ``read_roots`` are then taken as reads (``check`` vouched for them).
    """

    check: GuardCheck | None = None
    read_roots: tuple[type[exp.Expression], ...] = field(default=())


def _tokens(sql: str, dialect: str) -> list[Token]:
    if "\x00" in sql:
        raise SqlError("The SQL contains a NUL character.")
    if not is_text(sql):
        raise SqlError(f"The SQL {NOT_TEXT}.")
    if not sql.strip():
        raise SqlError("The SQL is empty.")
    try:
        return Dialect.get_or_raise(dialect).tokenize(sql)
    except SqlglotError as exc:
        raise SqlError(f"The SQL could not be read: {_token_problem(exc)}.") from exc


_MISSING = re.compile(r"Missing (\S) from (\d+):(\d+)")


def _token_problem(exc: SqlglotError) -> str:
    """What the tokenizer stopped at, as a clause: its own message quotes the SQL around
    the spot (any text, control characters and all), which no error sentence should."""
    match = _MISSING.match(str(exc.__cause__ or ""))
    if match:
        mark, line, column = match.groups()
        return f"the {mark} opened at line {line}, column {int(column) + 1} is not closed"
    return "a quote or comment is not closed"


def _statements(tokens: list[Token]) -> list[list[Token]]:
    parts: list[list[Token]] = [[]]
    for token in tokens:
        if token.token_type == TokenType.SEMICOLON:
            parts.append([])
        else:
            parts[-1].append(token)
    return [part for part in parts if part]


def _parameter_spans(tokens: list[Token]) -> list[tuple[int, int, str]]:
    """(start, end exclusive, name) of each ``:name`` placeholder."""
    spans: list[tuple[int, int, str]] = []
    for index, token in enumerate(tokens[:-1]):
        if token.token_type != TokenType.COLON:
            continue
        name_token = tokens[index + 1]
        if name_token.start != token.end + 1 or not _NAME.match(name_token.text):
            continue
        if index > 0:
            before = tokens[index - 1]
            if before.end == token.start - 1 and before.token_type not in _OPERATOR_TOKENS:
                continue  # a[1:n], col:field: a slice or a path, not a parameter
        spans.append((token.start, name_token.end + 1, name_token.text))
    return spans


_OPERATOR_TOKENS = {
    TokenType.L_PAREN, TokenType.COMMA, TokenType.EQ, TokenType.NEQ, TokenType.GT,
    TokenType.GTE, TokenType.LT, TokenType.LTE, TokenType.PLUS, TokenType.DASH,
    TokenType.STAR, TokenType.SLASH, TokenType.MOD, TokenType.L_BRACKET, TokenType.DPIPE,
}  # fmt: skip


def _parse(tokens: list[Token], sql: str, dialect: str) -> list[exp.Expression]:
    try:
        parsed = Dialect.get_or_raise(dialect).parser().parse(tokens, sql)
    except SqlglotError:
        return []
    return [tree for tree in parsed if isinstance(tree, exp.Expression)]


def _tables(trees: Sequence[exp.Expression]) -> tuple[TableRef, ...]:
    found = {
        (table.db or None, table.name)
        for tree in trees
        for table in tree.find_all(exp.Table)
        if table.name
    }
    return tuple(sorted(found, key=lambda item: (item[0] or "", item[1])))


def _check_read_only(
    tokens: list[Token], trees: list[exp.Expression], rules: GuardRules, *, session_enforced: bool
) -> None:
    """Refuse anything but reads.

    Where the database session itself is read-only (``session_enforced``), a statement the
    parser does not know goes on to the database, which gives the precise error; elsewhere
    it is refused.
    """
    if rules.check is not None:
        rules.check(tokens, trees)
    if not trees:
        for token in tokens:
            if token.text.upper() in _WRITE_WORDS and token.token_type != TokenType.STRING:
                raise ReadOnlyError(f"{READ_ONLY_REFUSAL}the statement uses {token.text.upper()}.")
        return
    for tree in trees:
        if isinstance(tree, exp.Command):
            word = str(tree.this).upper()
            if word in _READ_COMMANDS or (session_enforced and word not in _WRITE_WORDS):
                continue
            raise ReadOnlyError(f"{READ_ONLY_REFUSAL}refuses {word} statements.")
        if rules.read_roots and isinstance(tree, rules.read_roots):
            continue
        for node in tree.walk():
            if isinstance(node, _WRITE_NODES):
                raise ReadOnlyError(
                    f"{READ_ONLY_REFUSAL}the statement contains {node.key.upper()}."
                )
        if not isinstance(tree, _READ_ROOTS) and not session_enforced:
            raise ReadOnlyError(f"{READ_ONLY_REFUSAL}refuses {tree.key.upper()} statements.")


def reads_only_refusal(error: ReadOnlyError, who: str) -> ReadOnlyError:
    """``error`` said of ``who`` ("An export"), which only reads, not of the connection."""
    return ReadOnlyError(f"{who} only reads, and {error.detail.removeprefix(READ_ONLY_REFUSAL)}")


def check_read(
    sql: str,
    *,
    dialect: str,
    session_enforced: bool = False,
    rules: GuardRules = GuardRules(),
) -> None:
    """Refuse ``sql`` unless it is one statement the read-only guard lets through."""
    _analyse(sql, dialect, rules, True, session_enforced)


def parameter_names(sql: str, dialect: str = "sqlite") -> list[str]:
    """The distinct ``:name`` parameters in ``sql``, in order of first use."""
    names: list[str] = []
    for _, _, name in _parameter_spans(_tokens(sql, dialect)):
        if name not in names:
            names.append(name)
    return names


@functools.lru_cache(maxsize=1024)
def _analyse(
    sql: str, dialect: str, rules: GuardRules, read_only: bool, session_enforced: bool
) -> tuple[tuple[tuple[int, int, str], ...], tuple[TableRef, ...]]:
    """The checks that depend on the SQL alone, cached: dashboards repeat the same queries.

    Gives the parameter spans and the tables the statement names."""
    tokens = _tokens(sql, dialect)
    statements = _statements(tokens)
    if not statements:
        raise SqlError("The SQL holds no statement.")
    if len(statements) > 1:
        raise SqlError(f"Send one statement per request; this SQL has {len(statements)}.")
    trees = _parse(tokens, sql, dialect)
    if read_only:
        _check_read_only(tokens, trees, rules, session_enforced=session_enforced)
    return tuple(_parameter_spans(tokens)), _tables(trees)


def prepare(
    sql: str,
    params: Mapping[str, Any],
    *,
    dialect: str,
    paramstyle: ParamStyle,
    read_only: bool,
    session_enforced: bool = False,
    rules: GuardRules = GuardRules(),
) -> BoundStatement:
    """Check ``sql`` is one statement (and a read when ``read_only``) and bind ``params``.

    ``session_enforced`` says the database session refuses writes by itself as well;
    ``rules`` are the kind's own read-only rules.
    A list value (a multi-select) binds as several values: ``IN (:tickers)`` with
    ``["A", "B"]`` becomes ``IN (:tickers_0, :tickers_1)``; an empty list binds one NULL,
    so ``IN (...)`` matches nothing.
    """
    spans, tables = _analyse(sql, dialect, rules, read_only, session_enforced)
    if not spans:
        return BoundStatement(sql.strip().rstrip(";").rstrip(), None, tables)
    for _, _, name in spans:
        if name not in params:
            raise BadParamError(f"The SQL uses :{name} but no value was given for it.")
        value = params[name]
        if isinstance(value, list | tuple):
            if not all(item is None or isinstance(item, _SCALARS) for item in value):
                raise BadParamError(
                    f"Parameter {name!r} must be a list of strings, numbers or booleans."
                )
            texts = [item for item in value if isinstance(item, str)]
        elif not isinstance(value, _SCALARS) and value is not None:
            raise BadParamError(f"Parameter {name!r} must be a string, number, boolean or null.")
        else:
            texts = [value] if isinstance(value, str) else []
        if not all(is_text(text) for text in texts):
            raise BadParamError(f"Parameter {name!r} {NOT_TEXT}.")
    bound = _rewrite(sql, *_expand_lists(list(spans), params), paramstyle)
    return BoundStatement(bound.sql, bound.params, tables)


def _expand_lists(
    spans: list[tuple[int, int, str]], params: Mapping[str, Any]
) -> tuple[list[tuple[int, int, list[str]]], dict[str, Any]]:
    """Each span with the names it binds: one name, or ``name_0, name_1...`` for a list."""
    expanded: list[tuple[int, int, list[str]]] = []
    flat: dict[str, Any] = {}
    for start, end, name in spans:
        value = params[name]
        if not isinstance(value, list | tuple):
            expanded.append((start, end, [name]))
            flat[name] = value
            continue
        items = list(value) or [None]
        names = [f"{name}_{index}" for index in range(len(items))]
        for index, item in enumerate(items):
            key = names[index]
            while key in params:  # a given name is never overwritten
                key = f"_{key}"
            names[index] = key
            flat[key] = item
        expanded.append((start, end, names))
    return expanded, flat


def _placeholder(name: str, paramstyle: ParamStyle, position: int) -> str:
    if paramstyle == "named":
        return f":{name}"
    if paramstyle == "pyformat":
        return f"%({name})s"
    return "?" if paramstyle == "qmark" else "%s" if paramstyle == "format" else f":{position}"


def _rewrite(
    sql: str,
    spans: list[tuple[int, int, list[str]]],
    params: Mapping[str, Any],
    paramstyle: ParamStyle,
) -> BoundStatement:
    escape = paramstyle in ("pyformat", "format")
    pieces: list[str] = []
    positional: list[Any] = []
    cursor = 0
    for start, end, names in spans:
        text = sql[cursor:start]
        pieces.append(text.replace("%", "%%") if escape else text)
        holders = []
        for name in names:
            if paramstyle not in ("named", "pyformat"):
                positional.append(params[name])
            holders.append(_placeholder(name, paramstyle, len(positional)))
        pieces.append(", ".join(holders))
        cursor = end
    tail = sql[cursor:]
    pieces.append(tail.replace("%", "%%") if escape else tail)
    text = "".join(pieces).strip().rstrip(";").rstrip()
    if paramstyle in ("named", "pyformat"):
        used = {name for _, _, names in spans for name in names}
        return BoundStatement(text, {name: params[name] for name in used})
    return BoundStatement(text, positional)
