"""``saved add | list | run | remove``: saved queries, each an OpenBB widget."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, get_args

import click
from pydantic import ValidationError
from rich.table import Table
from rich.text import Text

from connector.cli.common import (
    EXIT_USAGE,
    Context,
    count_phrase,
    data_dir_option,
    fail,
    note,
    out,
    parse_pairs,
    pass_context,
    reported,
    rows_table,
    say,
)
from connector.errors import BadParamError
from connector.models import ParamType, SavedParam, SavedQuery, WidgetType
from connector.saved import coerce_param
from connector.values import dumps
from connector.wire import result_body

PARAM_TYPES: tuple[str, ...] = get_args(ParamType)
WIDGET_TYPES: tuple[str, ...] = get_args(WidgetType)


def _default(name: str, kind: str, text: str) -> Any:
    """A default typed as its parameter: ``true`` for a boolean is ``True``, not text."""
    if kind not in ("boolean", "number"):
        return text
    try:
        return coerce_param(SavedParam(name=name, type=kind), text)
    except (BadParamError, ValueError) as exc:
        fail(f"the default of {name!r}: {getattr(exc, 'detail', exc)}", EXIT_USAGE)


def _param_spec(text: str) -> dict[str, Any]:
    """``name[:type][=default]``, with ``type*`` for a multi-select."""
    head, has_default, default = text.partition("=")
    name, _, kind = head.partition(":")
    kind = kind.strip() or "text"
    multiple = kind.endswith("*")
    kind = kind.rstrip("*")
    if kind not in PARAM_TYPES or not name.strip():
        fail(
            f"--param {text!r} must look like name[:type][=default], type one of "
            f"{', '.join(PARAM_TYPES)} (add * for a multi-select)",
            EXIT_USAGE,
        )
    spec: dict[str, Any] = {"name": name.strip(), "type": kind, "multiple": multiple}
    if has_default:
        spec["default"] = default if multiple else _default(name.strip(), kind, default)
    return spec


@click.group()
def saved() -> None:
    """Add, list, run and remove saved queries (each becomes an OpenBB widget)."""


@saved.command("add")
@click.argument("name")
@click.option("-c", "--connection", required=True, help="The connection it runs on.")
@click.option("--sql", help="The SQL, with :name parameters.")
@click.option(
    "-p",
    "--param",
    "params",
    multiple=True,
    help="A parameter: name[:type][=default], e.g. symbol:ticker=AAPL or tickers:ticker*.",
)
@click.option("-d", "--description", default="", help="Shown in OpenBB's widget list.")
@click.option("-w", "--widget", type=click.Choice(WIDGET_TYPES), default="table")
@click.option(
    "--from-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A JSON file with the whole saved query (labels, options...); other options fill gaps.",
)
@data_dir_option
@pass_context
def saved_add(
    context: Context,
    name: str,
    connection: str,
    sql: str | None,
    params: tuple[str, ...],
    description: str,
    widget: str,
    from_file: Path | None,
) -> None:
    """Save a query; every :name in its SQL must be declared with --param."""
    body: dict[str, Any] = {}
    if from_file is not None:
        try:
            body = json.loads(from_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            fail(f"{from_file.name} is not valid JSON: {exc.msg}", EXIT_USAGE)
        if not isinstance(body, dict):
            fail(f"{from_file.name} must hold one JSON object", EXIT_USAGE)
    body.update(name=name, connection=connection)
    if sql is not None:
        body["sql"] = sql
    if params:
        body["params"] = [_param_spec(text) for text in params]
    if description:
        body["description"] = description
    if widget != "table" or "widget" not in body:
        body["widget"] = {**body.get("widget", {}), "type": widget}
    try:
        query = SavedQuery.model_validate(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"])
        fail(f"invalid saved query: {where}: {first['msg']}", EXIT_USAGE)
    with reported():
        context.runtime().workspace.saved.add(query)
    say(f"Saved query {name!r} on {connection!r}; it is the widget 'saved_{name}'.")


@saved.command("list")
@data_dir_option
@pass_context
def saved_list(context: Context) -> None:
    """List the saved queries."""
    table = Table("name", "connection", "widget", "params", "sql")
    for query in context.runtime().workspace.saved.list():
        params = ", ".join(f"{p.name}:{p.type}{'*' if p.multiple else ''}" for p in query.params)
        table.add_row(
            Text(query.name),
            Text(query.connection),
            query.widget.type,
            Text(params),
            Text(query.sql),
        )
    out.print(table)


@saved.command("run")
@click.argument("name")
@click.option("-p", "--param", "params", multiple=True, help="A value, name=value (repeatable).")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@data_dir_option
@pass_context
def saved_run(
    context: Context, name: str, params: tuple[str, ...], limit: int | None, fmt: str
) -> None:
    """Run a saved query; values not given take their defaults."""
    values = parse_pairs(params, "--param")
    saved_queries = context.runtime().workspace.saved
    with reported():
        query = saved_queries.get(name)
        try:
            saved_queries.check_names(query, values, "cli")
        except BadParamError as error:
            fail(error.detail.rstrip("."), EXIT_USAGE)  # a mistyped -p NAME: a usage error
        result = saved_queries.run_query(query, values, limit=limit, client="cli")
    if fmt == "json":
        sys.stdout.buffer.write(dumps(result_body(result, "records")) + b"\n")
        return
    out.print(rows_table(result.columns, result.rows))
    note(f"{count_phrase(len(result.rows))} in {result.elapsed_ms:.1f} ms")


@saved.command("remove")
@click.argument("name")
@data_dir_option
@pass_context
def saved_remove(context: Context, name: str) -> None:
    """Remove a saved query (and its widget)."""
    with reported():
        context.runtime().workspace.saved.remove(name)
    say(f"Removed saved query {name!r}.")
