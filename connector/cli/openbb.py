"""``openbb``: the link that adds this connector to OpenBB Workspace, and the header; the
URL is the running server's own (``connector.handoff``)."""

from __future__ import annotations

import webbrowser

import click

from connector.cli.common import Context, data_dir_option, note, pass_context, say
from connector.handoff import connect_link, fallback_link, running_server
from connector.keys import load_api_key
from connector.runtime import prepare_data_dir


@click.command()
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="The server's port.")
@click.option("--tls", is_flag=True, help="The server runs with --tls (https).")
@click.option("--open", "open_browser", is_flag=True, help="Open the link in the browser.")
@data_dir_option
@pass_context
def openbb(context: Context, port: int | None, tls: bool, open_browser: bool) -> None:
    """Print the link that adds this connector to OpenBB Workspace, and the header to paste."""
    settings = context.settings()
    prepare_data_dir(settings.data_dir)
    key = load_api_key(settings.data_dir)[0]
    running = running_server(settings.data_dir)
    if port is not None or running is None:
        url = f"{'https' if tls else 'http'}://localhost:{port or settings.port}"
        if running is None:
            note(
                f"No server is running on this data folder; start one with "
                f"'data-connector serve'. Assuming {url}."
            )
    else:
        url = running
    link = connect_link(url)
    say("Add this connector to OpenBB Workspace:")
    say(f"  link:    {link}")
    say(f"  or:      {fallback_link(url)}")
    say(f"  URL:     {url}")
    say(f"  header:  X-API-KEY: {key}")
    say(
        "The link opens Workspace's dialog for a custom backend with the URL filled in; add "
        "the header above as its authentication, then test and add it. If nothing is "
        "filled in, paste the URL and the header by hand."
    )
    if open_browser and not webbrowser.open(link):
        say("Could not open a browser; open the link above by hand.")
