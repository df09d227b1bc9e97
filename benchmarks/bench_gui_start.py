"""How fast the desktop app comes up: launch -> window on screen, and Start -> the server
answering /health (as the status light sees it).

Each run launches the real entry point (``gui.main.main``) in a fresh Python process on
Qt's offscreen platform, with its own data and settings folders. A few lines of
instrumentation in that child note the system-wide monotonic clock when the window has
been shown and painted, when Start is pressed (the app starts the server by itself) and
when the status turns green; the parent compares them with the moment it launched the
child. Results go to stdout and ``benchmarks/results/gui_start.json``.

    .venv/bin/python -m benchmarks.bench_gui_start [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"

CHILD = """
import json, sys, time
from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication
import gui.window as window_module
from gui.controller import RUNNING

marks = {}
original_show = window_module.MainWindow.show
original_start = window_module.MainWindow.start

def show(self):
    original_show(self)
    QApplication.processEvents()  # the first paint of every widget
    self.repaint()
    marks["shown"] = time.monotonic()

    def on_state(state, _message):
        if state == RUNNING and "running" not in marks:
            marks["running"] = time.monotonic()
            print(json.dumps(marks), flush=True)
            QTimer.singleShot(0, self.quit_app)

    self.controller.state_changed.connect(on_state)

def start(self):
    marks["start"] = time.monotonic()
    original_start(self)

window_module.MainWindow.show = show
window_module.MainWindow.start = start
from gui.main import main
sys.exit(main(["--data-dir", sys.argv[1]]))
"""


def one_run(scratch: Path) -> dict[str, float]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(scratch / "config"),
           "XDG_STATE_HOME": str(scratch / "state")}  # fmt: skip
    launched = time.monotonic()
    done = subprocess.run(
        [sys.executable, "-c", CHILD, str(scratch / "data")],
        env=env, capture_output=True, text=True, timeout=120, check=True,
    )  # fmt: skip
    line = next(line for line in done.stdout.splitlines() if line.startswith("{"))
    marks: dict[str, float] = json.loads(line)
    return {
        "window_on_screen_s": marks["shown"] - launched,
        "health_after_start_s": marks["running"] - marks["start"],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    options = parser.parse_args()
    firsts, laters = [], []
    for number in range(options.repeat):
        # the first launch on a new data folder makes the key, the metadata database and
        # the sample; later launches (the everyday case) find them
        with tempfile.TemporaryDirectory(prefix="dc-gui-bench-") as scratch:
            firsts.append(one_run(Path(scratch)))
            laters.append(one_run(Path(scratch)))
        for label, run in (("first", firsts[-1]), ("later", laters[-1])):
            print(f"run {number + 1} ({label} start): window {run['window_on_screen_s']:.2f} s, "
                  f"/health after Start {run['health_after_start_s']:.2f} s")  # fmt: skip
    result: dict[str, object] = {"name": "gui_start", "runs": options.repeat}
    for label, runs in (("first_start", firsts), ("later_start", laters)):
        for key in ("window_on_screen_s", "health_after_start_s"):
            values = [run[key] for run in runs]
            result[f"{label}_{key}_median"] = round(statistics.median(values), 3)
            result[f"{label}_{key}_max"] = round(max(values), 3)
    result["machine"] = (
        f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}, "
        "Qt offscreen"
    )
    result["when"] = time.strftime("%Y-%m-%d")
    print(json.dumps(result, indent=2))
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "gui_start.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
