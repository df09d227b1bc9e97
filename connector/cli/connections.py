"""``connections add | edit | list | test | remove``; the options of ``add`` are each kind's own,
read from the backend's self-description (the same one ``GET /kinds`` serves)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from connector.backends import describe_kinds, kinds
from connector.cli.common import (
    EXIT_USAGE,
    Context,
    data_dir_option,
    fail,
    out,
    parse_pairs,
    pass_context,
    reported,
    say,
)
from connector.models import ConnectionInput, KindInfo, OptionInfo

TRUE_WORDS = {"true", "yes", "1", "on"}
FALSE_WORDS = {"false", "no", "0", "off"}


def _kind_info(kind: str) -> KindInfo:
    for info in describe_kinds():
        if info.kind == kind:
            return info
    fail(f"unknown kind {kind!r}; use one of {', '.join(kinds())}", EXIT_USAGE)


def option_value(kind: str, option: OptionInfo, text: str) -> Any:
    """``text`` given on the command line as the option's declared type."""
    where = f"--option {option.name} (for {kind})"
    if option.type == "integer":
        try:
            return int(text)
        except ValueError:
            fail(f"{where} must be a whole number, not {text!r}", EXIT_USAGE)
    if option.type == "number":
        try:
            return float(text)
        except ValueError:
            fail(f"{where} must be a number, not {text!r}", EXIT_USAGE)
    if option.type == "boolean":
        word = text.strip().lower()
        if word in TRUE_WORDS | FALSE_WORDS:
            return word in TRUE_WORDS
        fail(f"{where} must be true or false, not {text!r}", EXIT_USAGE)
    if option.type == "object":
        try:
            value = json.loads(text)
        except json.JSONDecodeError:
            value = None
        if not isinstance(value, dict):
            fail(f'{where} must be a JSON object such as {{}} or {{"ca": "ca.pem"}}', EXIT_USAGE)
        return value
    if option.choices and text not in option.choices:
        fail(f"{where} must be one of {', '.join(map(str, option.choices))}", EXIT_USAGE)
    return text


def typed_options(info: KindInfo, pairs: tuple[str, ...]) -> dict[str, Any]:
    """``-o key=value`` words checked against the kind's options and typed by them."""
    known = {option.name: option for option in info.options if not option.secret}
    values: dict[str, Any] = {}
    for key, text in parse_pairs(pairs, "--option").items():
        if key == "secret" or key in ("password", "private_key"):
            fail(
                "give the secret with --password, --secret-stdin or --secret-file, "
                "never on the command line",
                EXIT_USAGE,
            )
        option = known.get(key)
        if option is None:
            fail(
                f"{info.kind} has no option {key!r}; its options are {', '.join(known)}",
                EXIT_USAGE,
            )
        values[key] = option_value(info.kind, option, text)
    return values


def kinds_help() -> list[tuple[str, str]]:
    """Each kind's options as help rows: ``(name, what it is)``."""
    rows: list[tuple[str, str]] = []
    for info in describe_kinds():
        if not info.available:
            rows.append((info.kind, f"not installed here: {info.install}"))
            continue
        for option in info.options:
            if option.secret:
                continue
            facts: list[str] = [option.type]
            if option.required:
                facts.append("required")
            if option.default is not None:
                facts.append(f"default {option.default}")
            if option.choices:
                facts.append("one of " + "|".join(map(str, option.choices)))
            rows.append((f"{info.kind} {option.name}", f"{option.help} ({', '.join(facts)})"))
    return rows


