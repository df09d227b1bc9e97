"""``query`` (print a result) and ``export`` (stream every row to a file, with progress)."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import get_args

import click
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from connector.cli.common import (
    EXIT_STOPPED,
    EXIT_USAGE,
    Context,
    count_phrase,
    data_dir_option,
    err,
    fail,
    note,
    out,
    parse_pairs,
    pass_context,
    reported,
    rows_table,
    typed_value,
)
from connector.columnar import require_pyarrow
from connector.errors import QueryCancelledError
from connector.export import ExportFormat, encode
from connector.models import QueryRequest
from connector.values import dumps
from connector.wire import result_body

EXPORT_FORMATS: tuple[str, ...] = get_args(ExportFormat)


def _request(
    sql: str, params: tuple[str, ...], limit: int | None, timeout: float | None
) -> QueryRequest:
    values = {key: typed_value(value) for key, value in parse_pairs(params, "--param").items()}
    try:
        return QueryRequest(sql=sql, params=values, limit=limit, timeout_s=timeout)
    except ValueError as exc:
        fail(f"invalid query: {str(exc).splitlines()[0]}", EXIT_USAGE)


@click.command()
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
@data_dir_option
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
    runtime = context.runtime()
    maximum = runtime.settings.max_row_limit
    if limit is not None and limit > maximum:
        note(f"--limit {limit:,} is above the maximum of {maximum:,}; at most {maximum:,} rows.")
    request = _request(sql, params, limit, timeout)
    with reported():
        result = runtime.connector.run(connection, request, client="cli")
    more = " (truncated: more rows exist; raise --limit or use export)" if result.truncated else ""
    if fmt == "table":
        out.print(rows_table(result.columns, result.rows))
        note(f"{count_phrase(len(result.rows))} in {result.elapsed_ms:.1f} ms{more}")
        return
    if fmt == "json":
        sys.stdout.buffer.write(dumps(result_body(result, "records")) + b"\n")
    else:
        for chunk in encode(fmt, result.columns, [result.rows]):  # type: ignore[arg-type]
            sys.stdout.buffer.write(chunk)
    if result.truncated:
        note(f"stopped at {count_phrase(len(result.rows))}{more}")


def _export_format(output: Path, fmt: str | None) -> ExportFormat:
    if fmt is not None:
        return fmt  # type: ignore[return-value]
    suffix = output.suffix.lstrip(".").lower()
    if suffix in EXPORT_FORMATS:
        return suffix  # type: ignore[return-value]
    fail(
        f"cannot tell the format from {output.name!r}; name the file .csv, .ndjson, .json, "
        ".arrow (an Arrow IPC stream) or .parquet, "
        f"or give --format ({', '.join(EXPORT_FORMATS)})",
        EXIT_USAGE,
    )


@click.command()
@click.option("-c", "--connection", required=True, help="The connection's name.")
@click.argument("sql")
@click.option("-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
@click.option(
    "-p", "--param", "params", multiple=True, help="A parameter, name=value (repeatable)."
)
@click.option(
    "-f",
    "--format",
    "fmt",
    type=click.Choice(EXPORT_FORMATS),
    default=None,
    help="Default: from the file's extension.",
)
@click.option("--timeout", type=click.FloatRange(min=0.001), default=None)
@data_dir_option
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
    chosen = _export_format(output, fmt)
    with reported():
        require_pyarrow(chosen)  # before the query runs or the file is made
    folder = output.parent
    if not folder.is_dir():
        fail(f"the folder {str(folder)!r} does not exist; create it first", EXIT_USAGE)
    if not os.access(folder, os.W_OK):
        fail(f"the folder {str(folder)!r} cannot be written to", EXIT_USAGE)
    request = _request(sql, params, None, timeout)
    temp = output.with_name(f".{output.name}.part")
    runtime = context.runtime()
    with reported():
        stream = runtime.connector.open_stream(connection, request, client="cli", fmt=chosen)
        started = time.perf_counter()
        try:
            with Progress(
                SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(),
                console=err, transient=True,
            ) as progress, temp.open("wb") as handle:  # fmt: skip
                task = progress.add_task("0 rows", total=None)
                for chunk in stream.chunks():
                    handle.write(chunk)
                    progress.update(task, description=f"{stream.stream.row_count:,} rows")
            os.replace(temp, output)
        except (KeyboardInterrupt, QueryCancelledError):
            # Ctrl-C lands either here or, inside SQLite, as an interrupted statement.
            temp.unlink(missing_ok=True)
            stream.close()
            fail("export cancelled; nothing was written", EXIT_STOPPED)
        except BaseException:
            temp.unlink(missing_ok=True)
            raise
        finally:
            stream.close()
    seconds = time.perf_counter() - started
    note(f"wrote {count_phrase(stream.stream.row_count)} to {output} in {seconds:.1f} s")
