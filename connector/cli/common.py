"""What every CLI command shares: the context (settings, then the runtime), exit codes,
one-line errors, plain printing and ``key=value`` parsing.

Every failure prints one plain line to stderr (database text is never read as markup) and
exits with a code that tells its kind:

    0 ok, 1 unexpected error, 2 bad usage, 3 the request was refused (bad SQL, read-only,
    bad parameter or options, name taken), 4 not found, 5 database unavailable,
    6 timed out or cancelled, 7 port taken (``connector.ports.EXIT_PORT_TAKEN``).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text

from connector.config import Settings, settings_error
from connector.config_file import ConfigError, Declarations, build_settings
from connector.errors import (
    BadRequestError,
    ConflictError,
    ConnectorError,
    DatabaseUnavailableError,
    InvalidRequestError,
    NotFoundError,
    QueryCancelledError,
    QueryTimeoutError,
)
from connector.models import Column
from connector.runtime import Runtime, open_runtime
from connector.values import csv_value

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
EXIT_STOPPED = 6

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)

F = TypeVar("F", bound=Callable[..., Any])


def exit_code(error: ConnectorError) -> int:
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, DatabaseUnavailableError):
        return EXIT_UNAVAILABLE
    if isinstance(error, QueryTimeoutError | QueryCancelledError):
        return EXIT_STOPPED
    if isinstance(error, BadRequestError | InvalidRequestError | ConflictError):
        return EXIT_REFUSED
    return EXIT_ERROR


def say(message: str) -> None:
    """One plain line to stdout: nothing in it is read as markup."""
    out.print(Text(message))


def note(message: str) -> None:
    """One plain line to stderr (counts, hints), so stdout stays data."""
    err.print(Text(message))


def warn(message: str) -> None:
    err.print(Text.assemble(("warning: ", "bold yellow"), message))


def fail(message: str, code: int) -> NoReturn:
    for line in message.splitlines() or [""]:
        err.print(Text.assemble(("error: ", "bold red"), line))
    sys.exit(code)


class Context:
    """What every subcommand shares: the settings, and the runtime once opened."""

    def __init__(self, overrides: dict[str, Any] | None = None) -> None:
        self.overrides: dict[str, Any] = dict(overrides or {})
        self.declared = Declarations()
        self._runtime: Runtime | None = None

    def config_path(self) -> Path | None:
        """The configuration file: ``--config``, else ``CONNECTOR_CONFIG``, else none."""
        given = self.overrides.get("config") or os.environ.get("CONNECTOR_CONFIG")
        return Path(given) if given else None

    def settings(self, **more: Any) -> Settings:
        """Flags, then ``CONNECTOR_*`` variables, then the configuration file; a problem in
        any of them is one line each and exit code 2."""
        overrides = {k: v for k, v in {**self.overrides, **more}.items() if k != "config"}
        try:
            settings, self.declared = build_settings(overrides, self.config_path())
        except ConfigError as exc:
            fail("\n".join(exc.problems), EXIT_USAGE)
        except ValidationError as exc:
            fail(settings_error(exc), EXIT_USAGE)
        return settings

    def runtime(self) -> Runtime:
        if self._runtime is None:
            settings = self.settings()
            with reported():
                self._runtime = open_runtime(settings, self.declared)
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


pass_context = click.make_pass_decorator(Context)


def _context_path_option(
    command: F, flag: str, key: str, path_type: click.Path, help_text: str
) -> F:
    """An eager ``flag`` that stores its path in the context's overrides under ``key``,
    so it is accepted after a command as well as before it."""

    def remember(ctx: click.Context, _param: click.Parameter, value: Path | None) -> None:
        if value is not None:
            ctx.ensure_object(Context).overrides[key] = value

    decorator = click.option(
        flag,
        type=path_type,
        expose_value=False,
        callback=remember,
        is_eager=True,
        help=help_text,
    )
    return decorator(command)


def data_dir_option(command: F) -> F:
    """``--data-dir``, accepted after a command as well as before it."""
    return _context_path_option(
        command,
        "--data-dir",
        "data_dir",
        click.Path(file_okay=False, path_type=Path),
        "Where connections, history and the API key live.",
    )


def config_option(command: F) -> F:
    """``--config FILE``, accepted after a command as well as before it."""
    return _context_path_option(
        command,
        "--config",
        "config",
        click.Path(dir_okay=False, path_type=Path),
        "The TOML configuration file (also CONNECTOR_CONFIG).",
    )


@contextmanager
def reported() -> Iterator[None]:
    """Turn our errors into one line and an exit code (a configuration problem: 2)."""
    try:
        yield
    except ConnectorError as error:
        fail(error.detail, exit_code(error))
    except ConfigError as exc:
        fail("\n".join(exc.problems), EXIT_USAGE)


def parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, str]:
    """``key=value`` words as a dict of text; a malformed one is a usage error."""
    values: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            fail(f"{what} {pair!r} must look like key=value", EXIT_USAGE)
        values[key.strip()] = value
    return values


def typed_value(value: str) -> Any:
    """A query parameter typed from its text: whole numbers and true/false, else text."""
    if value.lstrip("-").isdigit() and len(value.lstrip("-")) < 19:
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


def rows_table(columns: list[Column], rows: list[tuple[Any, ...]]) -> Table:
    """Rows as a table: every cell plain text, numbers right-aligned."""
    numeric = {"integer", "decimal", "float"}
    table = Table(show_lines=False)
    for column in columns:
        table.add_column(Text(column.name), justify="right" if column.type in numeric else "left")
    for row in rows:
        table.add_row(*(Text("NULL" if v is None else str(csv_value(v))) for v in row))
    return table


def count_phrase(count: int, thing: str = "row") -> str:
    return f"{count:,} {thing}" + ("" if count == 1 else "s")
