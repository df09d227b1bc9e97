"""Interpreter settings for the long-running server process: the garbage collector and
the GIL's switch interval, set once the app has started (in each worker process).

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import gc
import sys

# Young objects are collected after this many new container objects (Python's default:
# 700). An export makes and frees a tuple and a dict per row, nearly all freed by reference
# counting; at 700 the collector ran many times per batch.
GEN0_THRESHOLD = 50_000

# How long a thread that wants the GIL waits before asking its holder to let go (Python's
# default: 5 ms). The event loop answers /health, cancels and every request's I/O; it
# needs the GIL back after each poll, and under load it queued behind query threads for
# a switch interval at a time.
SWITCH_INTERVAL_S = 0.001


def tune_interpreter() -> None:
    """Move everything made so far (modules, the app, the drivers) out of the collector's
    sight, collect young objects less often, and shorten the GIL's switch interval."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(GEN0_THRESHOLD, middle, old)
    sys.setswitchinterval(SWITCH_INTERVAL_S)
