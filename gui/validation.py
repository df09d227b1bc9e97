"""Checks on what the user types, before anything is sent: ports and SQLite paths.

Pure functions returning a human sentence on failure. No Qt, no server imports.
"""

from __future__ import annotations

from pathlib import Path

LOWEST_PORT = 1024
HIGHEST_PORT = 65535


class InputError(ValueError):
    """A value typed in the window that cannot be used; the message says why."""


def parse_port(text: str) -> int:
    """The port number in ``text``, or an :class:`InputError` saying what is wrong."""
    value = text.strip()
    if not value:
        raise InputError("Enter a port number, or press Recommend Port.")
    if not value.isdigit():
        raise InputError(f"{value!r} is not a port number: use digits only, like 7800.")
    port = int(value)
    if port < LOWEST_PORT:
        raise InputError(
            f"Port {port} is reserved for system services: choose {LOWEST_PORT} to {HIGHEST_PORT}."
        )
    if port > HIGHEST_PORT:
        raise InputError(f"Port {port} does not exist: the highest port is {HIGHEST_PORT}.")
    return port


def check_sqlite_path(text: str) -> str:
    """The SQLite file path in ``text``, or an :class:`InputError` saying what is wrong."""
    value = text.strip()
    if not value:
        raise InputError("Choose the SQLite database file.")
    path = Path(value).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder: choose the database file inside it.")
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    return str(path)
