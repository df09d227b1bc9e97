"""What a request's values may hold, so that every one can be stored, bound and sent.

JSON can spell a lone UTF-16 surrogate (``"\\ud800"``), which Python decodes into a ``str``
that no driver, file, keychain or JSON encoder can write; a whole number of any size,
which the store's JSON encoder cannot write past 64 bits; and a value nested deeper than
anything downstream follows. ``is_text`` tells a string that encodes as UTF-8; ``unfit``
finds the first place in a request's value that breaks one of these rules, as a sentence
that names the field and never quotes the value.

Must not import FastAPI, the store or any driver.
"""

from __future__ import annotations

from typing import Any

# Deeper than any option, widget setting or parameter needs.
MAX_DEPTH = 16
NOT_TEXT = "is not valid UTF-8 text (it holds a lone UTF-16 surrogate)"
_INT64 = range(-(2**63), 2**63)


def is_text(value: str) -> bool:
    """False when ``value`` holds a lone surrogate, so it cannot be written as UTF-8."""
    if value.isascii():
        return True
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def unfit(value: Any) -> str | None:
    """The sentence (without its full stop) for the first field of ``value`` that holds a
    lone surrogate or a whole number past 64 bits, or nests deeper than ``MAX_DEPTH``;
    None when there is none."""
    stack: list[tuple[Any, tuple[str, ...]]] = [(value, ())]
    while stack:
        item, path = stack.pop()
        where = f"The field {'.'.join(path)!r}" if path else "The body"
        if len(path) > MAX_DEPTH:
            return f"{where} nests deeper than {MAX_DEPTH} levels"
        if isinstance(item, str):
            if not is_text(item):
                return f"{where} {NOT_TEXT}"
        elif isinstance(item, int) and not isinstance(item, bool) and item not in _INT64:
            return f"{where} holds a whole number past 64 bits, which cannot be kept"
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and not is_text(key):
                    return f"{where} has a name that {NOT_TEXT}"
                stack.append((inner, (*path, str(key))))
        elif isinstance(item, list | tuple):
            stack.extend((inner, (*path, str(index))) for index, inner in enumerate(item))
    return None
