"""The Data Connector desktop app (PySide6).

It starts the server as a child process and talks to it only over HTTP, so a crash or a
long query in the server never freezes the window. Must not import the server's
internals (``connector.app``, ``connector.api``, store, backends); only the pure helpers
``connector.ports`` and ``connector.config`` constants.
"""

from __future__ import annotations

APP_TITLE = "Data Connector"
ORGANIZATION = "data-connector"
