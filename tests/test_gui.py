"""The desktop app, driven through its widgets with pytest-qt on Qt's offscreen platform:
it starts a real server child process on a recommended port, shows it green, adds and
tests a SQLite connection through the form, lists and cancels a running query, stops the
server, explains a taken port and refuses bad input.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is loaded: no display needed

import signal
import socket
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PySide6.QtCore import QSettings, Qt, QThread
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication, QLineEdit, QMessageBox
from pytestqt.qtbot import QtBot

from gui.connection_form import ConnectionForm
from gui.controller import DIED, RUNNING, STOPPED, Controller
from gui.crash import install_crash_handler
from gui.links import openbb_link, server_url
from gui.main import CLI_WORDS, wants_cli
from gui.main import main as gui_main
from gui.server import server_command
from gui.single import SingleInstance, instance_name, notify_running
from gui.tasks import run_in_pool
from gui.tray import bring_to_front, install_tray
from gui.validation import InputError, parse_port
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
    qtbot: QtBot, window: MainWindow, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
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
    assert "Your API key" in window.log.toPlainText()  # the server's first-start banner...
    assert key not in window.log.toPlainText()  # ...with the key hidden in the log pane
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

    # edit it (the name stays, read-only is switched off) through the same form
    row = _names(window).index("prices")
    window.connections_table.selectRow(row)
    qtbot.mouseClick(window.edit_button, Qt.MouseButton.LeftButton)
    edit = [f for f in window.findChildren(ConnectionForm) if f.isVisible()][-1]
    assert edit.name.isReadOnly() and edit.row("path").value() == str(database.resolve())
    edit.read_only.setChecked(False)
    qtbot.mouseClick(edit.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not edit.isVisible(), timeout=10_000)
    qtbot.waitUntil(
        lambda: (
            window.connections_table.item(_names(window).index("prices"), 2).text() == "read-write"
        ),
        timeout=10_000,
    )

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

    # remove it (after the confirmation question)
    monkeypatch.setattr(QMessageBox, "question", lambda *_: QMessageBox.StandardButton.Yes)
    window.connections_table.selectRow(_names(window).index("prices"))
    qtbot.mouseClick(window.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "prices" not in _names(window), timeout=10_000)
    listed = httpx.get(f"{url}/connections", headers={"X-API-KEY": key}).json()
    assert "prices" not in [c["name"] for c in listed]

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


def test_gui_taken_port_is_explained_and_a_free_one_offered(
    qtbot: QtBot, window: MainWindow
) -> None:
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        window.port_edit.setText(str(taken))
        qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
        assert window.port_error.isVisible()
        assert f"Port {taken} is already used" in window.port_error.text()
        assert window.controller.state == STOPPED and not window.controller.process.running
        assert window.use_port_button.isVisible()
        offered = int(window.use_port_button.text().removeprefix("Use "))
        assert offered != taken
        qtbot.mouseClick(window.use_port_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.controller.state == RUNNING, timeout=START_TIMEOUT_MS)
    assert window.port_edit.text() == str(offered)
    assert window.url_edit.text() == server_url(offered)
    assert not window.port_error.isVisible()


def test_gui_port_taken_at_the_last_moment_is_explained_too(
    qtbot: QtBot, window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    # another program takes the port between the window's check and the server's bind:
    # the server refuses and names a free port, and the window passes that on
    monkeypatch.setattr("gui.controller.is_port_free", lambda port: True)
    with socket.socket() as squatter:
        squatter.bind(("127.0.0.1", 0))
        squatter.listen()
        taken = squatter.getsockname()[1]
        window.port_edit.setText(str(taken))
        qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
        qtbot.waitUntil(lambda: window.port_error.isVisible(), timeout=START_TIMEOUT_MS)
    assert f"Port {taken} is already used" in window.port_error.text()
    assert window.controller.state == STOPPED and window.use_port_button.isVisible()


def test_gui_closing_the_window_keeps_the_server_in_the_tray(
    qtbot: QtBot, window: MainWindow
) -> None:
    assert install_tray(window, window.controller, QIcon()) is None  # offscreen: no tray
    window.recommend()
    _start(qtbot, window)
    window.hide_to_tray = True  # what install_tray sets where a tray exists
    window.close()
    assert not window.isVisible()
    assert window.controller.state == RUNNING
    assert httpx.get(f"{window.controller.url}/health").status_code == 200
    bring_to_front(window)
    assert window.isVisible()
    pid = window.controller.process.pid()
    assert pid is not None
    window.controller.shutdown()  # what Quit does on its way out
    assert not _alive(pid)


def test_gui_server_that_dies_is_reported_and_restarted(qtbot: QtBot, window: MainWindow) -> None:
    window.recommend()
    _start(qtbot, window)
    pid = window.controller.process.pid()
    assert pid is not None
    os.kill(pid, signal.SIGKILL)
    qtbot.waitUntil(lambda: window.controller.state == DIED, timeout=10_000)
    assert "stopped unexpectedly" in window.status_label.text()
    assert window.light_color == LIGHT_COLORS[DIED]
    assert window.restart_button.isVisible()
    qtbot.mouseClick(window.restart_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == RUNNING, timeout=START_TIMEOUT_MS)
    assert window.controller.process.pid() != pid
    assert not window.restart_button.isVisible()


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("80", "reserved for system services"),
        ("1023", "reserved for system services"),
        ("65536", "highest port is 65535"),
        ("99999", "highest port is 65535"),
        ("78a0", "not a port number"),
        ("abc", "not a port number"),
        ("-1", "not a port number"),
        ("", "Enter a port number"),
    ],
)
def test_gui_bad_port_is_refused_in_the_window(
    qtbot: QtBot, window: MainWindow, text: str, says: str
) -> None:
    window.port_edit.setText(text)
    qtbot.mouseClick(window.start_button, Qt.MouseButton.LeftButton)
    assert window.port_error.isVisible()
    assert says in window.port_error.text()
    assert window.port_edit.text() == text  # what was typed stays, to be corrected
    assert window.controller.state == STOPPED and not window.controller.process.running


def test_gui_port_parsing_accepts_the_valid_range() -> None:
    assert parse_port(" 1024 ") == 1024
    assert parse_port("65535") == 65535
    with pytest.raises(InputError):
        parse_port("0")


def test_gui_sqlite_path_that_is_a_folder_is_refused_under_the_field(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    form = ConnectionForm(window.controller, None, window)
    qtbot.addWidget(form)
    form.show()
    form.name.setText("folder")
    form.row("path").set_value(str(tmp_path))
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    error = form.row("path").error
    assert error.isVisible() and "is a folder" in error.text()
    assert form.row("path").value() == str(tmp_path)  # nothing lost
    assert form.test_button.isEnabled()
    # a missing name and a bad MySQL port are caught the same way, each under its field
    form.name.setText("")
    form.kind.setCurrentIndex(1)
    form.row("user").set_value("root")
    form.row("port").set_value("33o6")
    assert form.body() is None
    assert form.name_error.isVisible()
    assert "not a port number" in form.row("port").error.text()


def test_gui_connection_form_builds_the_contract_body_for_each_kind(
    qtbot: QtBot, window: MainWindow
) -> None:
    form = ConnectionForm(window.controller, None, window)
    qtbot.addWidget(form)
    form.name.setText("wh")
    form.kind.setCurrentIndex(2)  # PostgreSQL
    form.row("user").set_value("analyst")
    form.row("database").set_value("prices")
    form.row("secret").set_value("p@ss/word")
    assert form.body() == {
        "name": "wh",
        "kind": "postgresql",
        "options": {
            "host": "127.0.0.1",
            "port": 5432,
            "user": "analyst",
            "database": "prices",
            "sslmode": "prefer",
        },
        "read_only": True,
        "secret": "p@ss/word",
    }
    form.kind.setCurrentIndex(3)  # Snowflake
    form.row("account").set_value("xy12345")
    form.row("user").set_value("analyst")
    body = form.body()
    assert body is not None and body["kind"] == "snowflake"
    assert body["options"] == {
        "account": "xy12345",
        "user": "analyst",
        "authenticator": "snowflake",
    }
    assert "secret" not in body


def test_gui_edit_form_keeps_the_name_and_the_secret_unless_typed(
    qtbot: QtBot, window: MainWindow
) -> None:
    existing = {
        "name": "db",
        "kind": "mysql",
        "read_only": False,
        "options": {"host": "db.internal", "port": 3307, "user": "me"},
    }
    form = ConnectionForm(window.controller, existing, window)
    qtbot.addWidget(form)
    assert form.name.isReadOnly() and not form.kind.isEnabled()
    body = form.body()
    assert body == {
        "name": "db",
        "kind": "mysql",
        "read_only": False,
        "options": {"host": "db.internal", "port": 3307, "user": "me"},
    }


def test_gui_calls_run_off_the_ui_thread_and_answer_on_it(qtbot: QtBot) -> None:
    ui = QThread.currentThread()
    seen: dict[str, Any] = {}

    def work() -> int:
        seen["worker"] = QThread.currentThread()
        return 42

    def failing() -> None:
        raise RuntimeError("boom")

    run_in_pool(work, lambda value: seen.update(value=value, done=QThread.currentThread()))
    run_in_pool(
        failing, None, lambda error: seen.update(error=error, failed=QThread.currentThread())
    )
    qtbot.waitUntil(lambda: "done" in seen and "failed" in seen, timeout=5_000)
    assert seen["worker"] is not ui
    assert seen["value"] == 42 and seen["done"] is ui
    assert isinstance(seen["error"], RuntimeError) and seen["failed"] is ui


def test_gui_second_launch_reaches_the_first(qtbot: QtBot, tmp_path: Path) -> None:
    name = instance_name(tmp_path)
    assert not notify_running(name)
    first = SingleInstance(name)
    try:
        with qtbot.waitSignal(first.activated, timeout=5_000):
            assert notify_running(name)
    finally:
        first.close()
    assert instance_name(tmp_path) != instance_name(tmp_path / "other")


def test_gui_crash_is_logged_and_shown(qtbot: QtBot, tmp_path: Path) -> None:
    before = sys.excepthook
    try:
        install_crash_handler(tmp_path / "logs")
        try:
            raise ValueError("something odd")
        except ValueError as exc:
            sys.excepthook(type(exc), exc, exc.__traceback__)
    finally:
        sys.excepthook = before
    written = (tmp_path / "logs" / "gui.log").read_text()
    assert "CRASH" in written and "ValueError: something odd" in written
    dialogs = [w for w in QApplication.topLevelWidgets() if w.objectName() == "crash_dialog"]
    assert dialogs and isinstance(dialogs[-1], QMessageBox)
    assert str(tmp_path / "logs" / "gui.log") in dialogs[-1].text()
    for dialog in dialogs:
        dialog.close()
        dialog.deleteLater()


def test_gui_openbb_link_carries_the_server_url_and_never_the_key() -> None:
    from connector.cli.openbb import connect_link  # the CLI's `data-connector openbb` link

    link = openbb_link("http://localhost:7800/")
    assert link == (
        "https://pro.openbb.co/app/data-connectors?name=Data+Connector&url=http%3A%2F%2Flocalhost%3A7800"
    )
    assert link == connect_link("http://localhost:7800")
    assert "key" not in link.lower()
    assert server_url(7801) == "http://localhost:7801"


def test_gui_executable_hands_cli_arguments_to_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    assert wants_cli(["serve", "--port", "7800"]) and wants_cli(["--version"])
    assert not wants_cli(["--data-dir", "somewhere"]) and not wants_cli([])
    from connector.cli import main as cli

    assert set(cli.commands) <= CLI_WORDS  # every CLI command reaches the CLI in the bundle
    assert gui_main(["--version"]) == 0
    assert "data-connector, version" in capsys.readouterr().out
    command = server_command(Path("data"), 7805)
    assert command[:3] == [sys.executable, "-m", "connector.cli"]
    assert command[3:] == ["--data-dir", "data", "serve", "--port", "7805"]


def test_gui_code_passes_mypy_strict() -> None:
    root = Path(__file__).resolve().parent.parent
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "gui", "scripts/screenshots.py",
         "benchmarks/bench_gui_start.py"],
        cwd=root, capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
