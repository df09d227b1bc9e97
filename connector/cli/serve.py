"""``serve`` (the HTTP server) and ``recommend-port``.

``serve`` runs one process, or with ``--workers N`` uvicorn's supervisor and N worker
processes: the supervisor first opens the runtime once (migrations, the configuration
file's declarations, the key, the sample), then hands every setting to the workers as
``CONNECTOR_*`` variables, and each worker builds its app with
``connector.app.app_from_environment``. Behind a reverse proxy, ``--root-path`` is the
prefix it serves under and ``--forwarded-allow-ips`` the proxies whose
``X-Forwarded-For``/``-Proto`` are believed (uvicorn's proxy headers).
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path
from typing import Any

import click
from rich.text import Text

from connector import __version__
from connector.cli.common import (
    EXIT_USAGE,
    Context,
    config_option,
    data_dir_option,
    err,
    fail,
    out,
    pass_context,
    reported,
    say,
    warn,
)
from connector.config import DEFAULT_PORT, Settings
from connector.handoff import forget_server, record_server
from connector.interpreter import tune_interpreter
from connector.logs import configure_logging, log_config
from connector.memory import tune_allocator
from connector.ports import EXIT_PORT_TAKEN, is_port_free, recommend_port
from connector.runtime import Runtime, open_runtime

log = logging.getLogger(__name__)


@click.command()
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
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default=None,
    help="text, or json: one JSON object a line.",
)
@click.option(
    "--log-file",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write the log to this file (rotated: LOG_FILE_MAX_BYTES, LOG_FILE_BACKUPS).",
)
@click.option("--workers", type=click.IntRange(1, 64), default=None, help="Server processes.")
@click.option("--root-path", default=None, help="The prefix a reverse proxy serves this under.")
@click.option(
    "--forwarded-allow-ips",
    default=None,
    help="Proxies whose X-Forwarded-* headers are trusted (default 127.0.0.1).",
)
@data_dir_option
@config_option
@pass_context
def serve(
    context: Context,
    host: str | None,
    port: str | None,
    no_auth: bool,
    no_sample: bool,
    log_level: str | None,
    log_format: str | None = None,
    log_file: Path | None = None,
    tls: bool = False,
    workers: int | None = None,
    root_path: str | None = None,
    forwarded_allow_ips: str | None = None,
) -> None:
    """Start the HTTP server."""
    import uvicorn

    from connector.app import create_app

    more: dict[str, Any] = {}
    if host:
        more["host"] = host
    if tls:
        more["tls"] = True
    for name, value in (
        ("log_format", log_format),
        ("log_file", log_file),
        ("workers", workers),
        ("root_path", root_path),
        ("forwarded_allow_ips", forwarded_allow_ips),
    ):
        if value is not None:
            more[name] = value
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
    try:
        configure_logging(settings)
    except OSError as exc:
        fail(f"cannot write the log file {settings.log_file}: {exc.strerror or exc}", EXIT_USAGE)
    tune_allocator()
    many = settings.workers > 1
    with reported():
        runtime = open_runtime(settings, context.declared, sample_in_background=not many)
    ssl = _tls_files(settings)
    scheme = "https" if ssl else "http"
    if settings.log_format == "json":
        url = _log_banner(runtime, settings.host, bind_port, scheme)
    else:
        url = _print_banner(runtime, settings.host, bind_port, scheme)
    common: dict[str, Any] = {
        **ssl,
        "host": settings.host,
        "port": bind_port,
        "log_level": settings.log_level,
        # Applied again by uvicorn in this process and in each --workers process.
        "log_config": log_config(settings),
        "server_header": False,
        "timeout_graceful_shutdown": 5,
        "root_path": settings.root_path,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
    }
    record_server(settings.data_dir, url)
    try:
        if many:
            runtime.close()  # each worker opens its own
            _export_settings(settings, {**context.overrides, **more}, context.config_path())
            uvicorn.run(
                "connector.app:app_from_environment",
                factory=True,
                workers=settings.workers,
                **common,
            )
        else:
            app = create_app(runtime)
            tune_interpreter()
            uvicorn.run(app, **common)
    finally:
        forget_server(settings.data_dir)


def _tls_files(settings: Settings) -> dict[str, str]:
    """uvicorn's certificate arguments: the configured files, or the local CA's."""
    if settings.tls_cert_file is not None:
        if settings.tls_key_file is None:
            fail("tls_cert_file needs tls_key_file (the certificate's key)", EXIT_USAGE)
        for path in (settings.tls_cert_file, settings.tls_key_file):
            if not path.is_file():
                fail(f"the TLS file {path} does not exist", EXIT_USAGE)
        return {
            "ssl_certfile": str(settings.tls_cert_file),
            "ssl_keyfile": str(settings.tls_key_file),
        }
    if not settings.tls:
        return {}
    from connector.tls import ensure_tls, trust_instructions

    files = ensure_tls(settings.data_dir)
    say(trust_instructions(files.ca_cert))
    return {"ssl_certfile": str(files.cert), "ssl_keyfile": str(files.key)}


def _export_settings(settings: Settings, flags: dict[str, Any], config: Path | None) -> None:
    """Hand the flags (and the file's name) to the worker processes as variables; the
    workers read the rest from the same environment and file as this process did."""
    for name in flags:
        if name == "config" or name not in Settings.model_fields:
            continue
        value = getattr(settings, name)
        if isinstance(value, bool):
            text = "true" if value else "false"
        elif isinstance(value, list):
            text = json.dumps(value)
        else:
            text = str(value)
        os.environ[f"CONNECTOR_{name.upper()}"] = text
    os.environ["CONNECTOR_SAMPLE"] = "true" if settings.sample else "false"
    if config is not None:
        os.environ["CONNECTOR_CONFIG"] = str(config.resolve())


def _url(host: str, port: int, scheme: str) -> str:
    shown = f"[{host}]" if ":" in host else host
    return f"{scheme}://{'localhost' if host in ('127.0.0.1', '::1') else shown}:{port}"


def _log_banner(runtime: Runtime, host: str, port: int, scheme: str) -> str:
    """The banner as log lines (``--log-format json``: every line a JSON object), without
    the key: a log is collected and kept, so a new key is only said to exist."""
    url = _url(host, port, scheme)
    for line in runtime.notes:
        log.info("%s", line)
    log.info(
        "Data Connector %s at %s (data folder: %s)", __version__, url, runtime.settings.data_dir
    )
    if runtime.api_key is None:
        log.warning("the API key is OFF: anyone who can reach this port can query your databases.")
    elif runtime.new_key:
        log.info("A new API key was made; 'data-connector key show' prints it.")
    if host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("listening on %s, not only this machine.", host)
    return url


def _print_banner(runtime: Runtime, host: str, port: int, scheme: str = "http") -> str:
    url = _url(host, port, scheme)
    for line in runtime.notes:
        say(line)
    if runtime.sample_pending:
        say("Making the sample database; it appears as the connection 'sample' in a moment.")
    out.print(
        Text.assemble(
            f"Data Connector {__version__} at ",
            (url, "bold"),
            f"  (data folder: {runtime.settings.data_dir})",
        )
    )
    if runtime.api_key is None:
        warn("the API key is OFF: anyone who can reach this port can query your databases.")
    elif runtime.new_key:
        out.print(
            Text.assemble(
                "Your API key (shown once; 'data-connector key show' prints it again): ",
                (runtime.api_key, "bold"),
            )
        )
        say("Send it as the header  X-API-KEY: <key>  (or Authorization: Bearer <key>).")
    else:
        say(
            "Authenticate with the header X-API-KEY: <key>; 'data-connector key show' prints the key."
        )
    if host not in ("127.0.0.1", "localhost", "::1"):
        warn(f"listening on {host}, not only this machine.")
    say("Press Ctrl-C to stop.")
    err.file.flush()
    return url


@click.command("recommend-port")
@click.option("--start", type=click.IntRange(1, 65535), default=DEFAULT_PORT, show_default=True)
@click.option("--host", default="127.0.0.1", show_default=True)
def recommend_port_command(start: int, host: str) -> None:
    """Print a port that is free right now."""
    click.echo(recommend_port(start, host))
