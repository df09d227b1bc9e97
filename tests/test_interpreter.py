"""The server process's interpreter settings (``connector.interpreter``), read back in a
process of their own so this test run's settings are untouched."""

from __future__ import annotations

import subprocess
import sys


def test_tune_interpreter_freezes_start_up_objects_and_sets_the_thresholds() -> None:
    script = (
        "import gc, sys\n"
        "from connector.interpreter import GEN0_THRESHOLD, SWITCH_INTERVAL_S, tune_interpreter\n"
        "assert gc.get_freeze_count() == 0\n"
        "tune_interpreter()\n"
        "assert gc.get_freeze_count() > 1000, gc.get_freeze_count()\n"
        "assert gc.get_threshold()[0] == GEN0_THRESHOLD\n"
        "assert sys.getswitchinterval() == SWITCH_INTERVAL_S\n"
        "print('ok')\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"
