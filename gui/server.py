"""The server as a child process (QProcess): start, stop, and its output as lines.

From a source install the child is ``python -m connector.cli --data-dir D serve --port N``;
inside a PyInstaller bundle it is the bundle's own executable with the same arguments
(see :mod:`gui.main`, which hands CLI arguments to the CLI). QProcess works through the
event loop, so nothing here blocks the window except :meth:`ServerProcess.stop_and_wait`,
which is for quitting. Must not import the server's modules.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

from PySide6.QtCore import QObject, QProcess, QProcessEnvironment, QTimer, Signal

STOP_GRACE_MS = 6000


def server_command(data_dir: Path, port: int) -> list[str]:
    """The program and arguments that run the server on ``port``."""
    args = ["--data-dir", str(data_dir), "serve", "--port", str(port)]
    if getattr(sys, "frozen", False):
        return [sys.executable, *args]
    return [sys.executable, "-m", "connector.cli", *args]


class ServerProcess(QObject):
    """One server child process at a time."""

    output = Signal(str)
    started = Signal()
    finished = Signal(int, bool)  # exit code, whether we asked it to stop

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._process: QProcess | None = None
        self._stopping = False
        self._partial = ""

    @property
    def running(self) -> bool:
        return self._process is not None

    def pid(self) -> int | None:
        return int(self._process.processId()) if self._process is not None else None

    def start(self, data_dir: Path, port: int) -> None:
        if self._process is not None:
            return
        program, *args = server_command(data_dir, port)
        process = QProcess(self)
        env = QProcessEnvironment.systemEnvironment()
        env.insert("PYTHONUNBUFFERED", "1")
        env.insert("COLUMNS", "200")  # keep the banner on one line in the log pane
        env.remove("CONNECTOR_PORT")  # the port field decides
        process.setProcessEnvironment(env)
        process.setProcessChannelMode(QProcess.ProcessChannelMode.MergedChannels)
        process.readyReadStandardOutput.connect(self._read)
        process.started.connect(self.started)
        process.finished.connect(self._finished)
        process.errorOccurred.connect(self._failed_to_start)
        self._process = process
        self._stopping = False
        self._partial = ""
        process.start(program, args)

    def stop(self) -> None:
        """Ask the server to stop (it finishes what it is doing); kill it if it lingers."""
        process = self._process
        if process is None:
            return
        self._stopping = True
        process.terminate()
        QTimer.singleShot(STOP_GRACE_MS, lambda: self._kill_if_alive(process))

    def stop_and_wait(self, timeout_ms: int = STOP_GRACE_MS) -> None:
        """Stop and wait for the process to end (for quitting the app)."""
        process = self._process
        if process is None:
            return
        self._stopping = True
        process.terminate()
        if not process.waitForFinished(timeout_ms):
            process.kill()
            process.waitForFinished(2000)

    def _kill_if_alive(self, process: QProcess) -> None:
        if self._process is process and process.state() != QProcess.ProcessState.NotRunning:
            process.kill()

    def _read(self) -> None:
        if self._process is None:
            return
        text = self._partial + bytes(self._process.readAllStandardOutput().data()).decode(
            "utf-8", "replace"
        )
        *lines, self._partial = text.split("\n")
        for line in lines:
            self.output.emit(line.rstrip("\r"))

    def _finished(self, exit_code: int, _status: QProcess.ExitStatus) -> None:
        self._read()
        if self._partial:
            self.output.emit(self._partial)
            self._partial = ""
        process, self._process = self._process, None
        if process is not None:
            process.deleteLater()
        self.finished.emit(int(exit_code), self._stopping)

    def _failed_to_start(self, error: QProcess.ProcessError) -> None:
        if error == QProcess.ProcessError.FailedToStart and self._process is not None:
            self.output.emit(f"The server could not be started: {self._process.errorString()}")
            process, self._process = self._process, None
            process.deleteLater()
            self.finished.emit(-1, False)


def environment_data_dir() -> Path | None:
    """A data folder chosen through ``CONNECTOR_DATA_DIR``, as the CLI would take it."""
    value = os.environ.get("CONNECTOR_DATA_DIR")
    return Path(value).expanduser() if value else None
