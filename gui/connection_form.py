"""The connection form: add or edit one SQLite, MySQL, PostgreSQL or Snowflake connection,
test it, and save it through the server's API. Errors appear under the field they concern.

The form builds the JSON body of the contract and hands it to the controller; it never
talks to the server itself. Must not import the server's internals.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSizePolicy,
    QStackedWidget,
    QVBoxLayout,
    QWidget,
)

from gui.client import ApiError
from gui.controller import Controller
from gui.validation import InputError, check_sqlite_path

KINDS = {
    "sqlite": "SQLite",
    "mysql": "MySQL / MariaDB",
    "postgresql": "PostgreSQL",
    "snowflake": "Snowflake",
}


@dataclass(frozen=True)
class FieldSpec:
    key: str
    label: str
    default: str = ""
    choices: tuple[str, ...] = ()
    file: bool = False
    secret: bool = False
    number: bool = False
    optional: bool = False


FIELDS: dict[str, tuple[FieldSpec, ...]] = {
    "sqlite": (FieldSpec("path", "Database file", file=True),),
    "mysql": (
        FieldSpec("host", "Host", "127.0.0.1"),
        FieldSpec("port", "Port", "3306", number=True),
        FieldSpec("user", "User"),
        FieldSpec("database", "Database", optional=True),
        FieldSpec("secret", "Password", secret=True, optional=True),
    ),
    "postgresql": (
        FieldSpec("host", "Host", "127.0.0.1"),
        FieldSpec("port", "Port", "5432", number=True),
        FieldSpec("user", "User"),
        FieldSpec("database", "Database", optional=True),
        FieldSpec(
            "sslmode",
            "SSL mode",
            "prefer",
            choices=("disable", "allow", "prefer", "require", "verify-ca", "verify-full"),
        ),
        FieldSpec("secret", "Password", secret=True, optional=True),
    ),
    "snowflake": (
        FieldSpec("account", "Account"),
        FieldSpec("user", "User"),
        FieldSpec("warehouse", "Warehouse", optional=True),
        FieldSpec("database", "Database", optional=True),
        FieldSpec("schema", "Schema", optional=True),
        FieldSpec("role", "Role", optional=True),
        FieldSpec(
            "authenticator",
            "Sign-in",
            "snowflake",
            choices=("snowflake", "snowflake_jwt", "externalbrowser"),
        ),
        FieldSpec(
            "secret", "Password, or private key file for snowflake_jwt", secret=True, optional=True
        ),
    ),
}
# Which field a database refusal most likely concerns.
LOCATION_FIELD = {"sqlite": "path", "mysql": "host", "postgresql": "host", "snowflake": "account"}


class FieldRow(QWidget):
    """One input with its error line underneath."""

    def __init__(self, spec: FieldSpec, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.spec = spec
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(2)
        line = QHBoxLayout()
        self.combo: QComboBox | None = None
        self.edit: QLineEdit | None = None
        if spec.choices:
            self.combo = QComboBox()
            self.combo.addItems(list(spec.choices))
            self.combo.setCurrentText(spec.default)
            line.addWidget(self.combo)
        else:
            self.edit = QLineEdit(spec.default)
            self.edit.setObjectName(f"field_{spec.key}")
            if spec.secret:
                self.edit.setEchoMode(QLineEdit.EchoMode.Password)
            line.addWidget(self.edit)
            if spec.file or spec.key == "secret":
                browse = QPushButton("Browse…")
                browse.setObjectName(f"browse_{spec.key}")
                browse.clicked.connect(self._browse)
                line.addWidget(browse)
                if spec.key == "secret":
                    browse.setToolTip("Load a PEM private key file (Snowflake key-pair sign-in).")
                    browse.setVisible(False)
                self.browse = browse
        layout.addLayout(line)
        self.error = QLabel()
        self.error.setObjectName(f"error_{spec.key}")
        self.error.setStyleSheet("color: #c0392b;")
        self.error.setWordWrap(True)
        self.error.hide()
        layout.addWidget(self.error)

    def value(self) -> str:
        if self.combo is not None:
            return self.combo.currentText()
        assert self.edit is not None
        return self.edit.text() if self.spec.secret else self.edit.text().strip()

    def set_value(self, value: str) -> None:
        if self.combo is not None:
            self.combo.setCurrentText(value)
        elif self.edit is not None:
            self.edit.setText(value)

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        if message:
            self.window().adjustSize()  # make room for the wrapped sentence

    def _browse(self) -> None:
        if self.spec.key == "secret":
            chosen, _ = QFileDialog.getOpenFileName(self, "Private key (PEM)")
            if chosen:
                try:
                    assert self.edit is not None
                    self.edit.setText(Path(chosen).read_text(encoding="utf-8"))
                except OSError as exc:
                    self.show_error(f"Cannot read {chosen}: {exc.strerror}.")
            return
        chosen, _ = QFileDialog.getOpenFileName(
            self, "SQLite database", "", "SQLite databases (*.db *.sqlite *.sqlite3);;All files (*)"
        )
        if chosen:
            self.set_value(chosen)


class ConnectionForm(QDialog):
    """Add (``existing`` is None) or edit a connection."""

    def __init__(
        self,
        controller: Controller,
        existing: dict[str, Any] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.controller = controller
        self.original_name: str | None = existing["name"] if existing else None
        self.setWindowTitle("Edit connection" if existing else "Add a connection")
        self.setMinimumWidth(460)
        layout = QVBoxLayout(self)
        top = QFormLayout()
        self.name = QLineEdit(existing["name"] if existing else "")
        self.name.setObjectName("field_name")
        self.name.setReadOnly(existing is not None)
        self.name_error = QLabel()
        self.name_error.setObjectName("error_name")
        self.name_error.setStyleSheet("color: #c0392b;")
        self.name_error.hide()
        name_box = QVBoxLayout()
        name_box.setSpacing(2)
        name_box.addWidget(self.name)
        name_box.addWidget(self.name_error)
        top.addRow("Name", name_box)
        self.kind = QComboBox()
        self.kind.setObjectName("kind")
        for key, label in KINDS.items():
            self.kind.addItem(label, key)
        top.addRow("Kind", self.kind)
        layout.addLayout(top)

        self.pages = QStackedWidget()
        self.rows: dict[str, dict[str, FieldRow]] = {}
        for kind, specs in FIELDS.items():
            page = QWidget()
            form = QFormLayout(page)
            form.setContentsMargins(0, 0, 0, 0)
            self.rows[kind] = {}
            for spec in specs:
                row = FieldRow(spec)
                self.rows[kind][spec.key] = row
                form.addRow(spec.label, row)
            self.pages.addWidget(page)
        layout.addWidget(self.pages)
        auth = self.rows["snowflake"]["authenticator"].combo
        assert auth is not None
        auth.currentTextChanged.connect(
            lambda text: self.rows["snowflake"]["secret"].browse.setVisible(text == "snowflake_jwt")
        )

        self.read_only = QCheckBox("Read-only (recommended)")
        self.read_only.setChecked(True)
        layout.addWidget(self.read_only)
        self.result_label = QLabel()
        self.result_label.setObjectName("result")
        self.result_label.setWordWrap(True)
        layout.addWidget(self.result_label)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.test_button = QPushButton("Test")
        self.test_button.setObjectName("test")
        self.save_button = QPushButton("Save")
        self.save_button.setObjectName("save")
        self.save_button.setDefault(True)
        cancel = QPushButton("Cancel")
        for button in (self.test_button, self.save_button, cancel):
            buttons.addWidget(button)
        layout.addLayout(buttons)
        self.test_button.clicked.connect(self.test)
        self.save_button.clicked.connect(self.save)
        cancel.clicked.connect(self.reject)
        self.kind.currentIndexChanged.connect(self._show_page)
        self._show_page(0)

        if existing:
            self._fill(existing)

    def _show_page(self, index: int) -> None:
        """Show one kind's fields; the hidden pages take no room."""
        for number in range(self.pages.count()):
            policy = QSizePolicy.Policy.Preferred if number == index else QSizePolicy.Policy.Ignored
            page = self.pages.widget(number)
            if page is not None:
                page.setSizePolicy(policy, policy)
        self.pages.setCurrentIndex(index)
        self.adjustSize()

    @property
    def current_kind(self) -> str:
        return str(self.kind.currentData())

    def row(self, key: str) -> FieldRow:
        return self.rows[self.current_kind][key]

    def _fill(self, existing: dict[str, Any]) -> None:
        self.kind.setCurrentIndex(list(KINDS).index(existing["kind"]))
        self.kind.setEnabled(False)
        for key, value in existing.get("options", {}).items():
            if key in self.rows[existing["kind"]]:
                self.rows[existing["kind"]][key].set_value(str(value))
        if "secret" in self.rows[existing["kind"]]:
            secret = self.rows[existing["kind"]]["secret"]
            assert secret.edit is not None
            secret.edit.setPlaceholderText("unchanged")
        self.read_only.setChecked(bool(existing.get("read_only", True)))

    def clear_errors(self) -> None:
        self.name_error.hide()
        for row in self.rows[self.current_kind].values():
            row.show_error("")
        self.result_label.setText("")

    def body(self) -> dict[str, Any] | None:
        """The contract's connection body, or None after showing what is wrong."""
        self.clear_errors()
        ok = True
        name = self.name.text().strip()
        if not name:
            self.name_error.setText("Give the connection a name, like prices.")
            self.name_error.show()
            ok = False
        options: dict[str, Any] = {}
        secret: str | None = None
        for key, row in self.rows[self.current_kind].items():
            value = row.value()
            if key == "secret":
                secret = value or None
                continue
            if not value:
                if not row.spec.optional:
                    row.show_error(f"{row.spec.label} is needed.")
                    ok = False
                continue
            if row.spec.file:
                try:
                    value = check_sqlite_path(value)
                except InputError as exc:
                    row.show_error(str(exc))
                    ok = False
                    continue
            if row.spec.number:
                if not value.isdigit() or not 0 < int(value) < 65536:
                    row.show_error(f"{value!r} is not a port number (1 to 65535).")
                    ok = False
                    continue
                options[key] = int(value)
                continue
            options[key] = value
        if not ok:
            return None
        return {
            "name": name,
            "kind": self.current_kind,
            "options": options,
            "read_only": self.read_only.isChecked(),
            **({"secret": secret} if secret is not None else {}),
        }

    def show_api_error(self, error: ApiError) -> None:
        """Put the server's sentence under the field it is about, else under the form."""
        self._busy(False)
        if error.code == "conflict":
            self.name_error.setText(error.detail)
            self.name_error.show()
            return
        fields = self.rows[self.current_kind]
        for key, row in fields.items():
            if f"options.{key}" in error.detail or f"'{key}'" in error.detail:
                row.show_error(error.detail)
                return
        if error.code == "db_unavailable":
            fields[LOCATION_FIELD[self.current_kind]].show_error(error.detail)
            return
        self.result_label.setStyleSheet("color: #c0392b;")
        self.result_label.setText(error.detail)

    def _busy(self, busy: bool) -> None:
        self.test_button.setEnabled(not busy)
        self.save_button.setEnabled(not busy)

    def test(self) -> None:
        body = self.body()
        if body is None:
            return
        self._busy(True)
        self.result_label.setStyleSheet("")
        self.result_label.setText("Testing…")
        self.controller.test_connection(body, self._tested, self.show_api_error)

    def _tested(self, result: dict[str, Any]) -> None:
        self._busy(False)
        self.result_label.setStyleSheet("color: #1e8449;")
        self.result_label.setText(
            f"Connected: {result.get('server_version', '')}, "
            f"{float(result.get('latency_ms', 0)):.1f} ms."
        )

    def save(self) -> None:
        body = self.body()
        if body is None:
            return
        self._busy(True)
        self.result_label.setStyleSheet("")
        self.result_label.setText("Connecting and saving…")
        self.controller.save_connection(
            body, self.original_name, lambda _: self.accept(), self.show_api_error
        )
