"""Settings: every knob of the connector, read once at an entry point and passed down.

Values come from arguments, then ``CONNECTOR_*`` environment variables, then defaults.
Nothing here reads the environment at import time; ``Settings()`` does, when an entry
point builds it. Every field is documented in the README (a test checks that).

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import platformdirs
from pydantic import Field, ValidationError, field_validator
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

    data_dir: Path = Field(default_factory=default_data_dir)
    host: str = "127.0.0.1"
    port: int = Field(DEFAULT_PORT, ge=1, le=65535)
    auth: bool = True
    allowed_hosts: list[str] = Field(default_factory=list)
    cors_origins: list[str] = Field(default_factory=list)
    row_limit: int = Field(1000, ge=1)
    max_row_limit: int = Field(100_000, ge=1)
    timeout_s: float = Field(30.0, gt=0)
    max_timeout_s: float = Field(600.0, gt=0)
    export_timeout_s: float = Field(3600.0, gt=0)
    max_body_bytes: int = Field(1_048_576, ge=1024)
    worker_threads: int = Field(4, ge=1, le=64)
    history_size: int = Field(10_000, ge=0)
    # Exports the database writes itself where its text is the contract's (fastpath).
    native_export: bool = True
    secret_store: Literal["auto", "keyring", "file"] = "auto"
    sample: bool = True
    log_level: Literal["debug", "info", "warning", "error"] = "info"

    @field_validator("data_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @property
    def all_cors_origins(self) -> list[str]:
        return [*DEFAULT_CORS_ORIGINS, *(o.rstrip("/") for o in self.cors_origins)]

    @property
    def metadata_url(self) -> str:
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
