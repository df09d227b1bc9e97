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
from PySide6.QtWidgets import QApplication, QTableWidget, QWidget

from gui.connection_form import ConnectionForm
from gui.controller import DIED, RUNNING, Controller
from gui.saved_tab import SavedQueryForm
from gui.window import CONNECTIONS_TAB, SAVED_TAB, MainWindow

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


def shown_names(table: QTableWidget) -> list[str]:
    items = (table.item(row, 0) for row in range(table.rowCount()))
    return [item.text() for item in items if item is not None]


def main() -> int:
    app = QApplication(sys.argv)
    DOCS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="data-connector-demo-") as scratch:
        root = Path(scratch)
        controller = Controller(root / "data")
        window = MainWindow(
            controller, QSettings(str(root / "gui.ini"), QSettings.Format.IniFormat)
        )
        window.resize(1000, 720)
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
            # the server makes the sample database in the background; the window polls
            # its connections until it is listed
            wait_for(lambda: "sample" in shown_names(window.connections_table), 60)
            save(window, "gui-first-launch.png")

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
            window.connections_table.selectRow(
                shown_names(window.connections_table).index("sample")
            )
            save(window, "gui-running.png")

            # the schema tree and a query of one table
            window.browse_connection()
            explore = window.explore
            wait_for(lambda: explore.tree.topLevelItemCount() > 0)
            schema = explore.tree.topLevelItem(0)
            assert schema is not None
            for index in range(schema.childCount()):
                table = schema.child(index)
                if table is not None and table.text(0) == "daily_prices":
                    table.setExpanded(True)
                    explore.tree.setCurrentItem(table)
            explore.sql.setPlainText(
                "SELECT symbol, date, close, volume FROM daily_prices\n"
                "WHERE date >= '2024-12-01' ORDER BY date DESC, symbol"
            )
            explore.run()
            wait_for(lambda: explore.result.table.rowCount() > 0)
            save(window, "gui-schema.png")

            # a saved query, run with a value for its parameter and previewed
            query = {
                "name": "closes",
                "connection": "sample",
                "sql": "SELECT date, close FROM daily_prices WHERE symbol = :sym "
                "ORDER BY date DESC",
                "description": "Daily closes of one ticker",
                "params": [{"name": "sym", "type": "ticker", "default": "ABF"}],
                "widget": {"type": "chart"},
            }
            controller.save_saved(query, done.append, done.append)
            wait_for(lambda: window.saved_tab.table.rowCount() >= 1)
            window.tabs.setCurrentIndex(SAVED_TAB)
            window.saved_tab.select("closes")
            window.saved_tab.run(query, {"sym": "AXP"})
            wait_for(lambda: window.saved_tab.result.table.rowCount() > 0)
            save(window, "gui-saved-queries.png")
            form = SavedQueryForm(controller, window)
            form.name.setText("closes_since")
            form.connection.setCurrentIndex(form.connection.findData("sample"))
            form.sql.setPlainText(
                "SELECT date, close FROM daily_prices\n"
                "WHERE symbol = :sym AND date >= :since ORDER BY date"
            )
            form.params.setPlainText("sym:ticker=ABF\nsince:date=2024-01-01")
            form.widget.setCurrentIndex(form.widget.findData("chart"))
            form.show()
            save(form, "gui-saved-query-form.png")
            form.close()
            window.tabs.setCurrentIndex(CONNECTIONS_TAB)

            wait_for(lambda: bool(controller.kinds))  # the form is built from GET /kinds
            form_ = ConnectionForm(controller, None, window)
            form_.name.setText("archive")
            form_.row("path").set_value(str(root))
            form_.show()
            form_.test()
            save(form_, "gui-connection-form.png")
            form_.select_kind("snowflake")
            form_.clear_errors()
            form_.name.setText("warehouse")
            form_.row("account").set_value("xy12345.eu-central-1")
            form_.row("user").set_value("analyst")
            save(form_, "gui-snowflake-form.png")
            form_.close()

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
