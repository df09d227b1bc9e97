"""Local database files (SQLite, DuckDB): checked without ever blocking on them.

A path may name a FIFO, a socket or a device as easily as a file, and opening a FIFO for
reading waits for a writer, forever. ``local_database`` follows a path to what it names
and refuses anything but a regular file before opening it; the header is then read from
a non-blocking open, checked again with ``fstat`` (the path may have been swapped in
between). ``is_regular_file`` is the cheap check before each later connect. Reasons are
``ValueError`` sentences (for option validators) that show the path on one line.

Must not import FastAPI or any driver.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

_NO_BLOCK = getattr(os, "O_NONBLOCK", 0)  # POSIX; Windows has no FIFOs to wait on


def shown(value: str) -> str:
    """A path as a message shows it: as given, or escaped when it holds control characters."""
    return value if value.isprintable() else ascii(value)


def not_regular(value: str) -> str:
    return f"{shown(value)} is not a regular file (a pipe, socket or device)"


def local_database(value: str, what: str, header_size: int) -> tuple[Path, bytes]:
    """The resolved path ``value`` names and its first ``header_size`` bytes; raises
    ``ValueError`` unless it is an existing, readable regular file (``what`` names the
    kind of file in messages: "SQLite database file")."""
    if "\x00" in value:
        raise ValueError("the path contains a NUL character")
    try:
        path = Path(value).expanduser()
    except RuntimeError as exc:  # "~someone" whose home is unknown
        raise ValueError(f"the home folder in {shown(value)} is not known") from exc
    try:
        mode = path.stat().st_mode
    except (FileNotFoundError, NotADirectoryError):
        raise ValueError(f"no file at {shown(value)}") from None
    except OSError as exc:
        raise ValueError(f"{shown(value)} cannot be read ({exc.strerror})") from None
    if stat.S_ISDIR(mode):
        raise ValueError(f"{shown(value)} is a folder, not a {what}")
    if not stat.S_ISREG(mode):
        raise ValueError(f"{not_regular(value)}, so not a {what}")
    return path.resolve(), _read_header(path, value, what, header_size)


def _read_header(path: Path, value: str, what: str, size: int) -> bytes:
    try:
        descriptor = os.open(path, os.O_RDONLY | _NO_BLOCK)
    except OSError as exc:
        raise ValueError(f"{shown(value)} cannot be read ({exc.strerror})") from None
    try:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):  # swapped since it was looked at
            raise ValueError(f"{not_regular(value)}, so not a {what}")
        return os.read(descriptor, size)
    except OSError as exc:
        raise ValueError(f"{shown(value)} cannot be read ({exc.strerror})") from None
    finally:
        os.close(descriptor)


def is_regular_file(path: str) -> bool:
    """False when ``path`` names something other than a regular file; True when it is one,
    or is missing or unreadable (the driver's own message then says so)."""
    try:
        return stat.S_ISREG(os.stat(path).st_mode)
    except OSError:
        return True
