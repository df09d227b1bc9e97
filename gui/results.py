"""A query's preview: its rows as a table, what it took, and while it runs its elapsed time
and a Cancel button that stops it in the database.

A view only: the query is started and cancelled through the controller (off the UI
thread); this widget shows what comes back. Must not import the server's internals.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from PySide6.QtCore import Qt, QTimer
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from gui.client import ApiError
from gui.controller import Controller, Preview

ERROR_STYLE = "color: #c0392b;"
TICK_MS = 100
Done = Callable[[dict[str, Any]], None]
Failed = Callable[[ApiError], None]
Starter = Callable[[Done, Failed], Preview]


def cell_text(value: Any) -> str:
    """How a result value is shown: NULL for a missing one, JSON-ish for the rest."""
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


class ResultView(QWidget):
    """One preview at a time: :meth:`run` starts it, Cancel stops it."""

    def __init__(self, controller: Controller, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.controller = controller
        self.preview: Preview | None = None
        self._what = "the query"
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        row = QHBoxLayout()
        self.status = QLabel("No result yet.")
        self.status.setObjectName(f"{name}_status")
        self.status.setWordWrap(True)
        self.status.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        row.addWidget(self.status, 1)
        self.cancel_button = QPushButton("Cancel query")
        self.cancel_button.setObjectName(f"{name}_cancel")
        self.cancel_button.setToolTip("Stop this query in the database.")
        self.cancel_button.setEnabled(False)
        self.cancel_button.clicked.connect(self.cancel)
        row.addWidget(self.cancel_button)
        layout.addLayout(row)
        self.table = QTableWidget(0, 0)
        self.table.setObjectName(f"{name}_rows")
        self.table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.table.verticalHeader().setDefaultSectionSize(22)
        layout.addWidget(self.table, 1)
        self._ticker = QTimer(self)
        self._ticker.setInterval(TICK_MS)
        self._ticker.timeout.connect(self._tick)

    @property
    def running(self) -> bool:
        return self.preview is not None and not self.preview.finished

    def run(self, start: Starter, what: str = "the query") -> None:
        """Start a query: ``start(done, failed)`` hands it to the controller."""
        if self.running:
            return
        self._what = what
        self.table.setRowCount(0)
        self.table.setColumnCount(0)
        self.status.setStyleSheet("")

        def done(body: dict[str, Any]) -> None:
            if self.preview is preview:
                self._show(body)

        def failed(error: ApiError) -> None:
            if self.preview is preview:
                self._failed(error)

        preview = start(done, failed)
        self.preview = preview
        self.cancel_button.setEnabled(True)
        self._tick()
        self._ticker.start()

    def cancel(self) -> None:
        preview = self.preview
        if preview is None or preview.finished:
            return
        self.cancel_button.setEnabled(False)
        self.status.setText(f"Cancelling {self._what}…")

        def not_cancelled(error: ApiError) -> None:
            if self.preview is preview and not preview.finished:
                self.cancel_button.setEnabled(True)
                self.status.setText(f"Still running: {error.detail}")

        self.controller.cancel_preview(preview, not_cancelled)

    def _tick(self) -> None:
        preview = self.preview
        if preview is None or preview.finished:
            self._ticker.stop()
            return
        if not preview.cancelling:
            self.status.setText(f"Running {self._what}… {preview.elapsed_s:.1f} s")

    def _stopped(self) -> float:
        self._ticker.stop()
        self.cancel_button.setEnabled(False)
        return self.preview.elapsed_s if self.preview is not None else 0.0

    def _show(self, body: dict[str, Any]) -> None:
        seconds = self._stopped()
        columns = [str(column.get("name", "")) for column in body.get("columns") or []]
        rows = body.get("rows") or []
        table = self.table
        table.setColumnCount(len(columns))
        table.setHorizontalHeaderLabels(columns)
        for index, column in enumerate(body.get("columns") or []):
            header = table.horizontalHeaderItem(index)
            if header is not None:
                header.setToolTip(str(column.get("type", "")))
        table.setRowCount(len(rows))
        for r, row in enumerate(rows):
            for c, value in enumerate(row):
                item = QTableWidgetItem(cell_text(value))
                if isinstance(value, int | float) and not isinstance(value, bool):
                    item.setTextAlignment(
                        Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
                    )
                table.setItem(r, c, item)
        table.resizeColumnsToContents()
        count = len(rows)
        text = f"{count} row{'s' if count != 1 else ''}"
        if body.get("truncated"):
            text += f" (the first {count}; there are more)"
        elapsed_ms = body.get("elapsed_ms")
        took = f"{float(elapsed_ms):.0f} ms" if elapsed_ms is not None else f"{seconds:.1f} s"
        self.status.setStyleSheet("")
        self.status.setText(f"{text} in {took}.")

    def _failed(self, error: ApiError) -> None:
        seconds = self._stopped()
        if error.code == "cancelled":
            self.status.setStyleSheet("")
            self.status.setText(f"Cancelled after {seconds:.1f} s.")
            return
        self.status.setStyleSheet(ERROR_STYLE)
        self.status.setText(error.detail)
