"""The main window: port, Start/Stop, the status light, URL and key, Open in OpenBB, the
connections, the running queries and the server's log.

A view only: it subscribes to the controller's signals and calls its methods; it never
talks to the server. Must not import the server's internals.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QMainWindow,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from gui import APP_TITLE
from gui.connection_form import ConnectionForm
from gui.controller import DIED, RUNNING, STARTING, STOPPED, UNREACHABLE, Controller
from gui.validation import InputError, parse_port

LIGHT_COLORS = {
    STOPPED: "#9e9e9e",
    STARTING: "#f1c40f",
    RUNNING: "#27ae60",
    UNREACHABLE: "#e67e22",
    DIED: "#c0392b",
}
LOG_LINES = 5000


class MainWindow(QMainWindow):
    def __init__(self, controller: Controller, settings: QSettings) -> None:
        super().__init__()
        self.controller = controller
        self.settings = settings
        self.quitting = False
        self.hide_to_tray = False
        self.setWindowTitle(APP_TITLE)
        self._connections: list[dict[str, Any]] = []
        self._query_ids: list[str] = []

        central = QWidget()
        outer = QVBoxLayout(central)

        # port and start/stop
        row = QHBoxLayout()
        row.addWidget(QLabel("Port"))
        self.port_edit = QLineEdit()
        self.port_edit.setObjectName("port")
        self.port_edit.setMaximumWidth(90)
        self.port_edit.setPlaceholderText("7800")
        row.addWidget(self.port_edit)
        self.recommend_button = QPushButton("Recommend Port")
        self.start_button = QPushButton("Start")
        self.stop_button = QPushButton("Stop")
        self.restart_button = QPushButton("Restart")
        for button in (
            self.recommend_button,
            self.start_button,
            self.stop_button,
            self.restart_button,
        ):
            row.addWidget(button)
        row.addSpacing(12)
        self.light = QLabel()
        self.light.setObjectName("light")
        self.light.setFixedSize(14, 14)
        row.addWidget(self.light)
        self.status_label = QLabel()
        self.status_label.setObjectName("status")
        row.addWidget(self.status_label, 1)
        outer.addLayout(row)

        problem = QHBoxLayout()
        self.port_error = QLabel()
        self.port_error.setObjectName("port_error")
        self.port_error.setStyleSheet("color: #c0392b;")
        self.port_error.setWordWrap(True)
        problem.addWidget(self.port_error, 1)
        self.use_port_button = QPushButton()
        self.use_port_button.setObjectName("use_port")
        problem.addWidget(self.use_port_button)
        outer.addLayout(problem)
        self._suggested_port: int | None = None

        # URL, key, OpenBB
        url_row = QHBoxLayout()
        url_row.addWidget(QLabel("URL"))
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("url")
        self.url_edit.setReadOnly(True)
        url_row.addWidget(self.url_edit, 1)
        self.copy_url_button = QPushButton("Copy")
        url_row.addWidget(self.copy_url_button)
        url_row.addWidget(QLabel("API key"))
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("key")
        self.key_edit.setReadOnly(True)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        url_row.addWidget(self.key_edit, 1)
        self.show_key_button = QPushButton("Show")
        self.show_key_button.setCheckable(True)
        self.copy_key_button = QPushButton("Copy")
        url_row.addWidget(self.show_key_button)
        url_row.addWidget(self.copy_key_button)
        self.openbb_button = QPushButton("Open in OpenBB")
        url_row.addWidget(self.openbb_button)
        outer.addLayout(url_row)

        # connections / running queries above, the log below
        self.tabs = QTabWidget()
        self.tabs.addTab(self._connections_tab(), "Connections")
        self.tabs.addTab(self._queries_tab(), "Running queries")
        self.log = QPlainTextEdit()
        self.log.setObjectName("log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setPlaceholderText("The server's log appears here.")
        split = QSplitter(Qt.Orientation.Vertical)
        split.addWidget(self.tabs)
        split.addWidget(self.log)
        split.setSizes([260, 160])
        outer.addWidget(split, 1)
        self.setCentralWidget(central)

        # wiring
        self.recommend_button.clicked.connect(self.recommend)
        self.start_button.clicked.connect(self.start)
        self.stop_button.clicked.connect(controller.stop)
        self.restart_button.clicked.connect(controller.restart)
        self.use_port_button.clicked.connect(self.use_suggested_port)
        self.copy_url_button.clicked.connect(lambda: self._copy(self.url_edit.text()))
        self.copy_key_button.clicked.connect(lambda: self._copy(self.key_edit.text()))
        self.show_key_button.toggled.connect(self._show_key)
        self.openbb_button.clicked.connect(self.open_openbb)
        self.port_edit.textEdited.connect(lambda _: self._clear_port_error())
        self.port_edit.returnPressed.connect(self.start)
        controller.state_changed.connect(self.on_state)
        controller.log_line.connect(self.log.appendPlainText)
        controller.port_problem.connect(self.on_port_problem)
        controller.server_ready.connect(self.on_ready)
        controller.connections_changed.connect(self.on_connections)
        controller.kinds_changed.connect(lambda _: self.on_connections(self._connections))
        controller.queries_changed.connect(self.on_queries)

        self._restore()
        self._clear_port_error()
        self.on_state(controller.state, "Stopped: press Start.")

    # layout pieces ------------------------------------------------------------------------

    def _connections_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.connections_table = QTableWidget(0, 4)
        self.connections_table.setObjectName("connections")
        self.connections_table.setHorizontalHeaderLabels(["Name", "Kind", "Access", "Where"])
        self.connections_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.connections_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.connections_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.connections_table.horizontalHeader().setStretchLastSection(True)
        self.connections_table.verticalHeader().setVisible(False)
        self.connections_table.doubleClicked.connect(lambda _: self.edit_connection())
        layout.addWidget(self.connections_table)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.edit_button = QPushButton("Edit…")
        self.remove_button = QPushButton("Remove")
        for button in (self.add_button, self.edit_button, self.remove_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(self.add_connection)
        self.edit_button.clicked.connect(self.edit_connection)
        self.remove_button.clicked.connect(self.remove_connection)
        return tab

    def _queries_tab(self) -> QWidget:
        tab = QWidget()
        layout = QVBoxLayout(tab)
        self.queries_table = QTableWidget(0, 4)
        self.queries_table.setObjectName("queries")
        self.queries_table.setHorizontalHeaderLabels(["Connection", "Elapsed", "SQL", ""])
        self.queries_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.queries_table.horizontalHeader().setSectionResizeMode(
            2, QHeaderView.ResizeMode.Stretch
        )
        self.queries_table.verticalHeader().setVisible(False)
        layout.addWidget(self.queries_table)
        return tab

    # settings -----------------------------------------------------------------------------

    def _restore(self) -> None:
        port = self.settings.value("port", "")
        self.port_edit.setText(str(port) if port else str(self.controller.recommend_port()))
        geometry = self.settings.value("geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        else:
            self.resize(900, 600)
        state = self.settings.value("window_state")
        if isinstance(state, QByteArray):
            self.restoreState(state)

    def save_settings(self) -> None:
        self.settings.setValue("geometry", self.saveGeometry())
        self.settings.setValue("window_state", self.saveState())
        if self.controller.port is not None:
            self.settings.setValue("port", self.controller.port)
        self.settings.sync()

    # actions ------------------------------------------------------------------------------

    def recommend(self) -> None:
        self.port_edit.setText(str(self.controller.recommend_port()))
        self._clear_port_error()

    def start(self) -> None:
        try:
            port = parse_port(self.port_edit.text())
        except InputError as exc:
            self._show_port_error(str(exc), None)
            return
        self._clear_port_error()
        if self.controller.start(port):
            self.settings.setValue("port", port)

    def use_suggested_port(self) -> None:
        if self._suggested_port is not None:
            self.port_edit.setText(str(self._suggested_port))
            self._clear_port_error()
            self.start()

    def open_openbb(self) -> None:
        QDesktopServices.openUrl(QUrl(self.controller.openbb_url))

    def add_connection(self) -> None:
        ConnectionForm(self.controller, None, self).open()

    def selected_connection(self) -> dict[str, Any] | None:
        rows = self.connections_table.selectionModel().selectedRows()
        if not rows:
            return None
        return self._connections[rows[0].row()]

    def edit_connection(self) -> None:
        existing = self.selected_connection()
        if existing is not None:
            ConnectionForm(self.controller, existing, self).open()

    def remove_connection(self) -> None:
        existing = self.selected_connection()
        if existing is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove connection",
            f"Remove the connection {existing['name']!r}? Its saved password is forgotten too.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.remove_connection(existing["name"])

    def _copy(self, text: str) -> None:
        if text:
            QGuiApplication.clipboard().setText(text)
            self.statusBar().showMessage("Copied.", 2000)

    def _show_key(self, shown: bool) -> None:
        self.key_edit.setEchoMode(
            QLineEdit.EchoMode.Normal if shown else QLineEdit.EchoMode.Password
        )
        self.show_key_button.setText("Hide" if shown else "Show")

    def _show_port_error(self, message: str, suggestion: int | None) -> None:
        self.port_error.setText(message)
        self.port_error.show()
        self._suggested_port = suggestion
        self.use_port_button.setText(f"Use {suggestion}" if suggestion else "")
        self.use_port_button.setVisible(suggestion is not None)

    def _clear_port_error(self) -> None:
        self.port_error.hide()
        self.use_port_button.hide()
        self._suggested_port = None

    # signal handlers ----------------------------------------------------------------------

    @property
    def light_color(self) -> str:
        return LIGHT_COLORS[self.controller.state]

    def on_state(self, state: str, message: str) -> None:
        color = LIGHT_COLORS[state]
        self.light.setStyleSheet(f"background-color: {color}; border-radius: 7px;")
        self.light.setToolTip(state)
        self.status_label.setText(message)
        busy = state in (STARTING, RUNNING, UNREACHABLE)
        self.start_button.setEnabled(not busy)
        self.stop_button.setEnabled(busy)
        self.port_edit.setReadOnly(busy)
        self.recommend_button.setEnabled(not busy)
        self.restart_button.setVisible(state == DIED)
        running = state == RUNNING
        for button in (self.add_button, self.edit_button, self.remove_button):
            button.setEnabled(running)
        if state in (STOPPED, DIED):
            self.url_edit.clear()
            self.key_edit.clear()
        self.openbb_button.setEnabled(running)

    def on_port_problem(self, message: str, suggestion: int) -> None:
        self._show_port_error(message, suggestion)

    def on_ready(self, url: str, key: str) -> None:
        self.url_edit.setText(url)
        self.key_edit.setText(key)

    def on_connections(self, connections: list[dict[str, Any]]) -> None:
        self._connections = connections
        table = self.connections_table
        table.setRowCount(len(connections))
        for index, connection in enumerate(connections):
            options = connection.get("options", {})
            where = (
                options.get("path")
                or options.get("account")
                or (
                    f"{options.get('user', '')}@{options.get('host', '')}:{options.get('port', '')}"
                    f"/{options.get('database', '')}"
                )
            )
            cells = [
                connection["name"],
                self.controller.kind_label(connection["kind"]),
                "read-only" if connection.get("read_only", True) else "read-write",
                str(where),
            ]
            for column, text in enumerate(cells):
                table.setItem(index, column, QTableWidgetItem(text))
        table.resizeColumnsToContents()

    def on_queries(self, queries: list[dict[str, Any]]) -> None:
        table = self.queries_table
        ids = [str(query["query_id"]) for query in queries]
        rebuild = ids != self._query_ids
        self._query_ids = ids
        if rebuild:
            table.setRowCount(len(queries))
        for index, query in enumerate(queries):
            seconds = float(query.get("elapsed_ms", 0)) / 1000
            cells = [query.get("connection", ""), f"{seconds:.1f} s", query.get("sql", "")]
            for column, text in enumerate(cells):
                table.setItem(index, column, QTableWidgetItem(str(text)))
            if rebuild:
                cancel = QPushButton("Cancel")
                cancel.setProperty("query_id", ids[index])
                cancel.clicked.connect(self._cancel_clicked)
                table.setCellWidget(index, 3, cancel)
        self.tabs.setTabText(
            1, f"Running queries ({len(queries)})" if queries else "Running queries"
        )

    def _cancel_clicked(self) -> None:
        button = self.sender()
        if isinstance(button, QPushButton):
            button.setEnabled(False)
            self.controller.cancel_query(str(button.property("query_id")))

    # closing ------------------------------------------------------------------------------

    def quit_app(self) -> None:
        """Quit for real: the window closes and the app stops the server on its way out."""
        self.quitting = True
        self.close()
        app = QApplication.instance()
        if app is not None:
            app.quit()

    def closeEvent(self, event: QCloseEvent) -> None:
        self.save_settings()
        if self.hide_to_tray and not self.quitting:
            event.ignore()
            self.hide()
            return
        event.accept()
