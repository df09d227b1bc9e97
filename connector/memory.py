"""Allocator tuning for the long-running server process.

Streaming an export allocates and frees the same large buffers batch after batch. glibc
returns freed memory to the system and maps it back for the next batch, and on some
virtual machines those page faults cost more than the encoding itself (measured here:
an NDJSON loop ran 2x slower). Raising glibc's trim and mmap thresholds keeps the pages
mapped; peak memory is unchanged, it is merely not handed back between batches.
Elsewhere (macOS, Windows, musl) this does nothing.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import sys

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
TRIM_THRESHOLD_BYTES = 64 * 1024 * 1024
MMAP_THRESHOLD_BYTES = 32 * 1024 * 1024


def tune_allocator() -> bool:
    """Keep freed heap memory mapped under glibc; True when the setting took effect."""
    if not sys.platform.startswith("linux"):
        return False
    name = ctypes.util.find_library("c")
    if name is None:
        return False
    try:
        libc = ctypes.CDLL(name)
        mallopt = libc.mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes = [ctypes.c_int, ctypes.c_int]
    mallopt.restype = ctypes.c_int
    trimmed: bool = mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD_BYTES) == 1
    mapped: bool = mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD_BYTES) == 1
    return trimmed and mapped
