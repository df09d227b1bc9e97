"""``key show | rotate``: the API key."""

from __future__ import annotations

import click

from connector.cli.common import Context, data_dir_option, note, pass_context
from connector.keys import load_api_key, rotate_api_key
from connector.runtime import prepare_data_dir


@click.group()
def key() -> None:
    """Show or rotate the API key."""


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
