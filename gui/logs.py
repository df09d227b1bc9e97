"""Which of the server's output lines are request lines (uvicorn's access log).

The window polls ``/health``, ``/queries`` and ``/connections`` while the server runs, and
uvicorn logs each request, which would scroll the banner and real events out of sight: the
log pane hides these lines unless asked. Pure functions, no Qt.
"""

from __future__ import annotations

import re

# INFO:     127.0.0.1:54321 - "GET /health HTTP/1.1" 200 OK
_ACCESS_LINE = re.compile(
    r"^(?:\x1b\[[0-9;]*m)?INFO(?:\x1b\[[0-9;]*m)?:\s+"  # the level, perhaps coloured
    r'\S+ - "[A-Z]+ \S+ HTTP/[0-9.]+" \d{3}\b'
)


def is_request_line(line: str) -> bool:
    """True for one of uvicorn's access-log lines, like
    ``INFO:     127.0.0.1:54321 - "GET /health HTTP/1.1" 200 OK``."""
    return _ACCESS_LINE.match(line) is not None
