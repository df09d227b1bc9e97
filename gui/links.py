"""Links the window shows: the server URL and the OpenBB hand-off link.

Pure functions, no Qt. Of the server it imports only the small shared
``connector.handoff``, so the window and the CLI hand over the same link.
"""

from __future__ import annotations

from connector.handoff import connect_link


def server_url(port: int, host: str = "127.0.0.1") -> str:
    """The address a browser on this machine uses to reach the server."""
    shown = "localhost" if host in ("127.0.0.1", "::1", "localhost") else host
    return f"http://{shown}:{port}"


def openbb_link(url: str, name: str = "Data Connector") -> str:
    """Workspace's "connect backend" dialog, told where this server is; the same link as
    ``data-connector openbb`` (one home: ``connector.handoff``). Never the key."""
    return connect_link(url, name)
