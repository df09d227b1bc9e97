"""``config check FILE``: read a configuration file the way ``serve --config`` would.

It reports every problem as ``FILE:LINE: sentence`` (unknown keys, wrong types, variables
and files that hold secrets but are not there, options a database kind does not have,
saved-query parameters not declared) and exits 2, or says what the file declares and
exits 0. It reads the secrets' variables and files but prints none of their values, and it
touches no data folder and no metadata store.
"""

from __future__ import annotations

from pathlib import Path

import click
from pydantic import ValidationError

from connector.cli.common import EXIT_USAGE, count_phrase, fail, say
from connector.config import settings_error
from connector.config_file import ConfigError, build_settings


@click.group()
def config() -> None:
    """Check the declarative configuration file."""


@config.command("check")
@click.argument("file", type=click.Path(dir_okay=False, path_type=Path))
def config_check(file: Path) -> None:
    """Check FILE: every problem with its line, or a summary."""
    try:
        settings, declared = build_settings({}, file)
    except ConfigError as exc:
        fail("\n".join(exc.problems), EXIT_USAGE)
    except ValidationError as exc:
        fail(settings_error(exc), EXIT_USAGE)
    store = "a shared metadata store" if settings.shared_metadata else "the local metadata file"
    say(
        f"{file}: ok: {count_phrase(len(declared.connections), 'connection')}, "
        f"{count_phrase(len(declared.saved_queries), 'saved query').replace('querys', 'queries')}, "
        f"{count_phrase(len(declared.keys), 'key')}; {store}; "
        f"serves {settings.host}:{settings.port}{settings.root_path or ''}."
    )
