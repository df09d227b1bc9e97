"""CLI commands for saved queries and OpenBB: ``saved add|list|run|remove`` and ``openbb``.

``connector.cli`` registers these on its ``main`` group. The shared helpers of that module
(``reported``, ``fail``, the consoles) are imported inside each command, so this module can
be imported while ``connector.cli`` itself is still loading.
"""

from __future__ import annotations

import json
import sys
import webbrowser
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlencode

import click

from connector.config import DEFAULT_PORT

if TYPE_CHECKING:
    from connector.cli import Context

OPENBB_CONNECT_PAGE = "https://pro.openbb.co/app/data-connectors"
PARAM_TYPES = ("text", "number", "date", "boolean", "ticker")
WIDGET_TYPES = ("table", "chart", "metric", "markdown", "table_ssrm")


def _param_spec(text: str) -> dict[str, Any]:
    """``name[:type][=default]``, with ``type*`` for a multi-select."""
    from connector.cli import EXIT_USAGE, fail

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
        spec["default"] = default
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
@click.pass_obj
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
    from pydantic import ValidationError

    from connector.cli import EXIT_USAGE, fail, out, reported
    from connector.models import SavedQuery
    from connector.saved import SavedQueries

    body: dict[str, Any] = {}
    if from_file is not None:
        try:
            body = json.loads(from_file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as exc:
            fail(f"{from_file.name} is not valid JSON: {exc.msg}", EXIT_USAGE)
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
        SavedQueries(context.runtime().connector).add(query)
    out.print(f"Saved query {name!r} on {connection!r}; it is the widget 'saved_{name}'.")


@saved.command("list")
@click.pass_obj
def saved_list(context: Context) -> None:
    """List the saved queries."""
    from rich.table import Table

    from connector.cli import out
    from connector.saved import SavedQueries

    table = Table("name", "connection", "widget", "params", "sql")
    for query in SavedQueries(context.runtime().connector).list():
        params = ", ".join(f"{p.name}:{p.type}{'*' if p.multiple else ''}" for p in query.params)
        table.add_row(query.name, query.connection, query.widget.type, params, query.sql)
    out.print(table)


@saved.command("run")
@click.argument("name")
@click.option("-p", "--param", "params", multiple=True, help="A value, name=value (repeatable).")
@click.option("--limit", type=click.IntRange(1), default=None)
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@click.pass_obj
def saved_run(
    context: Context, name: str, params: tuple[str, ...], limit: int | None, fmt: str
) -> None:
    """Run a saved query; values not given take their defaults."""
    from rich.table import Table

    from connector.api.queries import result_body
    from connector.cli import EXIT_USAGE, err, fail, out, reported
    from connector.saved import SavedQueries
    from connector.values import csv_value, dumps

    values: dict[str, str] = {}
    for pair in params:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"--param {pair!r} must look like name=value", EXIT_USAGE)
        values[key.strip()] = value
    with reported():
        result = SavedQueries(context.runtime().connector).run(
            name, values, limit=limit, client="cli"
        )
    if fmt == "json":
        sys.stdout.buffer.write(dumps(result_body(result, "records")) + b"\n")
        return
    table = Table(*(column.name for column in result.columns))
    for row in result.rows:
        table.add_row(*("NULL" if v is None else str(csv_value(v)) for v in row))
    out.print(table)
    err.print(f"{len(result.rows)} rows in {result.elapsed_ms:.1f} ms")


@saved.command("remove")
@click.argument("name")
@click.pass_obj
def saved_remove(context: Context, name: str) -> None:
    """Remove a saved query (and its widget)."""
    from connector.cli import out, reported
    from connector.saved import SavedQueries

    with reported():
        SavedQueries(context.runtime().connector).remove(name)
    out.print(f"Removed saved query {name!r}.")


def connect_link(backend_url: str, name: str = "Data Connector") -> str:
    """The OpenBB page that adds a custom backend, with this backend's address filled in."""
    return f"{OPENBB_CONNECT_PAGE}?{urlencode({'name': name, 'url': backend_url})}"


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="The server's port.")
@click.option("--tls", is_flag=True, help="The server runs with --tls (https).")
@click.option("--open", "open_browser", is_flag=True, help="Open the link in the browser.")
@click.pass_obj
def openbb(context: Context, port: int | None, tls: bool, open_browser: bool) -> None:
    """Print the link that adds this connector to OpenBB Workspace, and the header to paste."""
    from connector.cli import out
    from connector.runtime import prepare_data_dir
    from connector.security import load_api_key

    settings = context.settings()
    prepare_data_dir(settings.data_dir)
    key = load_api_key(settings.data_dir)[0]
    url = f"{'https' if tls else 'http'}://localhost:{port or settings.port or DEFAULT_PORT}"
    link = connect_link(url)
    out.print("Add this connector to OpenBB Workspace:", markup=False)
    out.print(f"  link:    {link}", markup=False)
    out.print(f"  URL:     {url}", markup=False)
    out.print(f"  header:  X-API-KEY: {key}", markup=False)
    out.print(
        "In OpenBB, on the data-connectors page, add a custom backend: paste the URL, "
        "add the header above as its authentication, then test and add it.",
        markup=False,
    )
    if open_browser and not webbrowser.open(link):
        out.print("Could not open a browser; open the link above by hand.", markup=False)
