"""The API key: made at first start, kept in the data folder (0600), shown and rotated.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import secrets
from pathlib import Path

from connector.keychain import write_private_file

API_KEY_FILE = "api_key"


def new_api_key() -> str:
    return "dc_" + secrets.token_urlsafe(32)


def load_api_key(data_dir: Path) -> tuple[str, bool]:
    """The API key kept in ``data_dir``, made on first use; True when just made."""
    path = data_dir / API_KEY_FILE
    try:
        key = path.read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        key = ""
    if key:
        return key, False
    key = new_api_key()
    write_private_file(path, key.encode())
    return key, True


def rotate_api_key(data_dir: Path) -> str:
    key = new_api_key()
    write_private_file(data_dir / API_KEY_FILE, key.encode())
    return key
