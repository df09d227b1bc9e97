"""Settings: every knob of the connector, read once at an entry point and passed down.

Values come from arguments, then ``CONNECTOR_*`` environment variables, then the
declarative TOML file (``connector.config_file``, named by ``--config`` or
``CONNECTOR_CONFIG``), then defaults. Nothing here reads the environment at import time;
``Settings()`` does, when an entry point builds it. Every field is documented in the README
(a test checks that), and its ``description`` is the meaning the README's config-file table
shows.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

APP_NAME = "data-connector"
DEFAULT_PORT = 7800

DEFAULT_CORS_ORIGINS = (
    "https://pro.openbb.co",
    "https://pro.openbb.dev",
    "https://excel.openbb.co",
    "https://excel.openbb.dev",
    "http://localhost:1420",
)


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir(APP_NAME, appauthor=False))


def default_log_dir() -> Path:
    return Path(platformdirs.user_log_dir(APP_NAME, appauthor=False))


class Settings(BaseSettings):
    """The connector's configuration."""

    model_config = SettingsConfigDict(env_prefix="CONNECTOR_", extra="ignore")

    data_dir: Path = Field(
        default_factory=default_data_dir,
        description="connections, history, API key, sample database, secrets file",
    )
    config: Path | None = Field(None, description="the declarative TOML configuration file")
    host: str = Field("127.0.0.1", description="address to bind; anything else prints a warning")
    port: int = Field(DEFAULT_PORT, ge=1, le=65535, description="port to bind")
    auth: bool = Field(True, description="false turns the API key off, with a warning")
    allowed_hosts: list[str] = Field(
        default_factory=list, description="extra Host names to answer to"
    )
    cors_origins: list[str] = Field(
        default_factory=list, description="extra browser origins to allow"
    )
    root_path: str = Field(
        "", description="the path prefix a reverse proxy serves this server under"
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1",
        description="proxies whose X-Forwarded-For/-Proto are trusted (comma-separated, or *)",
    )
    workers: int = Field(1, ge=1, le=64, description="server processes (serve --workers N)")
    metadata_url: SecretStr | None = Field(
        None,
        description="a PostgreSQL URL for the shared metadata store instead of the SQLite file",
    )
    secret_key: SecretStr | None = Field(
        None,
        description="encrypts connection secrets kept in the shared metadata store",
    )
    row_limit: int = Field(1000, ge=1, description="rows a query returns when it gives no limit")
    max_row_limit: int = Field(100_000, ge=1, description="the most rows a query may ask for")
    timeout_s: float = Field(30.0, gt=0, description="a query's timeout when it gives none")
    max_timeout_s: float = Field(600.0, gt=0, description="the longest timeout a query may ask for")
    export_timeout_s: float = Field(3600.0, gt=0, description="an export's timeout by default")
    max_body_bytes: int = Field(1_048_576, ge=1024, description="larger request bodies get 413")
    worker_threads: int = Field(4, ge=1, le=64, description="threads that run database work")
    demote_after_s: float = Field(
        1.0,
        ge=0,
        description="a user query running longer gets its thread's CPU priority lowered (0: never)",
    )
    history_size: int = Field(10_000, ge=0, description="query history entries kept")
    secret_store: Literal["auto", "keyring", "file"] = Field(
        "auto", description="where connection secrets added through the API are kept"
    )
    sample: bool = Field(True, description="make and register the sample database")
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        "info", description="how much the server logs"
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="text, or json: one JSON object a log line"
    )
    log_file: Path | None = Field(None, description="also write the log to this file, rotated")
    log_file_max_bytes: int = Field(
        10_485_760, ge=1024, description="the log file's size at which it is rotated"
    )
    log_file_backups: int = Field(5, ge=0, description="rotated log files kept")
    tls: bool = Field(False, description="serve HTTPS with a locally made certificate")
    tls_cert_file: Path | None = Field(
        None, description="serve HTTPS with this certificate (PEM) instead of a local one"
    )
    tls_key_file: Path | None = Field(None, description="the key file of tls_cert_file")
    native_export: bool = Field(
        True,
        description="exports the database writes itself where its text is the contract's",
    )

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("log_file")
    @classmethod
    def _expand_log_file(cls, value: Path | None) -> Path | None:
        return None if value is None else value.expanduser()

    @property
    def all_cors_origins(self) -> list[str]:
        return [*DEFAULT_CORS_ORIGINS, *(o.rstrip("/") for o in self.cors_origins)]

    @field_validator("root_path")
    @classmethod
    def _root_path(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if value and not value.startswith("/"):
            raise ValueError("must start with '/', like /connector")
        return value

    @property
    def shared_metadata(self) -> bool:
        """True when the metadata store is a shared database rather than the local file."""
        return self.metadata_url is not None

    def metadata_database_url(self) -> str:
        """The metadata store's SQLAlchemy URL (it may hold a password: never log it)."""
        if self.metadata_url is not None:
            return self.metadata_url.get_secret_value()
        return f"sqlite:///{self.data_dir / 'connector.db'}"


def settings_error(exc: ValidationError) -> str:
    """One sentence naming the setting (and its environment variable) that is wrong."""
    errors = exc.errors()
    if not errors:
        return "the settings are not valid"
    first = errors[0]
    field = str(first["loc"][0]) if first.get("loc") else ""
    message = str(first.get("msg", "is not valid")).removeprefix("Value error, ")
    if not field:
        return f"the settings are not valid: {message}"
    return f"the setting {field} (CONNECTOR_{field.upper()}) is not valid: {message}"
