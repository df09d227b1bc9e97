"""The headless command line: ``data-connector serve | recommend-port | query | export |
connections | saved | openbb | key`` (``saved`` and ``openbb`` live in ``connector.cli_openbb``).

Commands other than ``serve`` work in-process on the same data folder as the server, so
they need no running server. Every failure prints one line to stderr and exits with a
code that tells its kind:

    0 ok, 1 unexpected error, 2 bad usage, 3 the request was refused (bad SQL, read-only,
    bad parameter or options, name taken), 4 not found, 5 database unavailable,
    6 timed out or cancelled, 7 port taken.
"""

from __future__ import annotations

import logging
import os
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.table import Table

from connector import __version__
from connector.config import DEFAULT_PORT, Settings
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
from connector.export import ExportFormat, encode
from connector.memory import tune_allocator
from connector.models import ConnectionInput, QueryRequest
from connector.ports import is_port_free, recommend_port
from connector.runtime import Runtime, open_runtime
from connector.values import csv_value, dumps

EXIT_ERROR = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
EXIT_NOT_FOUND = 4
EXIT_UNAVAILABLE = 5
EXIT_STOPPED = 6
EXIT_PORT_TAKEN = 7

out = Console(highlight=False, soft_wrap=True)
err = Console(stderr=True, highlight=False, soft_wrap=True)


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


def fail(message: str, code: int) -> NoReturn:
    err.print(f"[bold red]error:[/] {message}", markup=True, highlight=False)
    sys.exit(code)


class Context:
    """What every subcommand shares: the settings, and the runtime once opened."""

    def __init__(self, overrides: dict[str, Any]) -> None:
        self.overrides = overrides
        self._runtime: Runtime | None = None

    def settings(self, **more: Any) -> Settings:
        try:
            return Settings(**{**self.overrides, **more})
        except ValueError as exc:
            fail(f"invalid setting: {str(exc).splitlines()[0]}", EXIT_USAGE)

    def runtime(self) -> Runtime:
        if self._runtime is None:
            self._runtime = open_runtime(self.settings())
        return self._runtime

    def close(self) -> None:
        if self._runtime is not None:
            self._runtime.close()


@contextmanager
def reported() -> Iterator[None]:
    """Turn our errors into one line and an exit code."""
    try:
        yield
    except ConnectorError as error:
        fail(error.detail, exit_code(error))


def _parse_pairs(pairs: tuple[str, ...], what: str) -> dict[str, Any]:
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            fail(f"{what} {pair!r} must look like key=value", EXIT_USAGE)
        values[key.strip()] = _typed(value)
    return values


def _typed(value: str) -> Any:
    if value.lstrip("-").isdigit() and len(value.lstrip("-")) < 19:
        return int(value)
    if value.lower() in ("true", "false"):
        return value.lower() == "true"
    return value


pass_context = click.make_pass_decorator(Context)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="data-connector")
@click.option(
    "--data-dir",
    type=click.Path(file_okay=False, path_type=Path),
    envvar="CONNECTOR_DATA_DIR",
    help="Where connections, history and the API key live.",
)
@click.pass_context
def main(ctx: click.Context, data_dir: Path | None) -> None:
    """Data Connector: run SQL against your own databases from OpenBB and from scripts."""
    overrides: dict[str, Any] = {}
    if data_dir is not None:
        overrides["data_dir"] = data_dir
    context = Context(overrides)
    ctx.obj = context
    ctx.call_on_close(context.close)


# serve ---------------------------------------------------------------------------------


@main.command()
@click.option("--host", default=None, help="Address to bind (default 127.0.0.1).")
@click.option(
    "--port", default=None, help=f"Port number, or 'auto' for a free one (default {DEFAULT_PORT})."
)
@click.option("--no-auth", is_flag=True, help="Turn the API key off (prints a warning).")
@click.option("--no-sample", is_flag=True, help="Do not make or register the sample database.")
@click.option("--tls", is_flag=True, help="Serve HTTPS with a locally made certificate.")
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default=None,
    help="How much the server logs.",
)
@pass_context
def serve(
    context: Context,
    host: str | None,
    port: str | None,
    no_auth: bool,
    no_sample: bool,
    log_level: str | None,
    tls: bool = False,
) -> None:
    """Start the HTTP server."""
    import uvicorn

    from connector.app import create_app

    more: dict[str, Any] = {}
    if host:
        more["host"] = host
    if no_auth:
        more["auth"] = False
    if no_sample:
        more["sample"] = False
    if log_level:
        more["log_level"] = log_level
    if port is not None and port != "auto":
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            fail(f"--port must be a number from 1 to 65535 or 'auto', not {port!r}", EXIT_USAGE)
        more["port"] = int(port)
    settings = context.settings(**more)
    bind_port = settings.port
    if port == "auto":
        bind_port = recommend_port(settings.port, settings.host)
    elif not is_port_free(bind_port, settings.host):
        suggestion = recommend_port(bind_port + 1, settings.host)
        fail(
            f"port {bind_port} is taken; port {suggestion} is free: "
            f"data-connector serve --port {suggestion}",
            EXIT_PORT_TAKEN,
        )
    logging.basicConfig(
        level=settings.log_level.upper(), format="%(levelname)s %(name)s: %(message)s"
    )
    tune_allocator()
    with reported():
        runtime = open_runtime(settings, sample_in_background=True)
    ssl: dict[str, Any] = {}
    if tls:
        from connector.tls import ensure_tls, trust_instructions

        files = ensure_tls(settings.data_dir)
        ssl = {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}
        out.print(trust_instructions(files.ca_cert), markup=False)
    _print_banner(runtime, settings.host, bind_port, "https" if tls else "http")
    app = create_app(runtime)
    uvicorn.run(
        app,
        **ssl,
        host=settings.host,
        port=bind_port,
        log_level=settings.log_level,
        server_header=False,
        timeout_graceful_shutdown=5,
    )


