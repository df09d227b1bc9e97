"""Handing this server to OpenBB Workspace: the links that open Workspace's "connect
backend" dialog filled in, and where the running server really listens.

``serve`` writes ``server.json`` (its URL and process id) into the data folder once it
knows its port, and removes it when it stops; ``data-connector openbb`` and the desktop
app read it, so ``--port auto`` is handed over as the port it chose, not the default.
The key is never part of a link: the user pastes it into Workspace's form.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from urllib.parse import urlencode

from connector.keychain import write_private_file

OPENBB_APP = "https://pro.openbb.co/app"
# The page OpenBB's docs used before the dialog could be opened by a link.
OPENBB_CONNECTORS_PAGE = "https://pro.openbb.co/app/data-connectors"
SERVER_FILE = "server.json"
DEFAULT_NAME = "Data Connector"


def connect_link(backend_url: str, name: str = DEFAULT_NAME) -> str:
    """Workspace with its "connect backend" dialog open and this backend filled in."""
    query = urlencode({"modal": "connect-backend", "name": name, "url": backend_url.rstrip("/")})
    return f"{OPENBB_APP}?{query}"


def fallback_link(backend_url: str, name: str = DEFAULT_NAME) -> str:
    """The data-connectors page, for a Workspace that does not open the dialog by link."""
    return f"{OPENBB_CONNECTORS_PAGE}?{urlencode({'name': name, 'url': backend_url.rstrip('/')})}"


def record_server(data_dir: Path, url: str) -> None:
    """Say where this process serves (called by ``serve`` once its port is chosen)."""
    body = {"url": url, "pid": os.getpid()}
    write_private_file(data_dir / SERVER_FILE, json.dumps(body).encode())


def forget_server(data_dir: Path) -> None:
    path = data_dir / SERVER_FILE
    try:
        if json.loads(path.read_text(encoding="utf-8")).get("pid") == os.getpid():
            path.unlink()
    except (OSError, ValueError, AttributeError):
        pass


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    except OSError:
        return False
    return True


def running_server(data_dir: Path) -> str | None:
    """The URL of the server running on this data folder, if one is."""
    try:
        body = json.loads((data_dir / SERVER_FILE).read_text(encoding="utf-8"))
        url, pid = str(body["url"]), int(body["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return url if _alive(pid) else None
