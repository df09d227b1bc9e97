"""Logging: the one place the server's log lines get their format and their destination.

``log_config(settings)`` is a ``logging.config.dictConfig`` dictionary for the connector's
own loggers and uvicorn's (``uvicorn.error``, ``uvicorn.access``), so every line goes
through the same format: ``text`` (uvicorn's usual lines; the desktop app reads them) or
``json``, one object a line with ``time``, ``level``, ``logger``, ``message``, ``pid`` and, for
request and query lines, their fields (``query_id``, ``connection``, ``duration_ms``,
``rows``, ``outcome``; ``client``, ``method``, ``path``, ``status``). Lines go to stderr
and, with ``log_file``, to a file rotated at ``log_file_max_bytes`` keeping
``log_file_backups`` old files. ``serve`` hands the dictionary to uvicorn, which applies it
in the supervisor and in each ``--workers`` process; those processes share the file, so
rotation takes a lock and a process whose file was rotated by another reopens it.

Query strings never reach a log line: a widget GET's query string holds its parameter
values. Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import contextlib
import logging
import logging.config
import logging.handlers
import os
from datetime import UTC, datetime
from typing import Any

import orjson

from connector.config import Settings

try:  # POSIX; on Windows one process writes the file and needs no lock
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

# The structured fields a line may carry (``log.info(..., extra={...})``), in this order.
FIELDS = (
    "query_id",
    "connection",
    "duration_ms",
    "rows",
    "outcome",
    "caller",
    "client",
    "method",
    "path",
    "status",
)
TEXT_FORMAT = "%(levelname)s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object a line; uvicorn's access lines become their fields."""

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "pid": record.process,
        }
        if record.name == "uvicorn.access" and isinstance(record.args, tuple):
            line.update(_access_fields(record.args))
        for name in FIELDS:
            value = record.__dict__.get(name)
            if value is not None:
                line[name] = value
        if record.exc_info and record.exc_info[0] is not None:
            line["error"] = record.exc_info[0].__name__
            line["traceback"] = self.formatException(record.exc_info)
        return orjson.dumps(line, default=str).decode()


def _access_fields(args: tuple[Any, ...]) -> dict[str, Any]:
    """uvicorn's access line arguments: client, method, path, HTTP version, status."""
    if len(args) != 5:
        return {}
    client, method, path, _, status = args
    return {"client": client, "method": method, "path": path, "status": status}


class DropQueryString(logging.Filter):
    """Cut the query string off uvicorn's access lines (it holds widget parameter values)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if (
            record.name == "uvicorn.access"
            and isinstance(record.args, tuple)
            and len(record.args) == 5
        ):
            args = list(record.args)
            args[2] = str(args[2]).split("?", 1)[0]
            record.args = tuple(args)
        return True


class RotatingLogFile(logging.handlers.RotatingFileHandler):
    """A ``RotatingFileHandler`` that several processes may share: each write and rotation
    holds an ``flock`` on ``PATH.lock``, and a process whose file another one rotated away
    reopens the file at ``PATH`` before writing."""

    def __init__(self, filename: str, maxBytes: int = 0, backupCount: int = 0) -> None:
        super().__init__(filename, maxBytes=maxBytes, backupCount=backupCount, encoding="utf-8")
        self._lock_fd = os.open(f"{self.baseFilename}.lock", os.O_CREAT | os.O_RDWR, 0o600)

    def emit(self, record: logging.LogRecord) -> None:
        if fcntl is None:
            super().emit(record)
            return
        fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
        try:
            self._follow()
            super().emit(record)
        finally:
            fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _follow(self) -> None:
        if self.stream is None:
            return
        try:
            moved = os.stat(self.baseFilename).st_ino != os.fstat(self.stream.fileno()).st_ino
        except FileNotFoundError:
            moved = True
        if moved:
            self.stream.close()
            self.stream = self._open()

    def close(self) -> None:
        super().close()
        with contextlib.suppress(OSError):
            os.close(self._lock_fd)


def log_config(settings: Settings) -> dict[str, Any]:
    """The ``dictConfig`` for ``settings``: format, level, stderr and the optional file."""
    json_lines = settings.log_format == "json"
    level = settings.log_level.upper()
    formatters: dict[str, Any] = {
        "default": {"()": "uvicorn.logging.DefaultFormatter", "fmt": "%(levelprefix)s %(message)s"},
        "access": {
            "()": "uvicorn.logging.AccessFormatter",
            "fmt": '%(levelprefix)s %(client_addr)s - "%(request_line)s" %(status_code)s',
        },
        "plain": {"format": TEXT_FORMAT},
        "file": {"format": "%(asctime)s " + TEXT_FORMAT},
        "json": {"()": "connector.logs.JsonFormatter"},
    }
    if json_lines:
        chosen = {"default": "json", "access": "json", "plain": "json", "file": "json"}
    else:
        chosen = {"default": "default", "access": "access", "plain": "plain", "file": "file"}
    handlers: dict[str, Any] = {
        "uvicorn": {
            "class": "logging.StreamHandler",
            "formatter": chosen["default"],
            "stream": "ext://sys.stderr",
        },
        "access": {
            "class": "logging.StreamHandler",
            "formatter": chosen["access"],
            "stream": "ext://sys.stdout",
            "filters": ["no_query"],
        },
        "connector": {
            "class": "logging.StreamHandler",
            "formatter": chosen["plain"],
            "stream": "ext://sys.stderr",
        },
    }
    to_file: list[str] = []
    if settings.log_file is not None:
        handlers["file"] = {
            "()": "connector.logs.RotatingLogFile",
            "filename": str(settings.log_file),
            "maxBytes": settings.log_file_max_bytes,
            "backupCount": settings.log_file_backups,
            "formatter": chosen["file"],
            "filters": ["no_query"],
        }
        to_file = ["file"]
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"no_query": {"()": "connector.logs.DropQueryString"}},
        "formatters": formatters,
        "handlers": handlers,
        "loggers": {
            "alembic": {"level": "WARNING"},  # a line per migration step at every start
            "uvicorn": {"handlers": ["uvicorn", *to_file], "level": level, "propagate": False},
            "uvicorn.error": {"level": level},
            "uvicorn.access": {
                "handlers": ["access", *to_file],
                "level": level,
                "propagate": False,
            },
        },
        "root": {"handlers": ["connector", *to_file], "level": level},
    }


def configure_logging(settings: Settings) -> None:
    """Apply ``log_config(settings)`` in this process (the file's folder made first).

    Raises ``OSError`` when the log file cannot be opened for writing."""
    if settings.log_file is not None:
        settings.log_file.parent.mkdir(parents=True, exist_ok=True)
        with settings.log_file.open("a", encoding="utf-8"):
            pass
    logging.config.dictConfig(log_config(settings))
