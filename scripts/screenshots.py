"""Render the desktop app's main states to PNG files in docs/ (Qt offscreen, no display).

Run it again whenever the window changes:

    .venv/bin/python scripts/screenshots.py

It starts a real server (in a throwaway data folder, on a recommended port) so what is
shown is what a user sees. Imports the app only through its public classes.
"""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import signal
import socket
import sqlite3
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QCoreApplication, QSettings
from PySide6.QtWidgets import QApplication, QWidget

from gui.connection_form import ConnectionForm
from gui.controller import DIED, RUNNING, Controller
from gui.window import MainWindow

DOCS = Path(__file__).resolve().parent.parent / "docs"


def wait_for(condition: Callable[[], bool], seconds: float = 30.0) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise TimeoutError("the window did not reach the expected state")
        QCoreApplication.processEvents()
        time.sleep(0.02)


def settle(seconds: float = 0.3) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        QCoreApplication.processEvents()
        time.sleep(0.02)


def save(widget: QWidget, name: str) -> None:
    settle()
    path = DOCS / name
    widget.grab().save(str(path))
    print(f"wrote {path.relative_to(DOCS.parent)}")


def main() -> int:
    app = QApplication(sys.argv)
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="data-connector-demo-") as scratch:
        root = Path(scratch)
        controller = Controller(root / "data")
        window = MainWindow(
            controller, QSettings(str(root / "gui.ini"), QSettings.Format.IniFormat)
        )
        window.resize(980, 620)
        window.show()
        try:
            window.port_edit.setText("7800")
            window.recommend()
            save(window, "gui-stopped.png")

            with socket.socket() as squatter:
                squatter.bind(("127.0.0.1", int(window.port_edit.text())))
                squatter.listen()
                window.start()
                save(window, "gui-port-taken.png")
            window.use_suggested_port()
            wait_for(lambda: controller.state == RUNNING)
            # the server makes the sample database in the background: ask once a second
            # until it is listed
            for _ in range(30):
                if window.connections_table.rowCount() >= 1:
                    break
                settle(1.0)
                controller.refresh_connections()
            prices = root / "prices.db"
            with sqlite3.connect(prices) as db:
                db.execute("create table prices (symbol text, close real)")
            done: list[object] = []
            controller.save_connection(
                {"name": "prices", "kind": "sqlite", "options": {"path": str(prices)}},
                None,
                done.append,
                done.append,
            )
            wait_for(lambda: window.connections_table.rowCount() >= 2)
            save(window, "gui-running.png")

            wait_for(lambda: bool(controller.kinds))  # the form is built from GET /kinds
            form = ConnectionForm(controller, None, window)
            form.name.setText("archive")
            form.row("path").set_value(str(root))
            form.show()
            form.test()
            save(form, "gui-connection-form.png")
            form.close()

            pid = controller.process.pid()
            assert pid is not None
            os.kill(pid, signal.SIGKILL)
            wait_for(lambda: controller.state == DIED)
            save(window, "gui-server-died.png")
        finally:
            controller.shutdown()
            window.close()
    app.quit()
    return 0


if __name__ == "__main__":
    sys.exit(main())
