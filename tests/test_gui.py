"""The desktop app, driven through its widgets with pytest-qt on Qt's offscreen platform:
it starts a real server child process on a recommended port, shows it green, adds and
tests a SQLite connection through the form, lists and cancels a running query, stops the
server, explains a taken port and refuses bad input. The connection form is built from
the server's ``GET /kinds`` and must agree with ``describe_kinds()`` option for option.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is loaded: no display needed

import dataclasses
import json
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
from PySide6.QtGui import QIcon, QStandardItemModel
from PySide6.QtWidgets import QApplication, QLabel, QLineEdit, QMessageBox, QWidget
from pytestqt.qtbot import QtBot

from connector.backends import describe_kinds
from connector.keys import read_api_key
from connector.ports import EXIT_PORT_TAKEN
from connector.values import dumps
from gui.client import ApiError, Kind
from gui.connection_form import NOT_SET, ConnectionForm
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


def _served_kinds() -> list[Kind]:
    """What ``GET /kinds`` answers, as the app reads it (the JSON of ``describe_kinds()``)."""
    served = json.loads(dumps([dataclasses.asdict(kind) for kind in describe_kinds()]))
    return [Kind.from_json(kind) for kind in served]


def _form(
    qtbot: QtBot, window: MainWindow, existing: dict[str, Any] | None = None
) -> ConnectionForm:
    """A connection form built from the kinds as the running server would serve them."""
    window.controller.kinds = _served_kinds()
    form = ConnectionForm(window.controller, existing, window)
    qtbot.addWidget(form)
    return form


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
    assert window.key_edit.text() == key == read_api_key(tmp_path / "data")
    assert window.key_edit.echoMode() == QLineEdit.EchoMode.Password
    assert "Your API key" in window.log.toPlainText()  # the server's first-start banner...
    assert key not in window.log.toPlainText()  # ...with the key hidden in the log pane
    qtbot.mouseClick(window.show_key_button, Qt.MouseButton.LeftButton)
    assert window.key_edit.echoMode() == QLineEdit.EchoMode.Normal
    qtbot.mouseClick(window.copy_key_button, Qt.MouseButton.LeftButton)
    assert QApplication.clipboard().text() == key
    assert httpx.get(f"{url}/health").json()["status"] == "ok"
    assert "url=http%3A%2F%2Flocalhost%3A" in controller.openbb_url

    # the kinds come from the running server's GET /kinds, once it answers
    qtbot.waitUntil(lambda: bool(controller.kinds), timeout=10_000)
    assert controller.kinds == _served_kinds()
    # a form opened before the kinds are known builds itself when they arrive
    controller.kinds = []
    early = ConnectionForm(controller, None)  # no parent: the window finds only its own
    qtbot.addWidget(early)
    assert early.kind.count() == 0 and not early.save_button.isEnabled()
    qtbot.waitUntil(lambda: early.kind.count() == len(controller.kinds) > 0, timeout=10_000)
    assert early.current_kind == "sqlite" and early.save_button.isEnabled()
    early.reject()

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
    kind_cell = window.connections_table.item(_names(window).index("prices"), 1)
    assert kind_cell.text() == "SQLite"  # the kind's label from /kinds
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
    form = _form(qtbot, window)
    form.show()
    form.name.setText("folder")
    form.row("path").set_value(str(tmp_path))
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    error = form.row("path").error
    assert error.isVisible() and "is a folder" in error.text()
    assert form.row("path").text() == str(tmp_path)  # nothing lost
    assert form.test_button.isEnabled()
    # a missing name and a bad MySQL port are caught the same way, each under its field
    form.name.setText("")
    form.select_kind("mysql")
    form.row("host").set_value("db.internal")
    form.row("user").set_value("root")
    form.row("port").set_value("33o6")
    assert form.body() is None
    assert form.name_error.isVisible()
    assert "'33o6' is not a whole number from 1 to 65535" in form.row("port").error.text()
    form.row("port").set_value("65536")  # the bounds come from the option's maximum
    assert form.body() is None
    assert "from 1 to 65535" in form.row("port").error.text()
    # an object option takes JSON, and its error opens the Advanced section it is in
    form.name.setText("db")
    form.row("port").set_value("3306")
    form.row("ssl").set_value("{not json")
    page = form.current_page
    assert page is not None and page.advanced_box is not None
    assert not page.advanced_box.isVisibleTo(form)
    assert form.body() is None
    assert "takes a JSON object" in form.row("ssl").error.text()
    assert page.advanced_box.isVisibleTo(form)
    form.row("ssl").set_value('{"ca": "ca.pem"}')
    body = form.body()
    assert body is not None and body["options"]["ssl"] == {"ca": "ca.pem"}
    # a required field left empty is named under it
    form.row("user").set_value("")
    assert form.body() is None
    assert form.row("user").error.text() == "User is needed."


def test_gui_connection_form_builds_the_contract_body_for_each_kind(
    qtbot: QtBot, window: MainWindow
) -> None:
    form = _form(qtbot, window)
    form.name.setText("wh")
    form.select_kind("postgresql")
    form.row("host").set_value("127.0.0.1")
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
            "connect_timeout_s": 10,  # defaults are shown filled in, and sent
        },  # sslmode left at "(default)" and the empty file options are omitted
        "read_only": True,
        "secret": "p@ss/word",
    }
    form.row("sslmode").set_value("require")
    body = form.body()
    assert body is not None and body["options"]["sslmode"] == "require"
    form.select_kind("snowflake")
    form.row("account").set_value("xy12345")
    form.row("user").set_value("analyst")
    body = form.body()
    assert body is not None and body["kind"] == "snowflake"
    assert body["options"] == {
        "account": "xy12345",
        "user": "analyst",
        "authenticator": "snowflake",
        "login_timeout_s": 60,
    }
    assert "secret" not in body
    # every secret can be loaded from a file (a PEM key for snowflake_jwt)
    secret = form.row("secret")
    assert secret.edit is not None and secret.edit.echoMode() == QLineEdit.EchoMode.Password
    assert secret.browse is not None and secret.browse.text() == "Load from file…"


def test_gui_edit_form_keeps_the_name_and_the_secret_unless_typed(
    qtbot: QtBot, window: MainWindow
) -> None:
    existing = {
        "name": "db",
        "kind": "mysql",
        "read_only": False,
        "options": {"host": "db.internal", "port": 3307, "user": "me"},
    }
    form = _form(qtbot, window, existing)
    assert form.name.isReadOnly() and not form.kind.isEnabled()
    assert form.current_kind == "mysql"
    secret = form.row("secret")
    assert secret.edit is not None and secret.edit.placeholderText() == "unchanged"
    body = form.body()
    assert body == {
        "name": "db",
        "kind": "mysql",
        "read_only": False,
        "options": {"host": "db.internal", "port": 3307, "user": "me", "connect_timeout_s": 10},
    }
    page = form.current_page
    assert page is not None and page.advanced_box is not None
    assert not page.advanced_box.isVisibleTo(form)  # nothing set there: it stays folded
    # a saved advanced value unfolds the section
    tls = _form(qtbot, window, {**existing, "options": {**existing["options"], "ssl": {}}})
    assert tls.row("ssl").value() == {}
    tls_page = tls.current_page
    assert tls_page is not None and tls_page.advanced_box is not None
    assert tls_page.advanced_box.isVisibleTo(tls)


def test_gui_connection_form_agrees_with_the_backends(qtbot: QtBot, window: MainWindow) -> None:
    # the form is built from GET /kinds: one field per option of every available kind,
    # with the backend's own label, default and choices (nothing copied into the app)
    form = _form(qtbot, window)
    described = describe_kinds()
    available = [kind for kind in described if kind.available]
    assert available
    assert [form.kind.itemData(i) for i in range(form.kind.count())] == [k.kind for k in described]
    for kind in available:
        form.select_kind(kind.kind)
        page = form.current_page
        assert page is not None and form.kind.currentText() == kind.label
        assert sorted(page.rows) == sorted(option.name for option in kind.options)
        fields = [w for w in page.findChildren(QWidget) if w.objectName().startswith("field_")]
        assert sorted(w.objectName() for w in fields) == sorted(
            f"field_{option.name}" for option in kind.options
        )  # exactly one input per option
        for option in kind.options:
            row = page.rows[option.name]
            where = f"{kind.kind}.{option.name}"
            assert row.label.text() == option.label, where
            if option.help:
                assert row.input.toolTip() == option.help, where
            default = bool(option.default) if option.type == "boolean" else option.default
            assert row.value() == default, where
            if option.choices is None:
                assert row.combo is None, where
            else:
                assert row.combo is not None, where
                shown = [row.combo.itemData(i) for i in range(row.combo.count())]
                if option.default is None:
                    assert shown[0] is None and row.combo.itemText(0) in (NOT_SET, ""), where
                    shown = shown[1:]
                assert shown == option.choices, where
            assert row.option.advanced == option.advanced, where
            assert (row.browse is not None) == (option.secret or option.format is not None), where
            if option.secret:
                assert row.edit is not None, where
                assert row.edit.echoMode() == QLineEdit.EchoMode.Password, where
            if option.type == "boolean":
                assert row.check is not None, where
            if option.type == "integer" and option.maximum is not None:
                row.set_value(str(int(option.maximum) + 1))
                with pytest.raises(InputError):
                    row.value()
                row.set_value(option.default)


def test_gui_kind_without_its_driver_is_listed_disabled_with_its_install_hint(
    qtbot: QtBot, window: MainWindow
) -> None:
    sqlite = next(kind for kind in _served_kinds() if kind.kind == "sqlite")
    missing = Kind(kind="oracle", label="oracle", available=False, install="pip install oracledb")
    window.controller.kinds = [missing, sqlite]
    form = ConnectionForm(window.controller, None, window)
    qtbot.addWidget(form)
    assert form.current_kind == "sqlite"  # the first kind that can be used
    model = form.kind.model()
    assert isinstance(model, QStandardItemModel)
    item = model.item(form.kind.findData("oracle"))
    assert item is not None and not item.isEnabled()
    assert "not installed" in item.text() and item.toolTip() == "pip install oracledb"
    form.select_kind("oracle")
    page = form.current_page
    assert page is not None and not page.rows
    hint = page.findChild(QLabel, "install_hint")
    assert hint is not None and "pip install oracledb" in hint.text()
    assert not form.save_button.isEnabled() and not form.test_button.isEnabled()


@pytest.mark.parametrize(
    ("kind", "code", "detail", "field"),
    [
        ("mysql", "invalid_request", "mysql option 'port': Input should be at most 65535.", "port"),
        ("mysql", "invalid_request", "mysql option 'ssl.ca': Field required.", "ssl"),
        ("mysql", "invalid_request", "A MySQL connection needs a secret (password or key).", "secret"),
        ("mysql", "db_unavailable", "MySQL at database.internal:3306 refused the login: wrong user name or password.", "secret"),
        ("mysql", "db_unavailable", "Nothing answers at database.internal:3306: the port is closed or the MySQL server is not running.", "port"),
        ("mysql", "db_unavailable", "Unknown host: the name of the MySQL server at database.internal:3306 does not resolve.", "host"),
        ("postgresql", "db_unavailable", "PostgreSQL at database.internal:5432 has no database by that name that this user may open.", "database"),
        ("snowflake", "invalid_request", "Snowflake secret: a Snowflake password sign-in needs the password as the secret.", "secret"),
        ("mysql", "db_unavailable", "The MySQL driver failed: something odd.", None),
        ("mysql", "sql_error", "the user table is locked.", None),
    ],
)  # fmt: skip
def test_gui_server_errors_land_under_the_field_they_name(
    qtbot: QtBot, window: MainWindow, kind: str, code: str, detail: str, field: str | None
) -> None:
    form = _form(qtbot, window)
    form.show()
    form.select_kind(kind)
    for name, value in (("host", "database.internal"), ("account", "xy12345")):
        if name in form.rows[kind]:
            form.row(name).set_value(value)
    form.show_api_error(ApiError(detail, code, 422))
    shown = [name for name, row in form.rows[kind].items() if row.error.isVisible()]
    if field is None:
        assert shown == [] and form.result_label.text() == detail
    else:
        assert shown == [field] and form.row(field).error.text() == detail
        assert form.result_label.text() == ""


def test_gui_port_taken_is_read_from_the_exit_code_never_from_the_output(
    qtbot: QtBot, tmp_path: Path
) -> None:
    controller = Controller(tmp_path / "data")
    offers: list[tuple[str, int]] = []
    controller.port_problem.connect(lambda message, port: offers.append((message, port)))
    controller.port = 7800
    # words that look like the port message, with another exit code: a crash, not a port
    controller._on_output("error: port 7800 is taken; port 7801 is free")
    controller._on_finished(1, False)
    assert controller.state == DIED and offers == []
    controller._on_finished(EXIT_PORT_TAKEN, False)  # the documented code, whatever it said
    assert controller.state == STOPPED and len(offers) == 1
    message, suggestion = offers[0]
    assert "Port 7800 is already used" in message and suggestion != 7800


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
