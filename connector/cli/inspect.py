"""``schema CONN`` (schemas, tables and columns) and ``history`` (past queries)."""

from __future__ import annotations

import dataclasses
import sys

import click
from rich.table import Table
from rich.text import Text

from connector.cli.common import Context, data_dir_option, out, pass_context, reported
from connector.models import HistoryEntry
from connector.values import dumps


@click.command()
@click.argument("connection")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@data_dir_option
@pass_context
def schema(context: Context, connection: str, fmt: str) -> None:
    """List a connection's schemas, tables, views and columns."""
    with reported():
        schemas = context.runtime().connector.describe_schema(connection)
    if fmt == "json":
        body = {"schemas": [dataclasses.asdict(item) for item in schemas]}
        sys.stdout.buffer.write(dumps(body) + b"\n")
        return
    table = Table("schema", "table", "kind", "columns")
    for item in schemas:
        for info in item.tables:
            columns = ", ".join(f"{c.name} {c.type}" for c in info.columns)
            table.add_row(Text(item.name), Text(info.name), info.kind, Text(columns))
    out.print(table)


@click.command()
@click.option("--limit", type=click.IntRange(1, 1000), default=50, show_default=True)
@click.option("-c", "--connection", default=None, help="Only this connection's queries.")
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "plain"]),
    default="table",
    help="plain: a header, then one tab-separated line a query (for grep and awk).",
)
@data_dir_option
@pass_context
def history(context: Context, limit: int, connection: str | None, fmt: str) -> None:
    """Show past queries, newest first (never their parameter values)."""
    with reported():
        entries = context.runtime().connector.history(limit=limit, connection=connection)
    if fmt == "json":
        sys.stdout.buffer.write(dumps([dataclasses.asdict(e) for e in entries]) + b"\n")
        return
    if fmt == "plain":
        fields = [field.name for field in dataclasses.fields(HistoryEntry)]
        lines = ["\t".join(fields)]
        for entry in entries:
            values = dataclasses.asdict(entry)
            lines.append("\t".join(_plain(values[name]) for name in fields))
        click.echo("\n".join(lines))
        return
    table = Table("started", "connection", "outcome", "rows", "ms", "caller", "client", "sql")
    for entry in entries:
        table.add_row(
            entry.started_at,
            Text(entry.connection),
            entry.outcome,
            "" if entry.row_count is None else f"{entry.row_count:,}",
            f"{entry.duration_ms:.1f}",
            Text(entry.caller or ""),
            Text(entry.client or ""),
            Text(" ".join(entry.sql.split())[:120]),
        )
    out.print(table)


def _plain(value: object) -> str:
    """A field on one line: SQL's newlines and tabs become spaces, nothing is ``""``."""
    return "" if value is None else " ".join(str(value).split())
