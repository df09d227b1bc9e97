"""The crash handler: an unexpected error is written to a log file in the platform's log
folder and shown in a dialog that says where the file is; the app keeps running.

Also sets up the app's own log file there. Qt only for the dialog.
"""

from __future__ import annotations

import logging
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path
from types import TracebackType

import platformdirs
from PySide6.QtWidgets import QApplication, QMessageBox

LOG_FILE = "gui.log"
log = logging.getLogger("gui")
_shown: list[QMessageBox] = []


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir("data-connector", appauthor=False))


def setup_logging(log_dir: Path) -> Path:
    """Log the app to ``log_dir/gui.log``; returns the file's path."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    return path


def record_crash(
    log_dir: Path,
    kind: type[BaseException],
    error: BaseException,
    tb: TracebackType | None,
) -> Path:
    """Append the traceback to ``log_dir/gui.log`` and return the file."""
    log_dir.mkdir(parents=True, exist_ok=True)
    path = log_dir / LOG_FILE
    text = "".join(traceback.format_exception(kind, error, tb))
    with path.open("a", encoding="utf-8") as handle:
        handle.write(f"{datetime.now(UTC).isoformat()} CRASH\n{text}\n")
    return path


def install_crash_handler(log_dir: Path, show_dialog: bool = True) -> None:
    """Route every uncaught exception to the log file and a dialog."""

    def handle(kind: type[BaseException], error: BaseException, tb: TracebackType | None) -> None:
        if issubclass(kind, KeyboardInterrupt):
            sys.__excepthook__(kind, error, tb)
            return
        path = record_crash(log_dir, kind, error, tb)
        if show_dialog and QApplication.instance() is not None:
            box = QMessageBox(
                QMessageBox.Icon.Critical,
                "Data Connector: unexpected error",
                f"Something went wrong: {error}\n\nThe details are in {path}. "
                "The server keeps running; you can go on or restart the app.",
            )
            box.setDetailedText("".join(traceback.format_exception(kind, error, tb)))
            box.setObjectName("crash_dialog")
            _shown.append(box)  # kept alive while it is on screen
            box.finished.connect(lambda _result: _shown.remove(box))
            box.open()

    sys.excepthook = handle
