"""Demotion: a user query that runs long has its thread's CPU priority lowered, once.

A slow SQLite statement runs in C outside the GIL and takes a whole core; four of them
on two cores leave an export's producer, the event loop and small queries a fraction of
the machine. The scheduler cannot be asked to favour those threads (raising a thread's
priority needs privileges), but any process may lower its own threads': ``Lane.demote``
raises the nice value of the thread running a query past ``demote_after_s``
(``connector.running``'s watchdog decides when), so the others run first and the slow
statement still gets every cycle they leave.

Lowering cannot be undone without privileges, so a demoted thread never runs other work
again: only threads that may retire carry a ``Lane`` (the user-query threads of
``connector.api.work``), and such a thread ends after the task during which it was
demoted. Exports' producers, the event loop, control and default-pool threads have no
lane and are never demoted. Where a thread's nice value cannot be set (not Linux, or
refused), demotion is a no-op with a debug log line.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import logging
import os
import sys
import threading

log = logging.getLogger(__name__)

# The nice value of a demoted thread: the lowest priority there is (CFS gives a nice-19
# thread about 1/68 of a nice-0 thread's share when both want the CPU, and all of it
# when nothing else does).
DEMOTED_NICE = 19


class Lane:
    """A thread that may be demoted: one per retiring user-query thread.

    ``task`` counts the tasks the thread has run, so a demotion decided for a query that
    has since ended never lands on the thread's next task."""

    def __init__(self) -> None:
        self.native_id = threading.get_native_id()
        self.task = 0
        self.demoted = False
        self._lock = threading.Lock()

    def begin(self) -> int:
        """A task starts on this thread; returns its number."""
        with self._lock:
            self.task += 1
            return self.task

    def end(self) -> bool:
        """The task ended; True when the thread was demoted and must retire."""
        with self._lock:
            self.task += 1  # a demotion still pending for the task that ended is dropped
            return self.demoted

    def demote(self, task: int) -> bool:
        """Lower this thread's priority if it still runs task ``task`` (from any thread);
        True when it is demoted now."""
        with self._lock:
            if self.demoted or self.task != task:
                return False
            self.demoted = True  # even if the OS refuses: the thread retires all the same
            return set_nice(self.native_id, DEMOTED_NICE)


def set_nice(native_id: int, nice: int) -> bool:
    """Set thread ``native_id``'s nice value (Linux: ``setpriority`` on a thread id)."""
    if not sys.platform.startswith("linux") or not hasattr(os, "setpriority"):
        log.debug("thread priorities are not set on %s", sys.platform)
        return False
    try:
        os.setpriority(os.PRIO_PROCESS, native_id, nice)
    except OSError as exc:
        log.debug("could not set thread %d's nice value to %d: %s", native_id, nice, exc)
        return False
    return True


_local = threading.local()


def current_lane() -> Lane | None:
    """The calling thread's lane, or None for a thread that is never demoted."""
    lane: Lane | None = getattr(_local, "lane", None)
    return lane


def open_lane() -> Lane:
    """Make the calling thread demotable (only a thread that retires once demoted)."""
    lane = Lane()
    _local.lane = lane
    return lane