def _print_banner(runtime: Runtime, host: str, port: int, scheme: str = "http") -> None:
    shown = f"[{host}]" if ":" in host else host
    url = f"{scheme}://{'localhost' if host in ('127.0.0.1', '::1') else shown}:{port}"
    for note in runtime.notes:
        out.print(note)
    if runtime.sample_pending:
        out.print("Making the sample database; it appears as the connection 'sample' in a moment.")
    out.print(
        f"Data Connector {__version__} at [bold]{url}[/]  (data folder: {runtime.settings.data_dir})"
    )
    if runtime.api_key is None:
        err.print(
            "[bold yellow]warning:[/] the API key is OFF: anyone who can reach this port can query your databases."
        )
    elif runtime.new_key:
        out.print(
            f"Your API key (shown once; 'data-connector key show' prints it again): [bold]{runtime.api_key}[/]"
        )
        out.print("Send it as the header  X-API-KEY: <key>  (or Authorization: Bearer <key>).")
    else:
        out.print(
            "Authenticate with the header X-API-KEY: <key>; 'data-connector key show' prints the key."
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        err.print(f"[bold yellow]warning:[/] listening on {host}, not only this machine.")
    out.print("Press Ctrl-C to stop.")


@main.command("recommend-port")
@click.option("--start", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def recommend_port_command(start: int, host: str) -> None:
    """Print a port that is free right now."""
    click.echo(recommend_port(start, host))


# query and export ----------------------------------------------------------------------


def _request(
    sql: str, params: tuple[str, ...], limit: int | None, timeout: float | None
) -> QueryRequest:
    try:
        return QueryRequest(
            sql=sql, params=_parse_pairs(params, "--param"), limit=limit, timeout_s=timeout
        )
    except ValueError as exc:
        fail(f"invalid query: {str(exc).splitlines()[0]}", EXIT_USAGE)


@main.command()
@click.option("-c", "--connection", required=True, help="The connection's name.")
@click.argument("sql")
@click.option(
    "-p", "--param", "params", multiple=True, help="A parameter, name=value (repeatable)."
)
@click.option(
    "--limit", type=click.IntRange(1), default=None, help="Row cap (default from settings)."
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0.001),
    default=None,
    help="Seconds before the database stops it.",
)
@click.option(
    "-f", "--format", "fmt", type=click.Choice(["table", "json", "csv", "ndjson"]), default="table"
)
@pass_context
def query(
    context: Context,
    connection: str,
    sql: str,
    params: tuple[str, ...],
    limit: int | None,
    timeout: float | None,
    fmt: str,
) -> None:
    """Run SQL on a connection and print the rows."""
    request = _request(sql, params, limit, timeout)
    with reported():
        result = context.runtime().connector.run(connection, request, client="cli")
    if fmt == "table":
        table = Table(*(column.name for column in result.columns), show_lines=False)
        for row in result.rows:
            table.add_row(*("NULL" if v is None else str(csv_value(v)) for v in row))
        out.print(table)
        more = " (truncated: more rows exist)" if result.truncated else ""
        err.print(f"{len(result.rows)} rows in {result.elapsed_ms:.1f} ms{more}")
        return
    if fmt == "json":
        from connector.api.queries import result_body

        sys.stdout.buffer.write(dumps(result_body(result, "records")) + b"\n")
        return
    for chunk in encode(fmt, result.columns, [result.rows]):  # type: ignore[arg-type]
        sys.stdout.buffer.write(chunk)


@main.command()
@click.option("-c", "--connection", required=True, help="The connection's name.")
@click.argument("sql")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "-p", "--param", "params", multiple=True, help="A parameter, name=value (repeatable)."
)
@click.option("-f", "--format", "fmt", type=click.Choice(["csv", "ndjson", "json"]), default=None,
              help="Default: from the file's extension, else csv.")  # fmt: skip
