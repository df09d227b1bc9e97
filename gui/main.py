"""The entry point ``data-connector-gui``: one app per user, a window, a tray icon, and
the server as a child process.

Given CLI arguments (``serve``, ``--version``, ``key show`` ...), it runs the headless CLI
instead: that is how a PyInstaller bundle, which has one executable, starts its own
server. Only this module wires things together.
"""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PySide6.QtCore import QCoreApplication

CLI_WORDS = frozenset(
    {
        "serve",
        "recommend-port",
        "query",
        "export",
        "schema",
        "history",
        "queries",
        "cancel",
        "config",
        "connections",
        "saved",
        "key",
        "openbb",
        "--version",
        "--help",
        "-h",
    }
)
ICON = Path(__file__).resolve().parent / "icons" / "data-connector.png"


def wants_cli(argv: list[str]) -> bool:
    """True when the arguments are for the headless CLI rather than the window."""
    return any(arg in CLI_WORDS for arg in argv)


def run_cli(argv: list[str]) -> int:
    import os

    from connector.cli import main as cli_main

    if sys.stdout is None:  # a windowed bundle on Windows or macOS has no console
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 (lives as long as the process)
    if sys.stderr is None:
        sys.stderr = open(os.devnull, "w")  # noqa: SIM115

    try:
        cli_main.main(args=argv, prog_name="data-connector")
    except SystemExit as exc:
        return exc.code if isinstance(exc.code, int) else (0 if exc.code is None else 1)
    return 0


def parse_gui_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="data-connector-gui")
    parser.add_argument("--data-dir", type=Path, default=None, help="The server's data folder.")
    options, _qt_args = parser.parse_known_args(argv)
    return options


def _quit_on_signals(app: QCoreApplication) -> None:
    """SIGTERM / Ctrl-C quit the app the clean way, which stops the server too."""
    from PySide6.QtCore import QTimer

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: app.quit())
    ticker = QTimer(app)  # gives Python a moment between Qt events to run signal handlers
    ticker.timeout.connect(lambda: None)
    ticker.start(250)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if wants_cli(args):
        return run_cli(args)
    options = parse_gui_args(args)

    from PySide6.QtCore import QSettings
    from PySide6.QtGui import QIcon
    from PySide6.QtWidgets import QApplication

    from gui import APP_TITLE, ORGANIZATION
    from gui.controller import Controller, default_data_dir
    from gui.crash import default_log_dir, install_crash_handler, setup_logging
    from gui.server import environment_data_dir
    from gui.single import SingleInstance, instance_name, notify_running
    from gui.tray import bring_to_front, install_tray
    from gui.window import MainWindow

    app = QApplication([sys.argv[0], *args])
    app.setApplicationName(APP_TITLE)
    app.setOrganizationName(ORGANIZATION)
    icon = QIcon(str(ICON))
    app.setWindowIcon(icon)
    data_dir = options.data_dir or environment_data_dir() or default_data_dir()
    name = instance_name(data_dir)
    if notify_running(name):
        print("Data Connector is already running; its window has been brought to the front.")
        return 0
    single = SingleInstance(name)
    log_dir = default_log_dir()
    setup_logging(log_dir)
    install_crash_handler(log_dir)

    controller = Controller(data_dir)
    window = MainWindow(controller, QSettings())
    tray = install_tray(window, controller, icon)
    app.setQuitOnLastWindowClosed(tray is None)
    single.activated.connect(lambda: bring_to_front(window))
    app.aboutToQuit.connect(window.save_settings)
    app.aboutToQuit.connect(controller.shutdown)
    _quit_on_signals(app)
    window.show()
    if window.settings.value("autostart", "true") == "true":
        window.start()
    code = app.exec()
    single.close()
    return int(code)


if __name__ == "__main__":
    sys.exit(main())
