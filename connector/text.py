"""What the connector accepts as text and as a JSON value from a request.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``), which Python decodes into a ``str``
that no driver, file, keychain or JSON encoder can write; and a JSON value can nest deeper
than anything downstream follows. ``is_text`` tells a string that encodes as UTF-8;
``untextual`` finds the first place in a request's value that is not text or nests too
deep, as a sentence that names the field and never quotes the value.

Must not import FastAPI, the store or any driver.
"""

from __future__ import annotations

from typing import Any

# Deeper than any option, widget setting or parameter needs.
MAX_DEPTH = 16
NOT_TEXT = "is not valid UTF-8 text (it holds a lone UTF-16 surrogate)"


def is_text(value: str) -> bool:
    """False when ``value`` holds a lone surrogate, so it cannot be written as UTF-8."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def untextual(value: Any) -> str | None:
    """The sentence (without its full stop) for the first field of ``value`` that holds a
    lone surrogate or nests deeper than ``MAX_DEPTH``; None when there is none."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        where = f"The field {'.'.join(path)!r}" if path else "The body"
        if len(path) > MAX_DEPTH:
            return f"{where} nests deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if not is_text(item):
                return f"{where} {NOT_TEXT}"
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and not is_text(key):
                    return f"{where} has a name that {NOT_TEXT}"
                stack.append((inner, (*path, str(key))))
        elif isinstance(item, list | tuple):
            stack.extend((inner, (*path, str(index))) for index, inner in enumerate(item))
    return None