class KindOptionsCommand(click.Command):
    """A command whose help ends with every kind's options, read when help is shown."""

    def format_epilog(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        with formatter.section("Options by kind (-o name=value)"):
            formatter.write_dl(kinds_help())


@click.group()
def connections() -> None:
    """Add, list, test and remove connections."""


@connections.command("list")
@data_dir_option
@pass_context
def connections_list(context: Context) -> None:
    """List the saved connections."""
    table = Table("name", "kind", "read only", "options")
    for spec in context.runtime().connector.list_connections():
        options = ", ".join(f"{k}={v}" for k, v in spec.options.items())
        table.add_row(Text(spec.name), spec.kind, "yes" if spec.read_only else "no", Text(options))
    out.print(table)


def _secret(secret_stdin: bool, secret_file: Path | None, password: bool) -> str | None:
    if secret_file is not None:
        return secret_file.read_text(encoding="utf-8")
    if secret_stdin:
        return sys.stdin.read().rstrip("\n")
    if password:
        value: str = click.prompt("Password", hide_input=True)
        return value
    return None


@connections.command("add", cls=KindOptionsCommand)
@click.argument("name")
@click.option("--kind", type=click.Choice(kinds()), required=True)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    help="An option of the kind, name=value (repeatable); listed below.",
)
@click.option("--password", is_flag=True, help="Ask for the password without echoing it.")
@click.option(
    "--secret-stdin",
    is_flag=True,
    help="Read the secret (password or PEM key) from standard input.",
)
@click.option(
    "--secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read the secret from a file.",
)
@click.option(
    "--read-write", is_flag=True, help="Allow writes (connections are read-only by default)."
)
@click.option("--no-test", is_flag=True, help="Save without connecting first.")
@data_dir_option
@pass_context
def connections_add(
    context: Context,
    name: str,
    kind: str,
    options: tuple[str, ...],
    password: bool,
    secret_stdin: bool,
    secret_file: Path | None,
    read_write: bool,
    no_test: bool,
) -> None:
    """Save a connection (tested first unless --no-test)."""
    info = _kind_info(kind)
    if not info.available:
        fail(f"the {kind} driver is not installed; install it with: {info.install}", EXIT_USAGE)
    values = typed_options(info, options)
    try:
        payload = ConnectionInput(
            name=name,
            kind=kind,
            options=values,
            read_only=not read_write,
            secret=_secret(secret_stdin, secret_file, password),
        )
    except ValueError:
        fail(
            f"{name!r} is not a connection name: use 1-64 letters, digits, '_', '-' or '.', "
            "starting with a letter or digit",
            EXIT_USAGE,
        )
    with reported():
        spec = context.runtime().connector.create_connection(payload, test=not no_test)
    access = "read-only" if spec.read_only else "read-write"
    say(f"Saved connection {spec.name!r} ({spec.kind}, {access}).")


@connections.command("edit", cls=KindOptionsCommand)
@click.argument("name")
@click.option(
    "-o", "--option", "options", multiple=True, help="An option to set, name=value (repeatable)."
)
@click.option("--unset", multiple=True, help="An option to remove (back to its default).")
@click.option("--password", is_flag=True, help="Ask for a new password without echoing it.")
@click.option("--secret-stdin", is_flag=True, help="Read a new secret from standard input.")
@click.option(
    "--secret-file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Read a new secret from a file.",
)
@click.option("--read-write/--read-only", "read_write", default=None, help="Change the access.")
@click.option("--no-test", is_flag=True, help="Save without connecting first.")
@data_dir_option
@pass_context
def connections_edit(
    context: Context,
    name: str,
    options: tuple[str, ...],
    unset: tuple[str, ...],
    password: bool,
    secret_stdin: bool,
    secret_file: Path | None,
    read_write: bool | None,
    no_test: bool,
) -> None:
    """Change a saved connection's options, secret or access (tested first unless --no-test).

    A stored secret is only reused where it was saved for: changing where the connection
    points (host, port, user...) needs the secret again."""
    with reported():
        connector = context.runtime().connector
        spec = connector.get_connection(name)
    info = _kind_info(spec.kind)
    merged = {key: value for key, value in spec.options.items() if key not in unset}
    merged.update(typed_options(info, options))
    payload = ConnectionInput(
        name=name,
        kind=spec.kind,
        options=merged,
        read_only=spec.read_only if read_write is None else not read_write,
        secret=_secret(secret_stdin, secret_file, password),
    )
    with reported():
        updated = connector.update_connection(name, payload, test=not no_test)
    access = "read-only" if updated.read_only else "read-write"
    say(f"Updated connection {updated.name!r} ({updated.kind}, {access}).")


@connections.command("test")
@click.argument("name")
@data_dir_option
@pass_context
def connections_test(context: Context, name: str) -> None:
    """Connect with a saved connection and report latency and server version."""
    with reported():
        connector = context.runtime().connector
        spec = connector.get_connection(name)
        probe = connector.test_connection(
            ConnectionInput(
                name=name, kind=spec.kind, options=spec.options, read_only=spec.read_only
            )
        )
    say(f"ok: {probe.server_version}, {probe.latency_ms:.1f} ms")


@connections.command("remove")
@click.argument("name")
@data_dir_option
@pass_context
def connections_remove(context: Context, name: str) -> None:
    """Remove a connection and forget its secret."""
    with reported():
        context.runtime().connector.remove_connection(name)
    say(f"Removed connection {name!r}.")
