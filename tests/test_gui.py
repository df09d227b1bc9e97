"""The desktop app, driven through its widgets with pytest-qt on Qt's offscreen platform:
it starts a real server child process on a recommended port, shows it green, adds and
tests a SQLite connection through the form, lists and cancels a running query, stops the
server, explains a taken port and refuses bad input. The connection form is built from
the server's ``GET /kinds`` and must agree with ``describe_kinds()`` option for option.

The first five minutes: the lists follow changes made behind the window's back, a
failed connection test lands under its field (real MariaDB), request lines stay out of
the log unless asked, saved queries and the schema tree work through the window, a slow
preview is cancelled where it runs; and one test starts the real app on Xvfb (Qt's xcb
platform, as on a desktop) and looks at a screenshot of the X display.
"""

from __future__ import annotations

import os

os.environ["QT_QPA_PLATFORM"] = "offscreen"  # before Qt is loaded: no display needed

import dataclasses
import json
import re
import shutil
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
from PySide6.QtGui import QColor, QIcon, QImage, QStandardItemModel
from PySide6.QtWidgets import (
    QApplication,
    QGroupBox,
    QLabel,
    QLineEdit,
    QMessageBox,
    QWidget,
)
from pytestqt.qtbot import QtBot

from connector.backends import describe_kinds
from connector.keys import read_api_key
from connector.ports import EXIT_PORT_TAKEN, recommend_port
from connector.values import dumps
from gui.client import ApiError, Kind
from gui.connection_form import LABEL_MAX_WIDTH, MIN_INPUT_WIDTH, NOT_SET, ConnectionForm
from gui.controller import DIED, RUNNING, STOPPED, Controller, Preview, find_query
from gui.crash import install_crash_handler
from gui.links import openbb_link, server_url
from gui.logs import is_request_line
from gui.main import CLI_WORDS, wants_cli
from gui.main import main as gui_main
from gui.params import format_params, parse_params, placeholders
from gui.saved_tab import RunDialog, SavedQueryForm
from gui.server import server_command
from gui.single import SingleInstance, instance_name, notify_running
from gui.tasks import run_in_pool
from gui.tray import bring_to_front, install_tray
from gui.validation import InputError, parse_port
from gui.window import CONNECTIONS_TAB, EXPLORE_TAB, LIGHT_COLORS, SAVED_TAB, MainWindow
from tests.conftest import assert_one_sentence, require_service, wait_until
from tests.netdb import closed_port, port_open

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
    assert not window.start_button.isVisible()  # only Restart is offered, not Start too
    qtbot.mouseClick(window.restart_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: window.controller.state == RUNNING, timeout=START_TIMEOUT_MS)
    assert window.controller.process.pid() != pid
    assert not window.restart_button.isVisible() and window.start_button.isVisible()


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
    from connector.handoff import connect_link  # the CLI's `data-connector openbb` link

    link = openbb_link("http://localhost:7800/")
    assert link == (
        "https://pro.openbb.co/app?modal=connect-backend&name=Data+Connector&url=http%3A%2F%2Flocalhost%3A7800"
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


# --- the first five minutes -------------------------------------------------------------

# Waits below are bounds, never measurements: a server start, a sample database build or a
# database connect on a loaded 2-core machine can take many seconds, so each wait allows
# far more than it needs and ends as soon as the condition holds.
ANSWER_TIMEOUT_MS = 20_000


@pytest.fixture
def sample_window(qtbot: QtBot, tmp_path: Path, sample_db: Path) -> Iterator[MainWindow]:
    """A window whose data folder already has the sample database (saves building it)."""
    data = tmp_path / "data"
    data.mkdir()
    shutil.copy(sample_db, data / "sample.db")
    controller = Controller(data)
    settings = QSettings(str(tmp_path / "gui.ini"), QSettings.Format.IniFormat)
    shown = MainWindow(controller, settings)
    qtbot.addWidget(shown)
    shown.show()
    shown.recommend()
    _start(qtbot, shown)
    qtbot.waitUntil(lambda: "sample" in _names(shown), timeout=ANSWER_TIMEOUT_MS)
    qtbot.waitUntil(lambda: bool(controller.kinds), timeout=ANSWER_TIMEOUT_MS)
    yield shown
    controller.shutdown()


def _key(window: MainWindow) -> str:
    key = read_api_key(window.controller.data_dir)
    assert key is not None
    return key


def _http(window: MainWindow) -> httpx.Client:
    return httpx.Client(
        base_url=window.controller.url, headers={"X-API-KEY": _key(window)}, timeout=30
    )


def _top(widget: QWidget, window: MainWindow) -> int:
    return widget.mapTo(window, widget.rect().topLeft()).y()


def test_gui_first_launch_shows_the_server_then_sample_then_connect_openbb(
    qtbot: QtBot, window: MainWindow, tmp_path: Path
) -> None:
    # a first start: the server binds first and builds `sample` in the background, after
    # the window's first GET /connections; the window keeps asking until it is listed
    window.recommend()
    _start(qtbot, window)
    qtbot.waitUntil(lambda: "sample" in _names(window), timeout=60_000)  # a full build
    assert window.tabs.currentIndex() == CONNECTIONS_TAB
    panel = window.findChild(QGroupBox, "openbb_panel")
    assert panel is not None and panel.isVisible() and panel.title() == "Connect OpenBB"
    # top to bottom: the server's status, the connections, the Connect OpenBB panel
    assert _top(window.status_label, window) < _top(window.connections_table, window)
    assert _top(window.connections_table, window) < _top(panel, window)
    for part in (window.url_edit, window.key_edit, window.show_key_button):
        assert panel.isAncestorOf(part)
    assert panel.isAncestorOf(window.copy_key_button) and panel.isAncestorOf(window.openbb_button)
    assert window.url_edit.text() == window.controller.url
    assert window.key_edit.echoMode() == QLineEdit.EchoMode.Password  # hidden until Show
    assert window.openbb_button.isEnabled()

    # a connection and a saved query added behind the window's back (another client, the
    # CLI) show up without anything pressed
    database = _sqlite_file(tmp_path / "later.db")
    with _http(window) as http:
        created = http.post(
            "/connections",
            json={"name": "later", "kind": "sqlite", "options": {"path": str(database)}},
        )
        assert created.status_code == 201, created.text
        saved = http.post(
            "/saved-queries",
            json={"name": "all_prices", "connection": "later", "sql": "SELECT * FROM prices"},
        )
        assert saved.status_code == 201, saved.text
    qtbot.waitUntil(lambda: "later" in _names(window), timeout=ANSWER_TIMEOUT_MS)
    saved_table = window.saved_tab.table
    qtbot.waitUntil(lambda: saved_table.rowCount() == 1, timeout=ANSWER_TIMEOUT_MS)
    assert saved_table.item(0, 0).text() == "all_prices"
    # and one removed behind its back goes away
    window.connections_table.selectRow(_names(window).index("later"))
    with _http(window) as http:
        assert http.delete("/saved-queries/all_prices").status_code == 204
        assert http.delete("/connections/later").status_code == 204
    qtbot.waitUntil(lambda: "later" not in _names(window), timeout=ANSWER_TIMEOUT_MS)
    qtbot.waitUntil(lambda: saved_table.rowCount() == 0, timeout=ANSWER_TIMEOUT_MS)


def test_gui_unchanged_lists_are_not_redrawn(qtbot: QtBot, sample_window: MainWindow) -> None:
    # the polls run every few seconds; a list that did not change keeps its selection
    changes: list[object] = []
    sample_window.controller.connections_changed.connect(changes.append)
    sample_window.connections_table.selectRow(0)
    asked = sample_window.controller._asked["connections"]
    qtbot.waitUntil(
        lambda: sample_window.controller._applied["connections"] >= asked + 2,
        timeout=ANSWER_TIMEOUT_MS,
    )  # two more polls answered
    assert changes == []
    assert sample_window.selected_connection() is not None


def test_gui_log_hides_request_lines_unless_asked(qtbot: QtBot, sample_window: MainWindow) -> None:
    window = sample_window
    lines = window._log_lines
    # the window's own polling makes the server log requests
    qtbot.waitUntil(lambda: any(request for _, request in lines), timeout=ANSWER_TIMEOUT_MS)
    assert not window.show_requests.isChecked()
    shown = window.log.toPlainText()
    assert "Press Ctrl-C to stop." in shown and "Uvicorn running on" in shown
    assert '"GET /health HTTP/1.1" 200' not in shown
    window.show_requests.setChecked(True)
    qtbot.waitUntil(
        lambda: '"GET /health HTTP/1.1" 200' in window.log.toPlainText(), timeout=10_000
    )
    assert "Press Ctrl-C to stop." in window.log.toPlainText()  # the messages stay
    window.show_requests.setChecked(False)
    assert '"GET /health HTTP/1.1"' not in window.log.toPlainText()
    assert "Uvicorn running on" in window.log.toPlainText()


def test_gui_request_lines_are_told_from_messages() -> None:
    assert is_request_line('INFO:     127.0.0.1:54321 - "GET /health HTTP/1.1" 200 OK')
    assert is_request_line('INFO:     127.0.0.1:5 - "POST /connections/x/query HTTP/1.1" 400 Bad')
    assert not is_request_line("INFO:     Uvicorn running on http://127.0.0.1:7800")
    assert not is_request_line("INFO connector.runtime: the sample database is ready")
    assert not is_request_line('error: "GET /health HTTP/1.1" 200')


def _mysql_form(qtbot: QtBot, window: MainWindow, **options: str) -> ConnectionForm:
    form = ConnectionForm(window.controller, None, window)
    qtbot.addWidget(form)
    form.show()
    form.name.setText("maria")
    form.select_kind("mysql")
    fields = {"host": "127.0.0.1", "port": "3306", "user": "root", **options}
    for name, value in fields.items():
        form.row(name).set_value(value)
    return form


@pytest.mark.parametrize(
    ("options", "field", "says"),
    [
        ({"secret": "not-the-password"}, "secret", "refused the login"),
        ({"database": "no_such_database_here"}, "database", "no database by that name"),
        ({"port": "closed"}, "port", "the port is closed"),
        ({"host": "no-such-host.invalid"}, "host", "does not resolve"),
        ({"user": "ro\x00ot"}, "user", "NUL"),
    ],
)
def test_gui_connection_test_errors_sit_under_their_field(
    qtbot: QtBot,
    sample_window: MainWindow,
    options: dict[str, str],
    field: str,
    says: str,
) -> None:
    require_service(port_open("127.0.0.1", 3306), "MariaDB is not running on 127.0.0.1:3306")
    if options.get("port") == "closed":
        options = {"port": str(closed_port())}
    form = _mysql_form(qtbot, sample_window, **options)
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    assert form.result_label.text() == "Testing…" and not form.test_button.isEnabled()
    qtbot.waitUntil(form.test_button.isEnabled, timeout=ANSWER_TIMEOUT_MS)
    shown = [name for name, row in form.rows["mysql"].items() if row.error.isVisible()]
    assert shown == [field], (shown, form.result_label.text())
    error = form.row(field).error.text()
    assert says in error
    assert_one_sentence(error)  # the server's own sentence, as it sent it
    assert form.result_label.text() == ""  # "Testing…" went with the answer
    # Save gives the same answer in the same place, and "Connecting and saving…" goes too
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(form.save_button.isEnabled, timeout=ANSWER_TIMEOUT_MS)
    assert form.row(field).error.text() == error and form.result_label.text() == ""


def test_gui_connection_test_that_works_says_connected(
    qtbot: QtBot, sample_window: MainWindow
) -> None:
    require_service(port_open("127.0.0.1", 3306), "MariaDB is not running on 127.0.0.1:3306")
    form = _mysql_form(qtbot, sample_window)
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(form.test_button.isEnabled, timeout=ANSWER_TIMEOUT_MS)
    assert form.result_label.text().startswith("Connected: "), form.result_label.text()
    assert not any(row.error.isVisible() for row in form.rows["mysql"].values())


def test_gui_testing_never_stays_after_a_failure(qtbot: QtBot, window: MainWindow) -> None:
    # the server is not running: the call fails at once, and the form says so
    form = _form(qtbot, window)
    form.show()
    form.name.setText("x")
    form.select_kind("mysql")
    form.row("host").set_value("127.0.0.1")
    form.row("user").set_value("root")
    qtbot.mouseClick(form.test_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(form.test_button.isEnabled, timeout=ANSWER_TIMEOUT_MS)
    assert form.result_label.text() == "Start the server first."
    # a refusal under the name field (a taken name) clears "Testing…" too
    form.result_label.setText("Testing…")
    form.show_api_error(ApiError("A connection named 'x' exists already.", "conflict", 409))
    assert form.result_label.text() == "" and form.name_error.isVisible()


def test_gui_snowflake_long_label_does_not_squeeze_its_field(
    qtbot: QtBot, window: MainWindow
) -> None:
    form = _form(qtbot, window)
    form.show()
    form.select_kind("snowflake")
    page = form.current_page
    assert page is not None
    page.show_advanced(True)
    qtbot.waitExposed(form)
    secret = form.row("secret")
    assert secret.option.label == "Password or private key"
    inputs = [row for row in page.rows.values() if row.check is None]
    widths = {row.option.name: row.input.width() for row in inputs}
    assert min(widths.values()) >= MIN_INPUT_WIDTH, widths
    for row in page.rows.values():
        assert row.label.width() <= LABEL_MAX_WIDTH, row.option.name
        label_right = row.label.mapTo(form, row.label.rect().topRight()).x()
        input_left = row.input.mapTo(form, row.input.rect().topLeft()).x()
        assert label_right < input_left, row.option.name  # side by side, no overlap
        assert row.input.width() >= row.input.minimumSizeHint().width(), row.option.name


def _endless(window: MainWindow, tmp_path: Path) -> str:
    """A SQLite connection (``slow``) and a query on it that runs until it is stopped."""
    with _http(window) as http:
        created = http.post(
            "/connections",
            json={
                "name": "slow",
                "kind": "sqlite",
                "options": {"path": str(_sqlite_file(tmp_path / "slow.db"))},
            },
        )
        assert created.status_code == 201, created.text
    return "with recursive c(x) as (select 1 union all select x + 1 from c) select count(*) from c"


def test_gui_schema_tree_shows_schemas_tables_views_and_columns(
    qtbot: QtBot, sample_window: MainWindow, tmp_path: Path
) -> None:
    window = sample_window
    path = tmp_path / "shop.db"
    with sqlite3.connect(path) as db:
        db.execute("create table orders (id integer primary key, symbol text not null, qty real)")
        db.execute("create view big_orders as select id, qty from orders where qty > 100")
    with _http(window) as http:
        http.post(
            "/connections", json={"name": "shop", "kind": "sqlite", "options": {"path": str(path)}}
        ).raise_for_status()
    qtbot.waitUntil(lambda: "shop" in _names(window), timeout=ANSWER_TIMEOUT_MS)
    window.connections_table.selectRow(_names(window).index("shop"))
    qtbot.mouseClick(window.browse_button, Qt.MouseButton.LeftButton)
    assert window.tabs.currentIndex() == EXPLORE_TAB
    explore = window.explore
    assert explore.current == "shop"
    qtbot.waitUntil(lambda: explore.tree.topLevelItemCount() > 0, timeout=ANSWER_TIMEOUT_MS)
    tree: dict[str, dict[str, tuple[str, list[tuple[str, str]]]]] = {}
    for i in range(explore.tree.topLevelItemCount()):
        schema = explore.tree.topLevelItem(i)
        assert schema is not None and schema.text(1) == "schema"
        tables = {}
        for j in range(schema.childCount()):
            table = schema.child(j)
            columns = [
                (table.child(k).text(0), table.child(k).text(1)) for k in range(table.childCount())
            ]
            tables[table.text(0)] = (table.text(1), columns)
        tree[schema.text(0)] = tables
    assert tree == {
        "main": {
            "orders": (
                "table",
                [("id", "integer, not null"), ("symbol", "text, not null"), ("qty", "real")],
            ),
            "big_orders": ("view", [("id", "integer"), ("qty", "real")]),
        }
    }
    served = httpx.get(
        f"{window.controller.url}/connections/shop/schema", headers={"X-API-KEY": _key(window)}
    ).json()
    assert [t["name"] for t in served["schemas"][0]["tables"]] == list(tree["main"])
    assert explore.schema_status.text() == "shop: 1 table, 1 view."
    # double-click a table: its SELECT goes into the SQL box; Run previews its rows
    schema_item = explore.tree.topLevelItem(0)
    assert schema_item is not None
    orders = schema_item.child(list(tree["main"]).index("orders"))
    explore.tree.itemDoubleClicked.emit(orders, 0)
    assert explore.sql.toPlainText() == "SELECT * FROM main.orders"
    with sqlite3.connect(path) as db:
        db.execute("insert into orders values (1, 'ABF', 250)")
    qtbot.mouseClick(explore.run_button, Qt.MouseButton.LeftButton)
    rows = explore.result.table
    qtbot.waitUntil(lambda: rows.rowCount() == 1, timeout=ANSWER_TIMEOUT_MS)
    header = [rows.horizontalHeaderItem(c).text() for c in range(rows.columnCount())]
    assert header == ["id", "symbol", "qty"]
    assert [rows.item(0, c).text() for c in range(3)] == ["1", "ABF", "250.0"]
    assert explore.result.status.text().startswith("1 row in ")
    # a bad statement: the database's sentence, in red, no rows
    explore.sql.setPlainText("SELECT nope FROM orders")
    qtbot.mouseClick(explore.run_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: "nope" in explore.result.status.text(), timeout=ANSWER_TIMEOUT_MS)
    assert rows.rowCount() == 0 and "c0392b" in explore.result.status.styleSheet()


def test_gui_slow_preview_shows_its_time_and_is_cancelled_where_it_runs(
    qtbot: QtBot, sample_window: MainWindow, tmp_path: Path
) -> None:
    window = sample_window
    endless = _endless(window, tmp_path)
    explore = window.explore
    qtbot.waitUntil(lambda: explore.connection.findData("slow") >= 0, timeout=ANSWER_TIMEOUT_MS)
    explore.show_connection("slow")
    window.tabs.setCurrentIndex(EXPLORE_TAB)
    explore.sql.setPlainText(endless)
    result = explore.result
    assert not result.cancel_button.isEnabled()
    qtbot.mouseClick(explore.run_button, Qt.MouseButton.LeftButton)
    assert result.cancel_button.isEnabled()
    # it runs: the running-queries list has it, and the preview counts its time
    qtbot.waitUntil(lambda: window.queries_table.rowCount() == 1, timeout=ANSWER_TIMEOUT_MS)
    first = result.status.text()
    assert re.fullmatch(r"Running the query on slow… \d+\.\d s", first), first
    qtbot.waitUntil(lambda: result.status.text() != first, timeout=10_000)  # it ticks
    preview = result.preview
    assert preview is not None
    qtbot.waitUntil(lambda: preview.query_id is not None, timeout=ANSWER_TIMEOUT_MS)
    assert preview.query_id == window.queries_table.cellWidget(0, 3).property("query_id")
    qtbot.mouseClick(result.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: result.status.text().startswith("Cancelled after "), timeout=ANSWER_TIMEOUT_MS
    )
    assert not result.cancel_button.isEnabled() and preview.finished
    with _http(window) as http:
        assert http.get("/queries").json() == []

        def cancelled_in_history() -> bool:  # history is written in the background
            entries = http.get("/history", params={"limit": 5}).json()
            return any(
                entry["query_id"] == preview.query_id and entry["error_code"] == "cancelled"
                for entry in entries
            )

        qtbot.waitUntil(cancelled_in_history, timeout=ANSWER_TIMEOUT_MS)


def test_gui_preview_cancelled_before_its_id_is_known(
    qtbot: QtBot, sample_window: MainWindow, tmp_path: Path
) -> None:
    # Cancel pressed at once, before any GET /queries saw the query: the controller looks
    # for it among the running queries itself
    window = sample_window
    endless = _endless(window, tmp_path)
    answers: list[object] = []
    preview = window.controller.run_query("slow", endless, answers.append, answers.append)
    window.controller.cancel_preview(preview)
    qtbot.waitUntil(lambda: bool(answers), timeout=ANSWER_TIMEOUT_MS)
    error = answers[0]
    assert isinstance(error, ApiError) and error.code == "cancelled", error


def test_gui_saved_query_added_run_previewed_and_removed_through_the_window(
    qtbot: QtBot, sample_window: MainWindow, monkeypatch: pytest.MonkeyPatch
) -> None:
    window = sample_window
    tab = window.saved_tab
    window.tabs.setCurrentIndex(SAVED_TAB)
    qtbot.mouseClick(tab.add_button, Qt.MouseButton.LeftButton)
    form = tab.findChild(SavedQueryForm)
    assert form is not None and form.isVisible()
    assert [form.connection.itemData(i) for i in range(form.connection.count())] == ["sample"]
    form.name.setText("closes")
    form.sql.setPlainText(
        "SELECT date, close FROM daily_prices WHERE symbol = :sym AND date >= :since ORDER BY date"
    )
    # a parameter the SQL uses but the lines do not declare: the server says so, under it
    form.params.setPlainText("sym:ticker=ABF")
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: form.errors["params"].isVisible(), timeout=ANSWER_TIMEOUT_MS)
    assert ":since" in form.errors["params"].text()
    # a line that is not name:type=default is refused before anything is sent
    form.params.setPlainText("sym:ticker=ABF\nsince:when=2024")
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    assert "'when' is not a parameter type" in form.errors["params"].text()
    form.params.setPlainText("sym:ticker=ABF")
    qtbot.mouseClick(form.declare_button, Qt.MouseButton.LeftButton)
    assert form.params.toPlainText() == "sym:ticker=ABF\nsince:text="
    form.params.setPlainText("sym:ticker=ABF\nsince:date=2024-12-20")
    form.description.setText("Closes of one ticker")
    form.widget.setCurrentIndex(form.widget.findData("chart"))
    qtbot.mouseClick(form.save_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: not form.isVisible(), timeout=ANSWER_TIMEOUT_MS)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1, timeout=ANSWER_TIMEOUT_MS)
    cells = [tab.table.item(0, c).text() for c in range(4)]
    assert cells == ["closes", "sample", "chart", "sym:ticker=ABF, since:date=2024-12-20"]
    with _http(window) as http:
        stored = http.get("/saved-queries/closes").json()
    declared = [
        {key: param[key] for key in ("name", "type", "default", "multiple")}
        for param in stored["params"]
    ]
    assert declared == [
        {"name": "sym", "type": "ticker", "default": "ABF", "multiple": False},
        {"name": "since", "type": "date", "default": "2024-12-20", "multiple": False},
    ]
    assert stored["widget"]["type"] == "chart" and stored["description"] == "Closes of one ticker"

    # Run asks for the values, the defaults filled in; the result is previewed below
    tab.table.selectRow(0)
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)
    dialog = tab.findChild(RunDialog)
    assert dialog is not None and dialog.isVisible()
    assert dialog.fields["sym"].text() == "ABF" and dialog.fields["since"].text() == "2024-12-20"
    dialog.fields["sym"].setText("axp")  # a ticker: the server upper-cases it
    dialog.accept()
    rows = tab.result.table
    qtbot.waitUntil(lambda: rows.rowCount() > 0, timeout=ANSWER_TIMEOUT_MS)
    with sqlite3.connect(window.controller.data_dir / "sample.db") as db:
        expected = db.execute(
            "SELECT date, close FROM daily_prices WHERE symbol = 'AXP' AND date >= '2024-12-20' "
            "ORDER BY date"
        ).fetchall()
    assert rows.rowCount() == len(expected) > 0
    shown = [(rows.item(r, 0).text(), float(rows.item(r, 1).text())) for r in range(len(expected))]
    assert shown == [(str(date), close) for date, close in expected]
    assert tab.result.status.text().startswith(f"{len(expected)} rows in ")

    # Remove, after the question
    monkeypatch.setattr(QMessageBox, "question", lambda *_: QMessageBox.StandardButton.Yes)
    qtbot.mouseClick(tab.remove_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(lambda: tab.table.rowCount() == 0, timeout=ANSWER_TIMEOUT_MS)
    with _http(window) as http:
        assert http.get("/saved-queries").json() == []


def test_gui_saved_query_of_a_slow_sql_is_cancelled_from_its_preview(
    qtbot: QtBot, sample_window: MainWindow, tmp_path: Path
) -> None:
    window = sample_window
    endless = _endless(window, tmp_path)
    with _http(window) as http:
        http.post(
            "/saved-queries", json={"name": "forever", "connection": "slow", "sql": endless}
        ).raise_for_status()
    tab = window.saved_tab
    qtbot.waitUntil(lambda: tab.table.rowCount() == 1, timeout=ANSWER_TIMEOUT_MS)
    tab.table.selectRow(0)
    qtbot.mouseClick(tab.run_button, Qt.MouseButton.LeftButton)  # no params: runs at once
    qtbot.waitUntil(lambda: window.queries_table.rowCount() == 1, timeout=ANSWER_TIMEOUT_MS)
    assert tab.result.status.text().startswith("Running forever… ")
    qtbot.mouseClick(tab.result.cancel_button, Qt.MouseButton.LeftButton)
    qtbot.waitUntil(
        lambda: tab.result.status.text().startswith("Cancelled after "),
        timeout=ANSWER_TIMEOUT_MS,
    )


def test_gui_param_lines_are_read_and_written() -> None:
    assert parse_params("sym:ticker=ABF\n\n since : date = 2024-01-01 \nnote\ntops:ticker[]=A, B") == [
        {"name": "sym", "type": "ticker", "default": "ABF"},
        {"name": "since", "type": "date", "default": "2024-01-01"},
        {"name": "note", "type": "text"},
        {"name": "tops", "type": "ticker", "default": ["A", "B"], "multiple": True},
    ]  # fmt: skip
    assert format_params(parse_params("sym:ticker=ABF\ntops:ticker[]=A,B\nn:number")) == (
        "sym:ticker=ABF\ntops:ticker[]=A,B\nn:number"
    )
    with pytest.raises(InputError, match="Line 2"):
        parse_params("a\n2bad")
    with pytest.raises(InputError, match="declared twice"):
        parse_params("a\na:number")
    sql = "SELECT * FROM t WHERE a = :sym AND b::int > :n AND c = ':not' AND d = :sym"
    assert placeholders(sql) == ["sym", "n"]


def test_gui_a_preview_finds_its_own_query_among_the_running_ones() -> None:
    preview = Preview("db", "select 1", frozenset({"q_old"}))
    queries = [
        {"query_id": "q_old", "connection": "db", "sql": "select 1", "started_at": "1"},
        {"query_id": "q_other", "connection": "db", "sql": "select 2", "started_at": "2"},
        {"query_id": "q_elsewhere", "connection": "x", "sql": "select 1", "started_at": "2"},
        {"query_id": "q_mine", "connection": "db", "sql": "select 1", "started_at": "3"},
        {"query_id": "q_later", "connection": "db", "sql": "select 1", "started_at": "4"},
    ]
    assert find_query(queries, preview, set()) == "q_mine"
    assert find_query(queries, preview, {"q_mine"}) == "q_later"  # claimed by another
    assert find_query(queries[:3], preview, set()) is None


def test_gui_window_starts_on_a_real_x_server(tmp_path: Path, sample_db: Path) -> None:
    """Not offscreen: the real entry point on Xvfb through Qt's xcb platform, which needs
    the xcb libraries a desktop has (.ci/debian-packages lists them). A screenshot of the
    X display must show the window with its light green."""
    xvfb, grab = shutil.which("Xvfb"), shutil.which("import")
    require_service(xvfb is not None, "Xvfb is not installed (Debian: xvfb)")
    require_service(grab is not None, "ImageMagick's import is not installed (Debian: imagemagick)")
    assert xvfb is not None and grab is not None
    read_fd, write_fd = os.pipe()
    server = subprocess.Popen(  # -displayfd: Xvfb takes a free display and says which
        [xvfb, "-displayfd", str(write_fd), "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
        pass_fds=(write_fd,),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    os.close(write_fd)
    app: subprocess.Popen[bytes] | None = None
    log = (tmp_path / "gui.out").open("wb")
    try:
        with os.fdopen(read_fd) as said:
            number = said.readline().strip()  # blocks until Xvfb is ready (or exits)
        require_service(number.isdigit(), "Xvfb did not start")
        data = tmp_path / "data"
        data.mkdir()
        shutil.copy(sample_db, data / "sample.db")
        config = tmp_path / "config"
        port = recommend_port(7900)
        (config / "data-connector").mkdir(parents=True)
        (config / "data-connector" / "Data Connector.conf").write_text(f"[General]\nport={port}\n")
        env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("QT_")},
            "QT_QPA_PLATFORM": "xcb",
            "DISPLAY": f":{number}",
            "XDG_CONFIG_HOME": str(config),
            "XDG_STATE_HOME": str(tmp_path / "state"),
        }
        app = subprocess.Popen(
            [sys.executable, "-m", "gui.main", "--data-dir", str(data)],
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=Path(__file__).resolve().parent.parent,
        )
        shot = tmp_path / "screen.png"
        green = QColor(LIGHT_COLORS[RUNNING])

        def window_is_green() -> bool:
            assert app is not None and app.poll() is None, (tmp_path / "gui.out").read_text()
            subprocess.run(
                [grab, "-display", f":{number}", "-window", "root", str(shot)],
                check=True,
                capture_output=True,
                timeout=30,
            )
            image = QImage(str(shot)).convertToFormat(QImage.Format.Format_RGB888)
            pixels = bytes(image.constBits())
            return bytes((green.red(), green.green(), green.blue())) * 4 in pixels

        # the server starts, the window polls /health and turns its light green; the
        # whole start is bounded generously (a cold Python and Qt on a busy machine)
        wait_until(
            window_is_green,
            within_s=90,
            what="the window's green light on the X display",
            process=app,
            every_s=0.5,
        )
        assert httpx.get(f"http://127.0.0.1:{port}/health").json()["status"] == "ok"
        image = QImage(str(shot)).convertToFormat(QImage.Format.Format_RGB888)
        assert (image.width(), image.height()) == (1280, 800)
        pixels = bytes(image.constBits())
        colours = {pixels[i : i + 3] for i in range(0, len(pixels) - 3, 3 * 97)}
        assert len(colours) > 20, len(colours)  # text, buttons, the light: not blank
        shutil.copy(shot, tmp_path / "xvfb-window.png")
    finally:
        if app is not None:
            app.send_signal(signal.SIGTERM)  # the app's clean quit, which stops the server
            try:
                app.wait(timeout=30)
            except subprocess.TimeoutExpired:
                app.kill()
                app.wait()
        log.close()
        server.terminate()
        server.wait(timeout=30)
    output = (tmp_path / "gui.out").read_text()
    assert "Could not load the Qt platform plugin" not in output, output
    assert app.returncode == 0, output
    with pytest.raises(httpx.ConnectError):
        httpx.get(f"http://127.0.0.1:{port}/health")
