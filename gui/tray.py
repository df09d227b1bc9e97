"""The tray icon: the app keeps running (and the server serving) with its window closed.

Only where the platform has a system tray; Quit stops the server cleanly. Qt only.
"""

from __future__ import annotations

from PySide6.QtGui import QAction, QIcon
from PySide6.QtWidgets import QMenu, QSystemTrayIcon

from gui.controller import Controller
from gui.window import MainWindow


def install_tray(window: MainWindow, controller: Controller, icon: QIcon) -> QSystemTrayIcon | None:
    """A tray icon with Show / Open in OpenBB / Quit, or None when there is no tray."""
    if not QSystemTrayIcon.isSystemTrayAvailable():
        return None
    tray = QSystemTrayIcon(icon, window)
    tray.setToolTip("Data Connector")
    menu = QMenu(window)
    show = QAction("Show Data Connector", menu)
    show.triggered.connect(lambda: bring_to_front(window))
    openbb = QAction("Open in OpenBB", menu)
    openbb.triggered.connect(window.open_openbb)
    quit_action = QAction("Quit (stops the server)", menu)
    quit_action.triggered.connect(window.quit_app)
    for action in (show, openbb, quit_action):
        menu.addAction(action)
    tray.setContextMenu(menu)
    tray.activated.connect(
        lambda reason: (
            bring_to_front(window) if reason == QSystemTrayIcon.ActivationReason.Trigger else None
        )
    )
    controller.state_changed.connect(
        lambda _state, message: tray.setToolTip(f"Data Connector: {message}")
    )
    tray.show()
    window.hide_to_tray = True
    return tray


def bring_to_front(window: MainWindow) -> None:
    window.show()
    window.setWindowState(window.windowState() & ~window.windowState().WindowMinimized)
    window.raise_()
    window.activateWindow()
