"""The connection form: add or edit one connection of any kind the server offers, test it,
and save it through the server's API. Errors appear under the field they concern.

The form is built from the server's ``GET /kinds`` (which the controller fetches): one page
per kind, one field per option, with the option's label, default, choices, bounds and
help. A kind whose driver is missing is listed, disabled, with its install hint. Nothing
about a particular kind is written here.

The form builds the JSON body of the contract and hands it to the controller; it never
talks to the server itself. Must not import the server's internals.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtGui import QStandardItemModel
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from gui.client import ApiError, Kind, Option
from gui.controller import Controller
from gui.validation import InputError, check_file, check_folder, check_number

# Labels wider than this wrap onto a second line instead of squeezing the fields.
LABEL_MAX_WIDTH = 150
# Every input is at least this wide, also beside a Browse… button and a long label
# ("Password or private key"), so no field is squeezed narrower than the others.
MIN_INPUT_WIDTH = 240
ERROR_STYLE = "color: #c0392b;"
NOT_SET = "(default)"  # the first choice of an optional option without a default
SECRET_FILE_LIMIT = 1 << 20  # a key file larger than this is not a key


def _error_label(name: str) -> QLabel:
    label = QLabel()
    label.setObjectName(f"error_{name}")
    label.setStyleSheet(ERROR_STYLE)
    label.setWordWrap(True)
    label.hide()
    return label


def _terms(option: Option) -> list[str]:
    """The words a server message may use to name ``option``: its name and its label
    (without a parenthesised unit), and each alternative of an "A or B" label."""
    label = re.sub(r"\s*\(.*?\)", "", option.label).strip().lower()
    terms = {option.name.replace("_", " ").lower(), label, *label.split(" or ")}
    return [term for term in terms if term]


class FieldRow:
    """One option: its label, its input (with Browse… where it takes a file) and its error
    line, placed in a grid by :meth:`place`."""

    def __init__(self, option: Option) -> None:
        self.option = option
        self.label = QLabel(option.label)
        self.label.setObjectName(f"label_{option.name}")
        self.label.setWordWrap(True)
        self.combo: QComboBox | None = None
        self.check: QCheckBox | None = None
        self.edit: QLineEdit | None = None
        self.browse: QPushButton | None = None
        self.line = QWidget()
        line = QHBoxLayout(self.line)
        line.setContentsMargins(0, 0, 0, 0)
        self.input: QWidget
        if option.choices is not None:
            self.combo = QComboBox()
            if option.default is None:
                self.combo.addItem(NOT_SET if not option.required else "", None)
            for choice in option.choices:
                self.combo.addItem(str(choice), choice)
            self.input = self.combo
        elif option.type == "boolean":
            self.check = QCheckBox()
            self.input = self.check
        else:
            self.edit = QLineEdit()
            self.input = self.edit
            if option.secret:
                self.edit.setEchoMode(QLineEdit.EchoMode.Password)
                self._add_browse("Load from file…", "Read the secret from a file (a PEM key).")
            elif option.format == "path":
                self._add_browse("Browse…", f"Choose the file: {option.label}.")
            elif option.format == "folder":
                self._add_browse("Browse…", f"Choose the folder: {option.label}.")
            if option.type == "object":
                self.edit.setPlaceholderText("JSON, like {}")
            elif option.required:
                self.edit.setPlaceholderText("required")
        self.input.setObjectName(f"field_{option.name}")
        if self.check is None:
            self.input.setMinimumWidth(MIN_INPUT_WIDTH)
        line.insertWidget(0, self.input, 1)
        self.label.setBuddy(self.input)
        if option.help:
            for widget in (self.label, self.input):
                widget.setToolTip(option.help)
        self.error = _error_label(option.name)
        self.set_value(option.default)

    def _add_browse(self, text: str, tip: str) -> None:
        self.browse = QPushButton(text)
        self.browse.setObjectName(f"browse_{self.option.name}")
        self.browse.setToolTip(tip)
        self.browse.clicked.connect(self._browse)
        layout = self.line.layout()
        assert layout is not None
        layout.addWidget(self.browse)

    def place(self, grid: QGridLayout) -> None:
        """Add the label, the input and the error line as two new rows of ``grid``."""
        row = grid.rowCount()
        grid.addWidget(self.label, row, 0)
        grid.addWidget(self.line, row, 1)
        grid.addWidget(self.error, row + 1, 1)

    def text(self) -> str:
        if self.edit is None:
            return ""
        return self.edit.text() if self.option.secret else self.edit.text().strip()

    def value(self) -> Any:
        """The typed value, None when left empty; :class:`InputError` when unusable."""
        if self.combo is not None:
            return self.combo.currentData()
        if self.check is not None:
            return self.check.isChecked()
        text = self.text()
        if not text:
            return None
        option = self.option
        if option.type in ("integer", "number"):
            return check_number(
                text,
                whole=option.type == "integer",
                minimum=option.minimum,
                maximum=option.maximum,
            )
        if option.type == "object":
            try:
                parsed = json.loads(text)
            except ValueError:
                parsed = None
            if not isinstance(parsed, dict):
                raise InputError(f"{option.label} takes a JSON object, like {{}}.")
            return parsed
        if option.format == "path":
            return check_file(text)
        if option.format == "folder":
            return check_folder(text)
        return text

    def set_value(self, value: Any) -> None:
        if self.combo is not None:
            index = next(
                (i for i in range(self.combo.count()) if self.combo.itemData(i) == value), -1
            )
            if index < 0 and value is not None:  # a saved value this server does not list
                self.combo.addItem(str(value), value)
                index = self.combo.count() - 1
            self.combo.setCurrentIndex(max(index, 0))
        elif self.check is not None:
            self.check.setChecked(bool(value))
        elif self.edit is not None:
            if value is None:
                self.edit.setText("")
            elif isinstance(value, dict | list):
                self.edit.setText(json.dumps(value))
            else:
                self.edit.setText(str(value))
            self.edit.setCursorPosition(0)  # a long path shows its start

    def is_left_empty(self, value: Any) -> bool:
        """True when ``value`` means "not given": nothing typed, or a check box left as it
        was (an unchecked box without a default sends nothing)."""
        if self.check is not None:
            return not self.option.required and value == bool(self.option.default)
        return value is None

    def show_error(self, message: str) -> None:
        self.error.setText(message)
        self.error.setVisible(bool(message))
        if message:
            self.error.window().adjustSize()  # make room for the wrapped sentence

    def _browse(self) -> None:
        assert self.edit is not None
        option = self.option
        if option.secret:
            chosen, _ = QFileDialog.getOpenFileName(self.line, f"{option.label}: load from a file")
            if chosen:
                try:
                    if Path(chosen).stat().st_size > SECRET_FILE_LIMIT:
                        self.show_error(f"{chosen} is too large to be a key or password.")
                        return
                    self.edit.setText(Path(chosen).read_text(encoding="utf-8"))
                    self.show_error("")
                except (OSError, UnicodeDecodeError) as exc:
                    reason = exc.strerror if isinstance(exc, OSError) else "not a text file"
                    self.show_error(f"Cannot read {chosen}: {reason}.")
            return
        if option.format == "folder":
            chosen = QFileDialog.getExistingDirectory(self.line, option.label, self.text())
        else:
            chosen, _ = QFileDialog.getOpenFileName(self.line, option.label, self.text())
        if chosen:
            self.set_value(chosen)


class KindPage(QWidget):
    """One kind's fields: the everyday ones, then the advanced ones folded away."""

    def __init__(self, kind: Kind, label_width: int, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.kind = kind
        self.rows: dict[str, FieldRow] = {}
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.advanced_button: QToolButton | None = None
        self.advanced_box: QWidget | None = None
        if not kind.available:
            hint = QLabel(
                f"{kind.label} cannot be used here: its driver is not installed."
                + (f" Install it with: {kind.install}" if kind.install else "")
            )
            hint.setObjectName("install_hint")
            hint.setWordWrap(True)
            hint.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
            layout.addWidget(hint)
            return
        basic = _grid(label_width)
        layout.addLayout(basic)
        advanced = [option for option in kind.options if option.advanced]
        for option in kind.options:
            if not option.advanced:
                self._add(option, basic)
        if advanced:
            self.advanced_button = QToolButton()
            self.advanced_button.setObjectName(f"advanced_{kind.kind}")
            self.advanced_button.setText("Advanced")
            self.advanced_button.setCheckable(True)
            self.advanced_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
            self.advanced_button.setArrowType(Qt.ArrowType.RightArrow)
            self.advanced_button.setAutoRaise(True)
            self.advanced_button.toggled.connect(self.show_advanced)
            layout.addWidget(self.advanced_button)
            self.advanced_box = QWidget()
            grid = _grid(label_width)
            grid.setContentsMargins(0, 0, 0, 0)
            self.advanced_box.setLayout(grid)
            for option in advanced:
                self._add(option, grid)
            self.advanced_box.hide()
            layout.addWidget(self.advanced_box)

    def _add(self, option: Option, grid: QGridLayout) -> None:
        row = FieldRow(option)
        self.rows[option.name] = row
        row.place(grid)

    def show_advanced(self, shown: bool = True) -> None:
        if self.advanced_button is None or self.advanced_box is None:
            return
        if self.advanced_button.isChecked() != shown:
            self.advanced_button.setChecked(shown)  # comes back here through toggled
            return
        self.advanced_button.setArrowType(
            Qt.ArrowType.DownArrow if shown else Qt.ArrowType.RightArrow
        )
        self.advanced_box.setVisible(shown)
        self.window().adjustSize()

    def reveal(self, row: FieldRow) -> None:
        """Make sure ``row`` can be seen (unfold Advanced when it is there)."""
        if row.option.advanced:
            self.show_advanced(True)


def _grid(label_width: int) -> QGridLayout:
    grid = QGridLayout()
    grid.setColumnMinimumWidth(0, label_width)
    grid.setColumnStretch(1, 1)
    grid.setVerticalSpacing(4)
    return grid


def _label_width(kinds: list[Kind], widget: QWidget) -> int:
    metrics = widget.fontMetrics()
    labels = ["Name", "Kind", *(o.label for k in kinds for o in k.options)]
    return min(max(metrics.horizontalAdvance(text) for text in labels) + 8, LABEL_MAX_WIDTH)


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
        self.existing = existing
        self.original_name: str | None = existing["name"] if existing else None
        self.setWindowTitle("Edit connection" if existing else "Add a connection")
        self.setMinimumWidth(480)
        layout = QVBoxLayout(self)
        self.top = QGridLayout()
        self.top.setColumnStretch(1, 1)
        self.top.setVerticalSpacing(4)
        self.name = QLineEdit(existing["name"] if existing else "")
        self.name.setObjectName("field_name")
        self.name.setReadOnly(existing is not None)
        self.name.setPlaceholderText("like prices")
        self.name_error = _error_label("name")
        self.kind = QComboBox()
        self.kind.setObjectName("kind")
        self.top_labels: list[QLabel] = []
        for row, (text, widget) in enumerate((("Name", self.name), ("Kind", self.kind))):
            label = QLabel(text)
            label.setBuddy(widget)
            self.top_labels.append(label)
            self.top.addWidget(label, 2 * row, 0)
            self.top.addWidget(widget, 2 * row, 1)
        self.top.addWidget(self.name_error, 1, 1)
        layout.addLayout(self.top)

        # One page per kind, only the chosen one shown: hidden pages take no room (a
        # QStackedWidget would keep the height of the tallest page, wrapped labels and all).
        self.pages = QWidget()
        self.pages_layout = QVBoxLayout(self.pages)
        self.pages_layout.setContentsMargins(0, 0, 0, 0)
        self.kind_pages: dict[str, KindPage] = {}
        self.rows: dict[str, dict[str, FieldRow]] = {}
        self.waiting = QLabel("Reading the database kinds from the server…")
        self.waiting.setObjectName("waiting")
        layout.addWidget(self.waiting)
        layout.addWidget(self.pages)
        layout.addSpacing(6)

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
        self._busy_now = False

        if controller.kinds:
            self._build(controller.kinds)
        else:  # the server has not told us yet: build when it does
            self._update_buttons()
            controller.kinds_changed.connect(self._build)
            controller.refresh_kinds(self._kinds_failed)

    # building -----------------------------------------------------------------------------

    def _build(self, kinds: list[Kind]) -> None:
        if self.kind_pages or not kinds:
            return
        kinds = list(kinds)
        if self.existing and not any(k.kind == self.existing["kind"] for k in kinds):
            kinds.append(
                Kind(kind=self.existing["kind"], label=self.existing["kind"], available=False)
            )
        width = _label_width(kinds, self)
        for label in self.top_labels:
            label.setFixedWidth(width)
        model = self.kind.model()
        self.kind.blockSignals(True)
        for kind in kinds:
            page = KindPage(kind, width)
            for row in page.rows.values():
                row.label.setFixedWidth(width)
            self.kind_pages[kind.kind] = page
            self.rows[kind.kind] = page.rows
            page.hide()
            self.pages_layout.addWidget(page)
            self.kind.addItem(
                kind.label if kind.available else f"{kind.label} (not installed)", kind.kind
            )
            if not kind.available:
                index = self.kind.count() - 1
                if kind.install:
                    self.kind.setItemData(index, kind.install, Qt.ItemDataRole.ToolTipRole)
                if isinstance(model, QStandardItemModel):
                    item = model.item(index)
                    if item is not None:
                        item.setEnabled(False)
        self.kind.blockSignals(False)
        self.waiting.hide()
        first = next((i for i, k in enumerate(kinds) if k.available), 0)
        self.kind.setCurrentIndex(first)
        self._show_page(first)
        if self.existing:
            self._fill(self.existing)

    def _kinds_failed(self, error: ApiError) -> None:
        self.waiting.setText(f"The database kinds could not be read: {error.detail}")
        self.waiting.setStyleSheet(ERROR_STYLE)

    def _show_page(self, index: int) -> None:
        """Show one kind's fields and hide the others."""
        shown = self.kind.itemData(index)
        for kind, page in self.kind_pages.items():
            page.setVisible(kind == shown)
        self._update_buttons()
        self.adjustSize()

    def select_kind(self, kind: str) -> None:
        self.kind.setCurrentIndex(self.kind.findData(kind))

    @property
    def current_kind(self) -> str:
        return str(self.kind.currentData())

    @property
    def current_page(self) -> KindPage | None:
        return self.kind_pages.get(self.current_kind)

    def row(self, key: str) -> FieldRow:
        return self.rows[self.current_kind][key]

    def _fill(self, existing: dict[str, Any]) -> None:
        self.select_kind(existing["kind"])
        self.kind.setEnabled(False)
        page = self.kind_pages[existing["kind"]]
        for key, value in existing.get("options", {}).items():
            row = page.rows.get(key)
            if row is not None and not row.option.secret:
                row.set_value(value)
                if row.option.advanced and value != row.option.default:
                    page.show_advanced(True)
        for row in page.rows.values():
            if row.option.secret and row.edit is not None:
                row.edit.setPlaceholderText("unchanged")
        self.read_only.setChecked(bool(existing.get("read_only", True)))

    # the body -----------------------------------------------------------------------------

    def clear_errors(self) -> None:
        self.name_error.hide()
        for row in self.rows.get(self.current_kind, {}).values():
            row.show_error("")
        self.result_label.setText("")

    def body(self) -> dict[str, Any] | None:
        """The contract's connection body, or None after showing what is wrong."""
        self.clear_errors()
        page = self.current_page
        if page is None or not page.kind.available:
            return None
        ok = True
        name = self.name.text().strip()
        if not name:
            self.name_error.setText("Give the connection a name, like prices.")
            self.name_error.show()
            ok = False
        options: dict[str, Any] = {}
        secret: str | None = None
        for key, row in page.rows.items():
            try:
                value = row.value()
            except InputError as exc:
                row.show_error(str(exc))
                page.reveal(row)
                ok = False
                continue
            if row.is_left_empty(value):
                editing_secret = row.option.secret and self.existing is not None
                if row.option.required and not editing_secret:
                    row.show_error(f"{row.option.label} is needed.")
                    page.reveal(row)
                    ok = False
                continue
            if row.option.secret:
                secret = str(value)
            else:
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

    # the server's answer ------------------------------------------------------------------

    def show_api_error(self, error: ApiError) -> None:
        """Put the server's sentence under the field it is about, else under the form.
        Whatever it is, "Testing…" (or "Connecting and saving…") goes: it was answered."""
        self._busy(False)
        self.result_label.setStyleSheet("")
        self.result_label.setText("")
        if error.code == "conflict":
            self.name_error.setText(error.detail)
            self.name_error.show()
            return
        page = self.current_page
        row = self._row_named_in(error) if page is not None else None
        if page is not None and row is not None:
            page.reveal(row)
            row.show_error(error.detail)
            return
        self.result_label.setStyleSheet(ERROR_STYLE)
        self.result_label.setText(error.detail)

    def _row_named_in(self, error: ApiError) -> FieldRow | None:
        """The field a server message is about: the option a refusal names ("mysql option
        'port': ..."), else the field whose name or label an unavailable database's (or a
        refusal's) sentence mentions first; the password when it is among them ("wrong user
        name or password": the field whose typing cannot be seen is the likelier culprit)."""
        rows = self.rows.get(self.current_kind, {})
        named = re.search(r"\boptions?[ .]'?([A-Za-z_]\w*)", error.detail)
        if named and named.group(1) in rows:
            return rows[named.group(1)]
        if error.code not in ("db_unavailable", "invalid_request"):
            return None
        text = error.detail.lower()
        for row in rows.values():  # what was typed (a host like db.internal) is no word
            typed = row.text().lower()
            if typed and not row.option.secret:
                text = re.sub(rf"(?<![\w.-]){re.escape(typed)}(?![\w.-])", " ", text)
        found: list[tuple[int, int, FieldRow]] = []
        for order, row in enumerate(rows.values()):
            for term in _terms(row.option):
                match = re.search(rf"\b{re.escape(term)}\b", text)
                if match:
                    found.append((match.start(), order, row))
        secret = [hit for hit in found if hit[2].option.secret]
        return min(secret or found, key=lambda hit: hit[:2])[2] if found else None

    def _busy(self, busy: bool) -> None:
        self._busy_now = busy
        self._update_buttons()

    def _update_buttons(self) -> None:
        page = self.current_page
        usable = page is not None and page.kind.available and not self._busy_now
        self.test_button.setEnabled(usable)
        self.save_button.setEnabled(usable)

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
