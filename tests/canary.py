"""The suite's canary secret, and where it must never turn up.

``SECRET`` is the password of every MariaDB and PostgreSQL user the tests make
(``tests.netdb``) and the Snowflake tests' password, so it is saved, tested, reused and
updated across the whole suite. ``tests/conftest.py`` watches every answer the tests
read (in-process and from live servers), every log record, everything a live server
printed and every file a test left in its temporary folders, and fails the test that let
the secret out, as written or URL-encoded, base64 or hex. The one place it may be is the
keychain's fallback file (``secrets.json``, where it is meant to be kept).
"""

from __future__ import annotations

import base64
from pathlib import Path
from urllib.parse import quote, quote_plus

# Every character that breaks a hand-pasted URL, plus spaces; distinctive enough that no
# other text holds it.
SECRET = "p@ss: w/rd%20 #x y"
# Where the secret is meant to be kept: the keychain's fallback file. Its temporary twin
# is gone once a write ends, so one left behind holding the secret is a leak too.
KEPT_IN = "secrets.json"


def _base64_forms(raw: bytes) -> set[bytes]:
    """The secret's base64 inside any longer base64 text: for each of the three
    alignments, the characters that depend on the secret's bytes alone."""
    forms = set()
    for shift in range(3):
        for encode in (base64.b64encode, base64.urlsafe_b64encode):
            encoded = encode(b"\0" * shift + raw)
            start = -(-shift * 4 // 3) + 1  # past the characters the padding touches
            forms.add(encoded[start : len(encoded) - 4])
    return forms


def forms(secret: str = SECRET) -> set[bytes]:
    raw = secret.encode()
    found = {
        raw,
        quote(secret).encode(),
        quote_plus(secret).encode(),
        quote(secret, safe="").encode(),
    }
    found |= {raw.hex().encode(), raw.hex().upper().encode()}
    found |= _base64_forms(raw)
    return {form for form in found if len(form) >= 8}


FORMS = forms()


def leaked(data: bytes | str) -> str | None:
    """Which form of the secret ``data`` holds, or None."""
    blob = data.encode(errors="surrogatepass") if isinstance(data, str) else data
    for form in FORMS:
        if form in blob:
            return form.decode()
    return None


def leaked_files(folder: Path) -> list[str]:
    """Files under ``folder`` (but the fallback keychain) that hold the secret."""
    found = []
    for path in folder.rglob("*"):
        if path.name == KEPT_IN or not path.is_file():
            continue
        try:
            data = path.read_bytes()
        except OSError:
            continue
        if leaked(data):
            found.append(str(path.relative_to(folder)))
    return found