@click.option("--timeout", type=click.FloatRange(min=0.001), default=None)
@pass_context
def export(
    context: Context,
    connection: str,
    sql: str,
    output: Path,
    params: tuple[str, ...],
    fmt: str | None,
    timeout: float | None,
) -> None:
    """Stream every row of a query to a file, with progress."""
    suffix = output.suffix.lstrip(".").lower()
    chosen: ExportFormat = fmt or (suffix if suffix in ("csv", "ndjson", "json") else "csv")  # type: ignore[assignment]
    request = _request(sql, params, None, timeout)
    temp = output.with_name(f".{output.name}.part")
    with reported():
        stream = context.runtime().connector.open_stream(connection, request, client="cli")
        started = time.perf_counter()
        try:
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                console=err, transient=True,
            ) as progress, temp.open("wb") as handle:  # fmt: skip
                task = progress.add_task("0 rows", total=None)
                counted = _counting(
                    stream.batches(), lambda n: progress.update(task, description=f"{n:,} rows")
                )
                for chunk in encode(chosen, stream.columns, counted):
                    handle.write(chunk)
            os.replace(temp, output)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            stream.close()
    seconds = time.perf_counter() - started
    err.print(f"wrote {stream.stream.row_count:,} rows to {output} in {seconds:.1f} s")


def _counting(batches: Iterator[list[Any]], report: Callable[[int], None]) -> Iterator[list[Any]]:
    total = 0
    for batch in batches:
        total += len(batch)
        report(total)
        yield batch


# connections ---------------------------------------------------------------------------


@main.group()
def connections() -> None:
    """Add, list, test and remove connections."""


@connections.command("list")
@pass_context
def connections_list(context: Context) -> None:
    """List the saved connections."""
    table = Table("name", "kind", "read only", "options")
    for spec in context.runtime().connector.list_connections():
        options = ", ".join(f"{k}={v}" for k, v in spec.options.items())
        table.add_row(spec.name, spec.kind, "yes" if spec.read_only else "no", options)
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


@connections.command("add")
@click.argument("name")
@click.option(
    "--kind", type=click.Choice(["sqlite", "mysql", "postgresql", "snowflake"]), required=True
)
@click.option(
    "-o",
    "--option",
    "options",
    multiple=True,
    help="An option, key=value (repeatable), e.g. path=prices.db.",
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
    try:
        payload = ConnectionInput(
            name=name,
            kind=kind,
            options=_parse_pairs(options, "--option"),
            read_only=not read_write,
            secret=_secret(secret_stdin, secret_file, password),
        )
    except ValueError as exc:
        fail(f"invalid connection: {str(exc).splitlines()[-1].strip()}", EXIT_USAGE)
    with reported():
        spec = context.runtime().connector.create_connection(payload, test=not no_test)
    out.print(
        f"Saved connection {spec.name!r} ({spec.kind}, {'read-only' if spec.read_only else 'read-write'})."
    )


@connections.command("test")
@click.argument("name")
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
    out.print(f"ok: {probe.server_version}, {probe.latency_ms:.1f} ms")


@connections.command("remove")
@click.argument("name")
@pass_context
def connections_remove(context: Context, name: str) -> None:
    """Remove a connection and forget its secret."""
    with reported():
        context.runtime().connector.remove_connection(name)
    out.print(f"Removed connection {name!r}.")


# key -----------------------------------------------------------------------------------


@main.group()
def key() -> None:
    """Show or rotate the API key."""


@key.command("show")
@pass_context
def key_show(context: Context) -> None:
    """Print the API key."""
    from connector.runtime import prepare_data_dir
    from connector.security import load_api_key

    settings = context.settings()
    prepare_data_dir(settings.data_dir)
    click.echo(load_api_key(settings.data_dir)[0])


@key.command("rotate")
@pass_context
def key_rotate(context: Context) -> None:
    """Make a new API key; the old one stops working at once, also in a running server."""
    from connector.runtime import prepare_data_dir
    from connector.security import rotate_api_key

    settings = context.settings()
    prepare_data_dir(settings.data_dir)
    click.echo(rotate_api_key(settings.data_dir))
    err.print("The old key no longer works; update OpenBB and your scripts.")


from connector.cli_openbb import openbb, saved  # noqa: E402 - they build on this module

main.add_command(saved)
main.add_command(openbb)

if __name__ == "__main__":  # pragma: no cover
    main()
