"""``key show | rotate`` (the data folder's key file) and ``key add | list | revoke`` (named
keys in the metadata store, shared by every replica: ``connector.named_keys``)."""

from __future__ import annotations

import json

import click
from rich.table import Table
from rich.text import Text

from connector.cli.common import (
    Context,
    config_option,
    data_dir_option,
    note,
    out,
    pass_context,
    reported,
    say,
)
from connector.keys import load_api_key, rotate_api_key
from connector.runtime import prepare_data_dir


@click.group()
def key() -> None:
    """Show or rotate the API key; add, list or revoke named keys."""


@key.command("show")
@data_dir_option
@pass_context
def key_show(context: Context) -> None:
    """Print the API key."""
    settings = context.settings()
    prepare_data_dir(settings.data_dir)
    click.echo(load_api_key(settings.data_dir)[0])


@key.command("rotate")
@data_dir_option
@pass_context
def key_rotate(context: Context) -> None:
    """Make a new API key; the old one stops working at once, also in a running server."""
    settings = context.settings()
    prepare_data_dir(settings.data_dir)
    click.echo(rotate_api_key(settings.data_dir))
    note("The old key no longer works; update OpenBB and your scripts.")


@key.command("add")
@click.argument("name")
@data_dir_option
@config_option
@pass_context
def key_add(context: Context, name: str) -> None:
    """Make a named key (printed once); history records NAME as its queries' caller."""
    runtime = context.runtime()
    with reported():
        made = runtime.keys.add(name)
    click.echo(made)
    note(f"This is the only time the key {name!r} is shown; 'key revoke {name}' stops it.")


@key.command("list")
@click.option("-f", "--format", "fmt", type=click.Choice(["table", "json"]), default="table")
@data_dir_option
@config_option
@pass_context
def key_list(context: Context, fmt: str) -> None:
    """List the named keys (never the keys themselves)."""
    keys = context.runtime().keys.list()
    if fmt == "json":
        click.echo(json.dumps([info.__dict__ for info in keys]))
        return
    table = Table("name", "from", "created", "revoked")
    for info in keys:
        table.add_row(Text(info.name), info.source, info.created_at, info.revoked_at or "")
    out.print(table)


@key.command("revoke")
@click.argument("name")
@data_dir_option
@config_option
@pass_context
def key_revoke(context: Context, name: str) -> None:
    """Revoke a named key: every server on this store refuses it from its next request."""
    runtime = context.runtime()
    with reported():
        runtime.keys.revoke(name)
    say(f"Revoked the key {name!r}.")
