"""The desktop app, driven through its widgets with pytest-qt on Qt's offscreen platform:
it starts a real server child process on a recommended port, shows it green, adds and
tests a SQLite connection through the form, lists and cancels a running query, stops the
server, explains a taken port and refuses bad input.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is loaded: no display needed

import sqlite3
import threading
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from PySide6.QtCore import QSettings, Qt
from PySide6.QtWidgets import QApplication, QLineEdit
from pytestqt.qtbot import QtBot

from gui.connection_form import ConnectionForm
from gui.controller import RUNNING, STOPPED, Controller
from gui.links import server_url
from gui.window import LIGHT_COLORS, MainWindow

START_TIMEOUT_MS = 30_000


@pytest.fixture
def window(qtbot: QtBot, tmp_path: Path) -> Iterator[MainWindow]:
    controller = Controller(tmp_path / "data")
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    shown = MainWindow(controller, settings)
    qtbot.addWidget(shown)
    shown.show()
    yield shown
    controller.shutdown()


def _start(qtbot: QtBot, window: MainWindow) -> None:
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == RUNNING, timeout=START_TIMEOUT_MS)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


def _names(window: MainWindow) -> list[str]:
    table = window.connections_table
    return [table.item(row, 0).text() for row in range(table.rowCount())]


def _sqlite_file(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("create table prices (symbol text, close real)")
        db.execute("insert into prices values ('AAPL', 190.5)")
    return path


def test_gui_window_runs_the_server_end_to_end(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    controller = window.controller
    qtbot.mouseClick(window.recommend_button, Qt.MouseButton.LeftButton)
    port = int(window.port_edit.text())
    assert 1024 <= port <= 65535
    _start(qtbot, window)

    # green, with the URL and the key (hidden until asked)
    assert window.light_color == LIGHT_COLORS[RUNNING] == "#27ae60"
    url = server_url(port)
    assert window.url_edit.text() == url
    key = (tmp_path / "data" / "api_key").read_text().strip()
    assert window.key_edit.text() == key
    assert window.key_edit.echoMode() == QLineEdit.EchoMode.Password
    qtbot.mouseClick(window.show_key_button, Qt.MouseButton.LeftButton)
    assert window.key_edit.echoMode() == QLineEdit.EchoMode.Normal
    qtbot.mouseClick(window.copy_key_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == key
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    assert "url=http%3A%2F%2Flocalhost%3A" in controller.openbb_url

    # add and test a SQLite connection through the form
    database = _sqlite_file(tmp_path / "prices.db")
    qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
    form = window.findChild(ConnectionForm)
    assert form is not None and form.isVisible()
    form.name.setText("prices")
    form.row("path").set_value(str(database))
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.result_label.text().startswith("Connected"), timeout=10_000)
    assert "ms" in form.result_label.text()
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible(), timeout=10_000)
    qtbot.waitUntil(lambda: "prices" in _names(window), timeout=10_000)
    listed = httpx.get(f"{url}/connections", headers={"X-API-KEY": key}).json()
    assert {"name": "prices", "kind": "sqlite"}.items() <= next(
        c for c in listed if c["name"] == "prices"
    ).items()

    # a second add with the same name: the server's 409 lands under the name field
    qtbot.mouseClick(window.add_button, Qt.MouseButton.LeftButton)
    again = [f for f in window.findChildren(ConnectionForm) if f.isVisible()][-1]
    again.name.setText("prices")
    again.row("path").set_value(str(database))
    qtbot.mouseClick(again.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: again.name_error.isVisible(), timeout=10_000)
    assert "prices" in again.name_error.text()
    again.reject()

    # a running query shows with its elapsed time, and Cancel stops it in the database
    endless = (
        "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"
    )
    answers: list[httpx.Response] = []
    runner = threading.Thread(
        target=lambda: answers.append(
            httpx.post(
                f"{url}/connections/prices/query",
                headers={"X-API-KEY": key},
                json={"sql": endless, "timeout_s": 60},
                timeout=70,
            )
        )
    )
    runner.start()
    try:
        qtbot.waitUntil(lambda: window.queries_table.rowCount() == 1, timeout=10_000)
        assert window.queries_table.item(0, 0).text() == "prices"
        assert window.queries_table.item(0, 1).text().endswith(" s")
        qtbot.mouseClick(window.queries_table.cellWidget(0, 3), Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: bool(answers), timeout=15_000)
    finally:
        runner.join(70)
    assert answers[0].json()["code"] == "cancelled"
    qtbot.waitUntil(lambda: window.queries_table.rowCount() == 0, timeout=10_000)

    # Stop ends the process
    pid = controller.process.pid()
    assert pid is not None and _alive(pid)
    qtbot.mouseClick(window.stop_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: controller.state == STOPPED, timeout=15_000)
    assert not _alive(pid)
    assert window.light_color == LIGHT_COLORS[STOPPED]
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"{url}/health")

    # the port and the window state are remembered
    window.save_settings()
    later = MainWindow(Controller(tmp_path / "data"), window.settings)
    qtbot.addWidget(later)
    assert later.port_edit.text() == str(port)
