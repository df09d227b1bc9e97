"""The "Saved queries" tab: the saved queries (each an OpenBB widget) with Add, Run and
Remove, and the result of a Run previewed below the list.

Add is a small form: a name, a connection chosen from the server's list, the SQL with
``:params``, the params as ``name:type=default`` lines (:mod:`gui.params`) and the widget
type. Run asks for the parameters' values (their defaults filled in) when there are any.
A view only: every call goes through the controller. Must not import the server's internals.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontDatabase
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMessageBox,
    QPlainTextEdit,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.client import ApiError
from gui.controller import Controller
from gui.params import PARAM_TYPES, WIDGET_TYPES, format_params, parse_params, placeholders
from gui.results import ResultView
from gui.validation import InputError

ERROR_STYLE = "color: #c0392b;"


def _error_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(f"error_{name}")
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def _monospace(edit: QPlainTextEdit) -> None:
    edit.setFont(QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont))


class SavedQueryForm(QDialog):
    """Add a saved query; the server's refusal lands under the field it is about."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.setWindowTitle("Add a saved query")
        self.setMinimumWidth(560)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.name = QLineEdit()
        self.name.setObjectName("saved_name")
        self.name.setPlaceholderText("like closes (it becomes the widget's id)")
        self.connection = QComboBox()
        self.connection.setObjectName("saved_connection")
        for connection in controller.connections or []:
            self.connection.addItem(str(connection["name"]), str(connection["name"]))
        self.description = QLineEdit()
        self.description.setObjectName("saved_description")
        self.description.setPlaceholderText("optional: shown in OpenBB")
        self.sql = QPlainTextEdit()
        self.sql.setObjectName("saved_sql")
        _monospace(self.sql)
        self.sql.setPlaceholderText(
            "SELECT date, close FROM daily_prices WHERE symbol = :sym ORDER BY date"
        )
        self.sql.setMinimumHeight(90)
        self.params = QPlainTextEdit()
        self.params.setObjectName("saved_params")
        _monospace(self.params)
        self.params.setPlaceholderText("one a line, name:type=default, like sym:ticker=ABF")
        self.params.setToolTip(
            "One parameter a line: name:type=default. Types: "
            + ", ".join(PARAM_TYPES)
            + ". name:type[]=a,b takes several values (SQL: IN (:name))."
        )
        self.params.setMaximumHeight(80)
        self.declare_button = QPushButton("Declare the SQL's :params")
        self.declare_button.setObjectName("declare_params")
        self.declare_button.setToolTip("Add a text parameter for each :name the SQL uses.")
        params_box = QWidget()
        params_layout = QVBoxLayout(params_box)
        params_layout.setContentsMargins(0, 0, 0, 0)
        params_layout.addWidget(self.params)
        declare_row = QHBoxLayout()
        declare_row.addWidget(self.declare_button)
        declare_row.addStretch(1)
        params_layout.addLayout(declare_row)
        self.widget = QComboBox()
        self.widget.setObjectName("saved_widget")
        for widget in WIDGET_TYPES:
            self.widget.addItem(widget, widget)
        self.errors: dict[str, QLabel] = {}
        rows: list[tuple[str, QWidget, str]] = [
            ("Name", self.name, "name"),
            ("Connection", self.connection, "connection"),
            ("Description", self.description, "description"),
            ("SQL", self.sql, "sql"),
            ("Parameters", params_box, "params"),
            ("Widget", self.widget, "widget"),
        ]
        for label, field, key in rows:
            form.addRow(label, field)
            self.errors[key] = _error_label(f"saved_{key}")
            form.addRow("", self.errors[key])
        layout.addLayout(form)
        self.result_label = QLabel()
        self.result_label.setObjectName("saved_result")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        buttons = QDialogButtonBox()
        self.save_button = buttons.addButton("Save", QDialogButtonBox.ButtonRole.AcceptRole)
        self.save_button.setObjectName("saved_save")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.save)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.declare_button.clicked.connect(self.declare_params)
        if self.connection.count() == 0:
            self.show_error("connection", "There is no connection yet: add one first.")

    def show_error(self, key: str, message: str) -> None:
        label = self.errors[key]
        label.setText(message)
        label.setVisible(bool(message))

    def clear_errors(self) -> None:
        for key in self.errors:
            self.show_error(key, "")
        self.result_label.setText("")

    def declare_params(self) -> None:
        """Add a ``name:text`` line for each ``:name`` of the SQL not declared yet."""
        try:
            declared = {param["name"] for param in parse_params(self.params.toPlainText())}
        except InputError as exc:
            self.show_error("params", str(exc))
            return
        missing = [name for name in placeholders(self.sql.toPlainText()) if name not in declared]
        if missing:
            text = self.params.toPlainText().rstrip("\n")
            lines = [f"{name}:text=" for name in missing]
            self.params.setPlainText("\n".join([text, *lines] if text else lines))

    def body(self) -> dict[str, Any] | None:
        """The contract's saved query body, or None after saying what is wrong."""
        self.clear_errors()
        ok = True
        name = self.name.text().strip()
        if not name:
            self.show_error("name", "Give the query a name, like closes.")
            ok = False
        connection = self.connection.currentData()
        if not connection:
            self.show_error("connection", "Choose the connection it runs on.")
            ok = False
        sql = self.sql.toPlainText().strip()
        if not sql:
            self.show_error("sql", "Type the SQL, one statement.")
            ok = False
        try:
            params = parse_params(self.params.toPlainText())
        except InputError as exc:
            self.show_error("params", str(exc))
            ok = False
            params = []
        if not ok:
            return None
        return {
            "name": name,
            "connection": str(connection),
            "sql": sql,
            "description": self.description.text().strip(),
            "params": params,
            "widget": {"type": str(self.widget.currentData())},
        }

    def save(self) -> None:
        body = self.body()
        if body is None:
            return
        self.save_button.setEnabled(False)
        self.result_label.setStyleSheet("")
        self.result_label.setText("Saving…")
        self.controller.save_saved(body, lambda _: self.accept(), self.show_api_error)

    def show_api_error(self, error: ApiError) -> None:
        """The server's sentence under the field it concerns, else under the form."""
        self.save_button.setEnabled(True)
        self.result_label.setText("")
        text = error.detail.lower()
        if error.code == "conflict":
            key = "name"
        elif "param" in text or error.code == "bad_param":
            key = "params"
        elif "connection" in text:
            key = "connection"
        elif error.code == "sql_error" or "sql" in text:
            key = "sql"
        elif "name" in text:
            key = "name"
        else:
            self.result_label.setStyleSheet(ERROR_STYLE)
            self.result_label.setText(error.detail)
            return
        self.show_error(key, error.detail)


