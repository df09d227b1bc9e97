"""The main window, top to bottom in the order a first launch needs them: the server (port,
Start/Stop, the status light), the connections (``sample`` first), a short "Connect
OpenBB" panel (URL, key hidden with Show and Copy, Open in OpenBB), then the tabs for the
schema and SQL, the saved queries and the running queries, and the server's log (its
messages; its request lines only when asked).

A view only: it subscribes to the controller's signals and calls its methods; it never
talks to the server. Must not import the server's internals.
"""

from __future__ import annotations

from collections import deque
from typing import Any

from PySide6.QtCore import QByteArray, QSettings, Qt, QUrl
from PySide6.QtGui import QCloseEvent, QDesktopServices, QGuiApplication
from PySide6.QtWidgets import (
    QAbstractItemView,
    QApplication,
    QCheckBox,
    QGridLayout,
    QGroupBox,
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
from gui.explore import ExploreTab
from gui.logs import is_request_line
from gui.saved_tab import SavedTab
from gui.validation import InputError, parse_port

LIGHT_COLORS = {
    STOPPED: "#9e9e9e",
    STARTING: "#f1c40f",
    RUNNING: "#27ae60",
    UNREACHABLE: "#e67e22",
    DIED: "#c0392b",
}
LOG_LINES = 5000
CONNECTIONS_TAB, EXPLORE_TAB, SAVED_TAB, QUERIES_TAB = range(4)


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

        # the connections and the other tabs, the Connect OpenBB panel, the log below
        self.tabs = QTabWidget()
        self.tabs.setObjectName("tabs")
        self.explore = ExploreTab(controller)
        self.saved_tab = SavedTab(controller)
        self.tabs.addTab(self._connections_tab(), "Connections")
        self.tabs.addTab(self.explore, "Schema && SQL")
        self.tabs.addTab(self.saved_tab, "Saved queries")
        self.tabs.addTab(self._queries_tab(), "Running queries")
        upper = QWidget()
        upper_layout = QVBoxLayout(upper)
        upper_layout.setContentsMargins(0, 0, 0, 0)
        upper_layout.addWidget(self.tabs, 1)
        upper_layout.addWidget(self._openbb_panel())
        split = QSplitter(Qt.Orientation.Vertical)
        split.setObjectName("split")
        split.addWidget(upper)
        split.addWidget(self._log_pane())
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setSizes([430, 150])
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
        controller.log_line.connect(self.add_log_line)
        controller.port_problem.connect(self.on_port_problem)
        controller.server_ready.connect(self.on_ready)
        controller.connections_changed.connect(self.on_connections)
        controller.kinds_changed.connect(lambda _: self.on_connections(self._connections))
        controller.queries_changed.connect(self.on_queries)
        controller.saved_changed.connect(self.saved_tab.set_saved)

        self._restore()
        self._clear_port_error()
        self.on_state(controller.state, "Stopped: press Start.")

    # layout pieces ------------------------------------------------------------------------

    def _openbb_panel(self) -> QGroupBox:
        """What OpenBB needs: this server's URL and its key (hidden until Show)."""
        box = QGroupBox("Connect OpenBB")
        box.setObjectName("openbb_panel")
        grid = QGridLayout(box)
        grid.setVerticalSpacing(4)
        self.openbb_hint = QLabel(
            "In OpenBB Workspace, add a data connector with this URL and API key: "
            "Open in OpenBB fills in the URL, then paste the key."
        )
        self.openbb_hint.setObjectName("openbb_hint")
        self.openbb_hint.setWordWrap(True)
        grid.addWidget(self.openbb_hint, 0, 0, 1, 5)
        self.url_edit = QLineEdit()
        self.url_edit.setObjectName("url")
        self.url_edit.setReadOnly(True)
        self.url_edit.setPlaceholderText("start the server first")
        self.copy_url_button = QPushButton("Copy")
        self.copy_url_button.setObjectName("copy_url")
        self.key_edit = QLineEdit()
        self.key_edit.setObjectName("key")
        self.key_edit.setReadOnly(True)
        self.key_edit.setEchoMode(QLineEdit.EchoMode.Password)
        self.show_key_button = QPushButton("Show")
        self.show_key_button.setObjectName("show_key")
        self.show_key_button.setCheckable(True)
        self.copy_key_button = QPushButton("Copy")
        self.copy_key_button.setObjectName("copy_key")
        self.openbb_button = QPushButton("Open in OpenBB")
        self.openbb_button.setObjectName("open_openbb")
        self.openbb_button.setToolTip("Opens OpenBB's data connectors page with this URL.")
        grid.addWidget(QLabel("URL"), 1, 0)
        grid.addWidget(self.url_edit, 1, 1)
        grid.addWidget(self.copy_url_button, 1, 2)
        grid.addWidget(self.openbb_button, 1, 3, 1, 2)
        grid.addWidget(QLabel("API key"), 2, 0)
        grid.addWidget(self.key_edit, 2, 1)
        grid.addWidget(self.copy_key_button, 2, 2)
        grid.addWidget(self.show_key_button, 2, 3)
        grid.setColumnStretch(1, 1)
        return box

    def _log_pane(self) -> QWidget:
        pane = QWidget()
        layout = QVBoxLayout(pane)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        row.addWidget(QLabel("Server log"))
        row.addStretch(1)
        self.show_requests = QCheckBox("Show requests")
        self.show_requests.setObjectName("show_requests")
        self.show_requests.setToolTip(
            "Also show each HTTP request the server answers (the window's own polling too)."
        )
        self.show_requests.toggled.connect(lambda _: self._refill_log())
        row.addWidget(self.show_requests)
        layout.addLayout(row)
        self.log = QPlainTextEdit()
        self.log.setObjectName("log")
        self.log.setReadOnly(True)
        self.log.setMaximumBlockCount(LOG_LINES)
        self.log.setPlaceholderText("The server's messages appear here.")
        layout.addWidget(self.log, 1)
        self._log_lines: deque[tuple[str, bool]] = deque(maxlen=LOG_LINES)
        return pane

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
        self.browse_button = QPushButton("Schema && SQL…")
        self.browse_button.setObjectName("browse_connection")
        self.browse_button.setToolTip("Browse this connection's tables and run SQL on it.")
        for button in (self.add_button, self.edit_button, self.remove_button, self.browse_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout.addLayout(buttons)
        self.add_button.clicked.connect(self.add_connection)
        self.edit_button.clicked.connect(self.edit_connection)
        self.remove_button.clicked.connect(self.remove_connection)
        self.browse_button.clicked.connect(self.browse_connection)
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
        if not (isinstance(geometry, QByteArray) and self.restoreGeometry(geometry)):
            self.resize(1000, 720)  # first launch, or a saved geometry that does not fit
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

    def browse_connection(self) -> None:
        """The selected connection's schema and SQL box."""
        existing = self.selected_connection()
        if existing is not None:
            self.explore.show_connection(str(existing["name"]))
        self.tabs.setCurrentIndex(EXPLORE_TAB)

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
        self.start_button.setVisible(state != DIED)  # after a crash: Restart, not both
        self.restart_button.setVisible(state == DIED)
        self.stop_button.setEnabled(busy)
        self.port_edit.setReadOnly(busy)
        self.recommend_button.setEnabled(not busy)
        running = state == RUNNING
        for button in (self.add_button, self.edit_button, self.remove_button, self.browse_button):
            button.setEnabled(running)
        self.explore.set_enabled(running)
        self.saved_tab.set_enabled(running)
        if state in (STOPPED, DIED):
            self.url_edit.clear()
            self.key_edit.clear()
        for button in (
            self.openbb_button,
            self.copy_url_button,
            self.copy_key_button,
            self.show_key_button,
        ):
            button.setEnabled(running)

    def on_port_problem(self, message: str, suggestion: int) -> None:
        self._show_port_error(message, suggestion)

    def on_ready(self, url: str, key: str) -> None:
        self.url_edit.setText(url)
        self.key_edit.setText(key)

    def add_log_line(self, line: str) -> None:
        """One line of the server's output (or the window's own note); a request line is
        kept but shown only with Show requests."""
        request = is_request_line(line)
        self._log_lines.append((line, request))
        if not request or self.show_requests.isChecked():
            self.log.appendPlainText(line)

    def _refill_log(self) -> None:
        shown = self.show_requests.isChecked()
        self.log.setPlainText(
            "\n".join(line for line, request in self._log_lines if shown or not request)
        )
        bar = self.log.verticalScrollBar()
        bar.setValue(bar.maximum())

    def on_connections(self, connections: list[dict[str, Any]]) -> None:
        chosen = self.selected_connection()
        self._connections = connections
        self.explore.set_connections(connections)
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
        for column in range(table.columnCount() - 1):
            table.resizeColumnToContents(column)
        names = [str(connection["name"]) for connection in connections]
        if chosen is not None and chosen["name"] in names:
            table.selectRow(names.index(chosen["name"]))  # a refresh keeps the selection

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
            QUERIES_TAB, f"Running queries ({len(queries)})" if queries else "Running queries"
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
