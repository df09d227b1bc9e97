"""``openbb``: the link that adds this connector to OpenBB Workspace, and the header."""

from __future__ import annotations

import webbrowser
from urllib.parse import urlencode

import click

from connector.cli.common import Context, data_dir_option, pass_context, say
from connector.config import DEFAULT_PORT
from connector.keys import load_api_key
from connector.runtime import prepare_data_dir

OPENBB_CONNECT_PAGE = "https://pro.openbb.co/app/data-connectors"


def connect_link(backend_url: str, name: str = "Data Connector") -> str:
    """The OpenBB page that adds a custom backend, with this backend's address filled in."""
    return f"{OPENBB_CONNECT_PAGE}?{urlencode({'name': name, 'url': backend_url})}"


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
    url = f"{'https' if tls else 'http'}://localhost:{port or settings.port or DEFAULT_PORT}"
    link = connect_link(url)
    say("Add this connector to OpenBB Workspace:")
    say(f"  link:    {link}")
    say(f"  URL:     {url}")
    say(f"  header:  X-API-KEY: {key}")
    say(
        "In OpenBB, on the data-connectors page, add a custom backend: paste the URL, "
        "add the header above as its authentication, then test and add it."
    )
    if open_browser and not webbrowser.open(link):
        say("Could not open a browser; open the link above by hand.")