class RunDialog(QDialog):
    """Values for a saved query's parameters, each filled in with its default."""

    def __init__(self, saved: dict[str, Any], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Run {saved['name']}")
        self.setMinimumWidth(380)
        layout = QVBoxLayout(self)
        form = QFormLayout()
        self.fields: dict[str, QLineEdit] = {}
        for param in saved.get("params") or []:
            default = param.get("default")
            if isinstance(default, list):
                default = ",".join(str(item) for item in default)
            edit = QLineEdit("" if default is None else str(default))
            edit.setObjectName(f"param_{param['name']}")
            kind = str(param.get("type") or "text")
            hint = f"{kind}, several values: a,b" if param.get("multiple") else kind
            edit.setPlaceholderText(hint)
            label = str(param.get("label") or param["name"])
            form.addRow(f"{label} ({hint})", edit)
            self.fields[str(param["name"])] = edit
        layout.addLayout(form)
        buttons = QDialogButtonBox()
        run = buttons.addButton("Run", QDialogButtonBox.ButtonRole.AcceptRole)
        run.setObjectName("run_with_values")
        buttons.addButton(QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)

    def values(self) -> dict[str, Any]:
        """The values typed; an emptied field is left out (its default applies)."""
        return {name: edit.text() for name, edit in self.fields.items() if edit.text().strip()}


class SavedTab(QWidget):
    """The saved queries and the preview of the last one run."""

    def __init__(self, controller: Controller, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.saved: list[dict[str, Any]] = []
        self.running = False
        layout = QVBoxLayout(self)
        split = QSplitter(Qt.Orientation.Vertical)
        top = QWidget()
        top_layout = QVBoxLayout(top)
        top_layout.setContentsMargins(0, 0, 0, 0)
        self.table = QTableWidget(0, 4)
        self.table.setObjectName("saved_queries")
        self.table.setHorizontalHeaderLabels(["Name", "Connection", "Widget", "Parameters"])
        self.table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.horizontalHeader().setStretchLastSection(True)
        self.table.verticalHeader().setVisible(False)
        self.table.doubleClicked.connect(lambda _: self.run_selected())
        top_layout.addWidget(self.table)
        buttons = QHBoxLayout()
        self.add_button = QPushButton("Add…")
        self.add_button.setObjectName("saved_add")
        self.run_button = QPushButton("Run…")
        self.run_button.setObjectName("saved_run")
        self.remove_button = QPushButton("Remove")
        self.remove_button.setObjectName("saved_remove")
        for button in (self.add_button, self.run_button, self.remove_button):
            buttons.addWidget(button)
        hint = QLabel("Each saved query is a widget in OpenBB Workspace.")
        hint.setStyleSheet("color: #666;")
        buttons.addSpacing(12)
        buttons.addWidget(hint)
        buttons.addStretch(1)
        top_layout.addLayout(buttons)
        split.addWidget(top)
        self.result = ResultView(controller, "saved", self)
        split.addWidget(self.result)
        split.setSizes([150, 200])
        layout.addWidget(split)
        self.add_button.clicked.connect(self.add)
        self.run_button.clicked.connect(self.run_selected)
        self.remove_button.clicked.connect(self.remove_selected)
        self.set_enabled(False)

    def set_enabled(self, running: bool) -> None:
        self.running = running
        for button in (self.add_button, self.run_button, self.remove_button):
            button.setEnabled(running)

    def set_saved(self, saved: list[dict[str, Any]]) -> None:
        chosen = self.selected()
        self.saved = saved
        table = self.table
        table.setRowCount(len(saved))
        for index, query in enumerate(saved):
            params = ", ".join(format_params(query.get("params") or []).splitlines())
            cells = [
                str(query["name"]),
                str(query.get("connection", "")),
                str((query.get("widget") or {}).get("type", "table")),
                params,
            ]
            for column, text in enumerate(cells):
                item = QTableWidgetItem(text)
                if column == 0 and query.get("description"):
                    item.setToolTip(str(query["description"]))
                table.setItem(index, column, item)
        table.resizeColumnsToContents()
        names = [str(query["name"]) for query in saved]
        if chosen is not None and chosen["name"] in names:
            table.selectRow(names.index(chosen["name"]))

    def selected(self) -> dict[str, Any] | None:
        rows = self.table.selectionModel().selectedRows()
        if not rows or rows[0].row() >= len(self.saved):
            return None
        return self.saved[rows[0].row()]

    def select(self, name: str) -> None:
        names = [str(query["name"]) for query in self.saved]
        if name in names:
            self.table.selectRow(names.index(name))

    def add(self) -> None:
        form = SavedQueryForm(self.controller, self)
        form.open()

    def run_selected(self) -> None:
        saved = self.selected()
        if saved is None or not self.running:
            return
        if saved.get("params"):
            dialog = RunDialog(saved, self)
            dialog.accepted.connect(lambda: self.run(saved, dialog.values()))
            dialog.open()
        else:
            self.run(saved, {})

    def run(self, saved: dict[str, Any], values: dict[str, Any]) -> None:
        self.result.run(
            lambda done, failed: self.controller.run_saved(saved, values, done, failed),
            str(saved["name"]),
        )

    def remove_selected(self) -> None:
        saved = self.selected()
        if saved is None:
            return
        answer = QMessageBox.question(
            self,
            "Remove saved query",
            f"Remove the saved query {saved['name']!r}? Its widget leaves OpenBB too.",
        )
        if answer == QMessageBox.StandardButton.Yes:
            self.controller.remove_saved(str(saved["name"]))
