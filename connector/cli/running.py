"""``queries`` and ``cancel ID``: the queries the running server is running now, and
stopping one. These ask the server itself (its URL from ``connector.handoff``, its key from
the data folder), since running queries live in its process."""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from connector.cli.common import (
    EXIT_NOT_FOUND,
    EXIT_UNAVAILABLE,
    Context,
    data_dir_option,
    fail,
    out,
    pass_context,
    say,
)
from connector.handoff import running_server
from connector.keys import read_api_key

CALL_TIMEOUT_S = 10


def _call(context: Context, method: str, path: str) -> Any:
    settings = context.settings()
    url = running_server(settings.data_dir)
    if url is None:
        fail(
            "no server is running on this data folder; start one with 'data-connector serve'",
            EXIT_UNAVAILABLE,
        )
    key = read_api_key(settings.data_dir) or ""
    request = urllib.request.Request(url + path, method=method, headers={"X-API-KEY": key})
    context_ssl = None
    if url.startswith("https"):
        import ssl

        from connector.tls import ensure_tls

        context_ssl = ssl.create_default_context(cafile=str(ensure_tls(settings.data_dir).ca_cert))
    try:
        with urllib.request.urlopen(request, timeout=CALL_TIMEOUT_S, context=context_ssl) as answer:
            body = answer.read()
    except urllib.error.HTTPError as exc:
        try:
            detail = json.loads(exc.read()).get("detail", exc.reason)
        except ValueError:
            detail = exc.reason
        fail(str(detail), EXIT_NOT_FOUND if exc.code == 404 else EXIT_UNAVAILABLE)
    except OSError as exc:
        fail(f"the server at {url} did not answer: {exc}", EXIT_UNAVAILABLE)
    return json.loads(body) if body else None


@click.command()
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@data_dir_option
@pass_context
def queries(context: Context, fmt: str) -> None:
    """List the queries the running server is running now."""
    running = _call(context, "GET", "/queries")
    if fmt == "json":
        click.echo(json.dumps(running))
        return
    table = Table("id", "connection", "seconds", "caller", "client", "sql")
    for item in running:
        table.add_row(
            item["query_id"],
            Text(item["connection"]),
            f"{item['elapsed_ms'] / 1000:.1f}",
            Text(item.get("caller") or ""),
            Text(item.get("client") or ""),
            Text(" ".join(item["sql"].split())[:100]),
        )
    out.print(table)


@click.command()
@click.argument("query_id")
@data_dir_option
@pass_context
def cancel(context: Context, query_id: str) -> None:
    """Stop a running query in its database."""
    _call(context, "DELETE", f"/queries/{urllib.parse.quote(query_id, safe='')}")
    say(f"Cancelled {query_id}.")
