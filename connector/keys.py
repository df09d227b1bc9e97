"""API keys: the one key file of a laptop, and the form of every key.

The key file is made at first start, kept in the data folder (0600), shown and rotated;
the desktop app reads it through :func:`read_api_key` too, so the file's name and format
live here only. Its holder is recorded in history as the caller ``FILE_KEY_CALLER``. A
team's named keys (``connector.named_keys``) are kept only as ``hash_api_key`` digests.
Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import hashlib
import secrets
from pathlib import Path

from connector.keychain import write_private_file

API_KEY_FILE = "api_key"
FILE_KEY_CALLER = "api_key"


def hash_api_key(key: str) -> str:
    """The digest a named key is kept and looked up by. Keys are 256 random bits, so a
    plain SHA-256 (no salt, no stretching) cannot be reversed and can be looked up."""
    return hashlib.sha256(key.strip().encode()).hexdigest()


def new_api_key() -> str:
    return "dc_" + secrets.token_urlsafe(32)


def read_api_key(data_dir: Path) -> str | None:
    """The API key kept in ``data_dir``, or None when there is none yet (never makes one)."""
    try:
        return (data_dir / API_KEY_FILE).read_text(encoding="utf-8").strip() or None
    except FileNotFoundError:
        return None


def load_api_key(data_dir: Path) -> tuple[str, bool]:
    """The API key kept in ``data_dir``, made on first use; True when just made."""
    key = read_api_key(data_dir)
    if key:
        return key, False
    key = new_api_key()
    write_private_file(data_dir / API_KEY_FILE, key.encode())
    return key, True


def rotate_api_key(data_dir: Path) -> str:
    key = new_api_key()
    write_private_file(data_dir / API_KEY_FILE, key.encode())
    return key
