"""The headless command line: ``data-connector serve | recommend-port | query | export |
schema | history | queries | cancel | connections | saved | openbb | key | config``, one
module per command group.

Commands other than ``serve`` work in-process on the same data folder as the server, so
they need no running server. ``common`` holds what they share (the context, one-line
errors and the exit codes, which its docstring lists); this module only assembles them.
``--data-dir`` and ``--config`` may stand before or after the command.
"""

from __future__ import annotations

from pathlib import Path

import click

from connector import __version__
from connector.cli.common import Context
from connector.cli.config import config
from connector.cli.connections import connections
from connector.cli.inspect import history, schema
from connector.cli.keys import key
from connector.cli.openbb import openbb
from connector.cli.queries import export, query
from connector.cli.running import cancel, queries
from connector.cli.saved import saved
from connector.cli.serve import recommend_port_command, serve


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="data-connector")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CONNECTOR_DATA_DIR",
    help="Where connections, history and the API key live.",
)
@click.option(
    "--config",
    "config_file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="The TOML configuration file (also CONNECTOR_CONFIG).",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None, config_file: Path | None) -> None:
    """Data Connector: run SQL against your own databases from OpenBB and from scripts."""
    context = ctx.ensure_object(Context)
    if data_dir is not None:
        context.overrides.setdefault("data_dir", data_dir)
    if config_file is not None:
        context.overrides.setdefault("config", config_file)
    ctx.call_on_close(context.close)


for command in (
    serve, recommend_port_command, query, export, schema, history, queries, cancel,
    connections, saved, openbb, key, config,
):  # fmt: skip
    main.add_command(command)
