"""The "Schema & SQL" tab: one connection's schemas, tables, views and columns as a tree
(``GET /connections/{name}/schema``), and a SQL box whose rows are previewed below it.

A view only: every call goes through the controller, off the UI thread. Double-clicking a
table puts a ``SELECT`` of it into the SQL box. Must not import the server's internals.
"""

from __future__ import annotations

import re
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QHBoxLayout,
    QLabel,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.client import ApiError
from gui.controller import Controller
from gui.results import ResultView

KIND_ROLE = Qt.ItemDataRole.UserRole  # "schema", "table", "view" or "column"
NAME_ROLE = Qt.ItemDataRole.UserRole + 1  # a table's qualified name
_PLAIN = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


def qualified(schema: str, table: str) -> str:
    """``schema.table`` for SQL, quoting a part that is not a plain name."""

    def part(name: str) -> str:
        return name if _PLAIN.match(name) else '"' + name.replace('"', '""') + '"'

    return f"{part(schema)}.{part(table)}" if schema else part(table)


class ExploreTab(QWidget):
    """The schema tree and the SQL box of the connection chosen at the top."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self._schema_of: str | None = None  # the connection the tree shows
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Connection"))
        self.connection = QComboBox()
        self.connection.setObjectName("explore_connection")
        self.connection.setMinimumWidth(180)
        top.addWidget(self.connection)
        self.refresh_button = QPushButton("Reload schema")
        self.refresh_button.setObjectName("reload_schema")
        top.addWidget(self.refresh_button)
        self.schema_status = QLabel()
        self.schema_status.setObjectName("schema_status")
        self.schema_status.setWordWrap(True)
        top.addWidget(self.schema_status, 1)
        layout.addLayout(top)

        split = QSplitter(Qt.Orientation.Horizontal)
        self.tree = QTreeWidget()
        self.tree.setObjectName("schema_tree")
        self.tree.setHeaderLabels(["Name", "Type"])
        self.tree.setColumnWidth(0, 190)
        self.tree.setToolTip("Double-click a table or view to query it.")
        split.addWidget(self.tree)

        right = QWidget()
        right_layout = QVBoxLayout(right)
        right_layout.setContentsMargins(0, 0, 0, 0)
        self.sql = QPlainTextEdit()
        self.sql.setObjectName("sql")
        self.sql.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))
        self.sql.setPlaceholderText("SELECT … (one statement; double-click a table to start)")
        self.sql.setMaximumHeight(110)
        right_layout.addWidget(self.sql)
        buttons = QHBoxLayout()
        self.run_button = QPushButton("Run")
        self.run_button.setObjectName("run_sql")
        self.run_button.setToolTip("Run the SQL and preview its first rows (Ctrl+Enter).")
        buttons.addWidget(self.run_button)
        buttons.addStretch(1)
        right_layout.addLayout(buttons)
        self.result = ResultView(controller, "sql", right)
        right_layout.addWidget(self.result, 1)
        split.addWidget(right)
        split.setSizes([300, 600])
        layout.addWidget(split, 1)

        self.connection.currentIndexChanged.connect(lambda _: self.load_schema())
        self.refresh_button.clicked.connect(lambda: self.load_schema(force=True))
        self.tree.itemDoubleClicked.connect(self._use_table)
        self.run_button.clicked.connect(self.run)
        for keys in ("Ctrl+Return", "Ctrl+Enter"):
            shortcut = QShortcut(QKeySequence(keys), self.sql)
            shortcut.setContext(Qt.ShortcutContext.WidgetShortcut)
            shortcut.activated.connect(self.run)
        self.set_enabled(False)

    @property
    def current(self) -> str | None:
        data = self.connection.currentData()
        return str(data) if data else None

    def set_enabled(self, running: bool) -> None:
        self.running = running
        self.run_button.setEnabled(running)
        self.refresh_button.setEnabled(running)

    def set_connections(self, connections: list[dict[str, Any]]) -> None:
        """Offer these connections, keeping the chosen one when it is still there."""
        chosen = self.current
        names = [str(connection["name"]) for connection in connections]
        if names == [self.connection.itemData(i) for i in range(self.connection.count())]:
            return
        self.connection.blockSignals(True)
        self.connection.clear()
        for name in names:
            self.connection.addItem(name, name)
        index = names.index(chosen) if chosen in names else 0 if names else -1
        self.connection.setCurrentIndex(index)
        self.connection.blockSignals(False)
        if self.current is None:  # its connection is gone: nothing to show
            self._schema_of = None
            self.tree.clear()
            self.schema_status.setText("")
        elif self.current != self._schema_of:
            self.load_schema()

    def show_connection(self, name: str) -> None:
        index = self.connection.findData(name)
        if index >= 0:
            self.connection.setCurrentIndex(index)  # loads its schema when it changes
            if self._schema_of != name:
                self.load_schema()

    def load_schema(self, force: bool = False) -> None:
        name = self.current
        if name is None or not self.running or (name == self._schema_of and not force):
            return
        self._schema_of = name
        self.tree.clear()
        self.schema_status.setStyleSheet("")
        self.schema_status.setText(f"Reading the schema of {name}…")

        def done(schemas: list[dict[str, Any]]) -> None:
            if self._schema_of == name:
                self.show_schema(schemas)

        def failed(error: ApiError) -> None:
            if self._schema_of == name:
                self._schema_of = None  # try again next time
                self.schema_status.setStyleSheet("color: #c0392b;")
                self.schema_status.setText(error.detail)

        self.controller.schema(name, done, failed)

    def show_schema(self, schemas: list[dict[str, Any]]) -> None:
        self.tree.clear()
        counts = {"table": 0, "view": 0}
        for schema in schemas:
            schema_name = str(schema.get("name", ""))
            top = QTreeWidgetItem([schema_name or "(default)", "schema"])
            top.setData(0, KIND_ROLE, "schema")
            for table in schema.get("tables") or []:
                kind = str(table.get("kind", "table"))
                counts[kind] = counts.get(kind, 0) + 1
                item = QTreeWidgetItem([str(table["name"]), kind])
                item.setData(0, KIND_ROLE, kind)
                item.setData(0, NAME_ROLE, qualified(schema_name, str(table["name"])))
                for column in table.get("columns") or []:
                    nullable = "" if column.get("nullable", True) else ", not null"
                    child = QTreeWidgetItem(
                        [str(column["name"]), f"{column.get('type', '')}{nullable}"]
                    )
                    child.setData(0, KIND_ROLE, "column")
                    item.addChild(child)
                top.addChild(item)
            self.tree.addTopLevelItem(top)
        if self.tree.topLevelItemCount() == 1:
            first = self.tree.topLevelItem(0)
            if first is not None:
                first.setExpanded(True)
        said = [f"{n} {kind}{'s' if n != 1 else ''}" for kind, n in counts.items() if n]
        self.schema_status.setText(f"{self.current}: {', '.join(said) or 'no tables'}.")

    def _use_table(self, item: QTreeWidgetItem, _column: int) -> None:
        name = item.data(0, NAME_ROLE)
        if name:
            self.sql.setPlainText(f"SELECT * FROM {name}")

    def run(self) -> None:
        name = self.current
        sql = self.sql.toPlainText().strip()
        if name is None or not sql or not self.running:
            if not sql:
                self.result.status.setText("Type a SQL statement first.")
            return
        self.result.run(
            lambda done, failed: self.controller.run_query(name, sql, done, failed),
            f"the query on {name}",
        )
