"""The Data Connector desktop app (PySide6).

It starts the server as a child process and talks to it only over HTTP, so a crash or a
long query in the server never freezes the window. What the server offers (its database
kinds and their options) comes from its API too. Must not import the server's internals
(``connector.app``, ``connector.api``, store, backends); only the pure helpers
``connector.ports`` (free ports, the port-taken exit code), ``connector.keys`` (reading the
API key) and ``connector.config``'s default data folder.
"""

from __future__ import annotations

APP_TITLE = "Data Connector"
ORGANIZATION = "data-connector"
