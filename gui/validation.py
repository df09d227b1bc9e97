"""Checks on what the user types, before anything is sent: ports, files, folders, numbers.

Pure functions returning a human sentence on failure. No Qt, no server imports.
"""

from __future__ import annotations

import re
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


def check_file(text: str) -> str:
    """The path of an existing file in ``text``, or an :class:`InputError` saying what is
    wrong (an option whose ``format`` is ``path``)."""
    path = Path(text.strip()).expanduser()
    if path.is_dir():
        raise InputError(f"{path} is a folder: choose the file inside it.")
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    return str(path)


def check_folder(text: str) -> str:
    """The path of an existing folder in ``text`` (an option whose ``format`` is ``folder``)."""
    path = Path(text.strip()).expanduser()
    if not path.exists():
        raise InputError(f"{path} does not exist.")
    if not path.is_dir():
        raise InputError(f"{path} is a file, not a folder.")
    return str(path)


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def check_number(
    text: str, *, whole: bool, minimum: float | None = None, maximum: float | None = None
) -> int | float:
    """The number in ``text`` (a whole one when ``whole``) within the given bounds, or an
    :class:`InputError` saying what is wrong."""
    value = text.strip()
    if minimum is not None and maximum is not None:
        allowed = f"from {_bound(minimum)} to {_bound(maximum)}"
    elif minimum is not None:
        allowed = f"of at least {_bound(minimum)}"
    elif maximum is not None:
        allowed = f"of at most {_bound(maximum)}"
    else:
        allowed = ""
    what = ("a whole number" if whole else "a number") + (f" {allowed}" if allowed else "")
    number: int | float
    if whole and re.fullmatch(r"[+-]?\d{1,18}", value):
        number = int(value)
    elif not whole and re.fullmatch(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?", value):
        number = float(value)
    else:
        raise InputError(f"{value!r} is not {what}.")
    if (minimum is not None and number < minimum) or (maximum is not None and number > maximum):
        raise InputError(f"{value} is out of range: use {what}.")
    return number
