"""One app per user and data folder: a second launch asks the first to show its window
and exits, instead of starting another server on another port.

Uses a local socket (QLocalServer / QLocalSocket) named after the user and data folder.
Qt only.
"""

from __future__ import annotations

import getpass
import hashlib
from pathlib import Path

from PySide6.QtCore import QObject, Signal
from PySide6.QtNetwork import QLocalServer, QLocalSocket

CONNECT_TIMEOUT_MS = 500
MESSAGE = b"show\n"


def instance_name(data_dir: Path) -> str:
    digest = hashlib.sha256(f"{getpass.getuser()}:{data_dir.resolve()}".encode()).hexdigest()
    return f"data-connector-{digest[:16]}"


def notify_running(name: str) -> bool:
    """True when an app already runs under ``name`` (it has been asked to show itself)."""
    socket = QLocalSocket()
    socket.connectToServer(name)
    if not socket.waitForConnected(CONNECT_TIMEOUT_MS):
        return False
    socket.write(MESSAGE)
    socket.waitForBytesWritten(CONNECT_TIMEOUT_MS)
    socket.disconnectFromServer()
    return True


class SingleInstance(QObject):
    """Listens under ``name``; ``activated`` fires when another launch knocks."""

    activated = Signal()

    def __init__(self, name: str, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.server = QLocalServer(self)
        self.server.setSocketOptions(QLocalServer.SocketOption.UserAccessOption)
        if not self.server.listen(name):
            QLocalServer.removeServer(name)  # a stale socket left by a crash
            self.server.listen(name)
        self.server.newConnection.connect(self._knock)

    def _knock(self) -> None:
        while self.server.hasPendingConnections():
            socket = self.server.nextPendingConnection()
            socket.disconnected.connect(socket.deleteLater)
            self.activated.emit()

    def close(self) -> None:
        self.server.close()
