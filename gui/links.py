"""Links the window shows: the server URL and the OpenBB hand-off link.

Pure functions, no Qt. Must not import anything from the server.
"""

from __future__ import annotations

from urllib.parse import urlencode

OPENBB_CONNECTORS_PAGE = "https://pro.openbb.co/app/data-connectors"


def server_url(port: int, host: str = "127.0.0.1") -> str:
    """The address a browser on this machine uses to reach the server."""
    shown = "localhost" if host in ("127.0.0.1", "::1", "localhost") else host
    return f"http://{shown}:{port}"


def openbb_link(url: str, name: str = "Data Connector") -> str:
    """The OpenBB data-connectors page, told where this server is.

    The key is never part of the link: the user pastes it into OpenBB's form.
    """
    query = urlencode({"name": name, "url": url.rstrip("/")})
    return f"{OPENBB_CONNECTORS_PAGE}?{query}"
