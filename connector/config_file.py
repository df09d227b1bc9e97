"""The declarative configuration file: one TOML file for a whole deployment.

It declares settings (``[server]``, ``[limits]``, ``[tls]``, ``[metadata]``), API keys
(``[[keys]]``), connections (``[[connections]]``) and saved queries (``[[saved_queries]]``).
Secrets are never written in it: a key, password, private key or metadata URL is named by
the environment variable or file that holds it (``password_env``, ``private_key_file``...).
Every problem is reported as ``FILE:LINE: sentence`` (``connector.toml_lines`` finds the
line), all of them at once, and none ever shows a secret's value.

``KEYS`` is the one list of what the file may say; the README's table of keys is made from
it (``scripts/config_table.py``) and a test keeps both in step with ``Settings``.
Precedence: command-line flags, then ``CONNECTOR_*`` variables, then this file, then
defaults. Must not import FastAPI, the store or the runtime.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from connector.config import Settings
from connector.keys import hash_api_key
from connector.models import ConnectionInput, SavedQuery, check_name
from connector.toml_lines import line_of

# (section, key) -> the Settings field it sets. Paths are relative to the file's folder.
SETTING_KEYS: dict[tuple[str, str], str] = {
    **{
        ("server", name): name
        for name in (
            "host",
            "port",
            "data_dir",
            "auth",
            "allowed_hosts",
            "cors_origins",
            "root_path",
            "forwarded_allow_ips",
            "workers",
            "log_level",
            "log_format",
            "log_file",
            "log_file_max_bytes",
            "log_file_backups",
            "sample",
            "secret_store",
        )
    },
    **{
        ("limits", name): name
        for name in (
            "row_limit",
            "max_row_limit",
            "timeout_s",
            "max_timeout_s",
            "export_timeout_s",
            "max_body_bytes",
            "worker_threads",
            "demote_after_s",
            "history_size",
            "native_export",
        )
    },
    ("tls", "enabled"): "tls",
    ("tls", "cert_file"): "tls_cert_file",
    ("tls", "key_file"): "tls_key_file",
}
PATH_SETTINGS = frozenset({"data_dir", "tls_cert_file", "tls_key_file", "log_file"})
# Settings the file does not set: itself, and the metadata URL (a secret: url_env/url_file).
ENV_ONLY_SETTINGS = frozenset({"config", "metadata_url", "secret_key"})
# [metadata] key -> (the secret setting it fills, how it is read).
METADATA_KEYS = {
    "url_env": ("metadata_url", "env"),
    "url_file": ("metadata_url", "file"),
    "secret_key_env": ("secret_key", "env"),
    "secret_key_file": ("secret_key", "file"),
}

SECRET_SOURCES = {
    "password": "the connection's password",
    "private_key": "a Snowflake PEM private key",
    "passphrase": "the passphrase of an encrypted private_key",
}

# Every other key the file may hold, with its meaning (the README's table shows these).
OTHER_KEYS: dict[tuple[str, str], str] = {
    ("metadata", "url_env"): "the variable holding the shared metadata store's PostgreSQL URL",
    ("metadata", "url_file"): "or a file holding that URL (e.g. a Docker secret)",
    ("metadata", "secret_key_env"): "the variable holding the key that encrypts connection "
    "secrets in the shared store",
    ("metadata", "secret_key_file"): "or a file holding that key",
    ("keys", "name"): "the key's name, recorded in history as the caller",
    ("keys", "key_env"): "the variable holding the key",
    ("keys", "key_file"): "or a file holding the key",
    ("keys", "sha256"): "or the key's SHA-256 in hex (not a secret)",
    ("connections", "name"): "the connection's name",
    ("connections", "kind"): "sqlite, mysql, postgresql, snowflake or duckdb",
    ("connections", "options"): "the kind's options (the table under Database kinds)",
    ("connections", "read_only"): "false allows writes (default true)",
    **{
        ("connections", f"{secret}_{how}"): f"{meaning}: the {word} holding it"
        for secret, meaning in SECRET_SOURCES.items()
        for how, word in (("env", "variable"), ("file", "file"))
    },
    ("saved_queries", "*"): "a saved query's fields as in the HTTP API: name, connection, "
    "sql, description, params, widget, limit",
}
SECTIONS = ("server", "limits", "tls", "metadata")
ARRAYS = ("keys", "connections", "saved_queries")


def all_keys() -> list[tuple[str, str]]:
    """Every (section, key) the file may hold, in the order the README lists them."""
    return [*SETTING_KEYS, *OTHER_KEYS]


class ConfigError(Exception):
    """The file cannot be used; ``problems`` holds one ``FILE:LINE: sentence`` each."""

    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


@dataclass
class DeclaredKey:
    name: str
    digest: str = field(repr=False)


@dataclass
class Declarations:
    """What the file declares besides settings; secrets resolved, kept in memory only."""

    keys: list[DeclaredKey] = field(default_factory=list)
    connections: list[ConnectionInput] = field(default_factory=list)
    saved_queries: list[SavedQuery] = field(default_factory=list)
    # (array, name) -> "FILE:LINE", to say where a declaration that fails at start is.
    where: dict[tuple[str, str], str] = field(default_factory=dict)

    def __bool__(self) -> bool:
        return bool(self.keys or self.connections or self.saved_queries)


@dataclass
class LoadedConfig:
    path: Path
    text: str
    settings: dict[str, Any]
    # Settings field -> where in the file it was set, for error lines.
    origins: dict[str, tuple[str, ...]]
    declared: Declarations


class _Problems:
    def __init__(self, path: Path, text: str) -> None:
        self.path, self.text, self.items = path, text, list[str]()

    def add(self, location: tuple[str | int, ...], message: str) -> None:
        line = line_of(self.text, location)
        self.items.append(f"{self.path}:{line or 1}: {message}")

    def raise_any(self) -> None:
        if self.items:
            raise ConfigError(self.items)


def _where(location: tuple[str | int, ...]) -> str:
    text = ""
    for part in location:
        text += f"[{part}]" if isinstance(part, int) else (f".{part}" if text else part)
    return text


def _read_secret(
    problems: _Problems,
    location: tuple[str | int, ...],
    how: str,
    ref: Any,
    base: Path,
    environ: Mapping[str, str],
) -> str | None:
    """A secret from the variable or file ``ref`` names; its value never reaches a message."""
    if not isinstance(ref, str) or not ref.strip():
        problems.add(
            location, f"{_where(location)} must name a {'variable' if how == 'env' else 'file'}."
        )
        return None
    if how == "env":
        value = environ.get(ref)
        if value is None or not value.strip():
            problems.add(
                location, f"the environment variable {ref} ({_where(location)}) is not set."
            )
            return None
        return value.strip() if "PRIVATE KEY" not in value else value
    path = (base / ref).expanduser()
    try:
        value = path.read_text(encoding="utf-8")
    except OSError as exc:
        problems.add(
            location, f"the file {path} ({_where(location)}) cannot be read: {exc.strerror}."
        )
        return None
    return value if "PRIVATE KEY" in value else value.strip()


def _unknown(problems: _Problems, location: tuple[str | int, ...], key: str, allowed: Any) -> None:
    names = ", ".join(sorted(str(name) for name in allowed))
    problems.add((*location, key), f"unknown key {key!r} in {_where(location)} (known: {names}).")


def _settings_part(
    problems: _Problems, data: dict[str, Any], base: Path, environ: Mapping[str, str]
) -> tuple[dict[str, Any], dict[str, tuple[str, ...]]]:
    values: dict[str, Any] = {}
    origins: dict[str, tuple[str, ...]] = {}
    for section in SECTIONS:
        table = data.get(section, {})
        if not isinstance(table, dict):
            problems.add((section,), f"{section} must be a table: [{section}].")
            continue
        for key, value in table.items():
            if section == "metadata":
                if key not in METADATA_KEYS:
                    _unknown(problems, (section,), key, METADATA_KEYS)
                    continue
                secret_name, how = METADATA_KEYS[key]
                secret = _read_secret(problems, (section, key), how, value, base, environ)
                if secret is not None:
                    values[secret_name] = secret
                    origins[secret_name] = (section, key)
                continue
            name = SETTING_KEYS.get((section, key))
            if name is None:
                known = [k for s, k in SETTING_KEYS if s == section]
                _unknown(problems, (section,), key, known)
                continue
            if name in PATH_SETTINGS and isinstance(value, str):
                value = str((base / value).expanduser())
            values[name] = value
            origins[name] = (section, key)
    return values, origins


def _keys_part(
    problems: _Problems, items: list[Any], base: Path, environ: Mapping[str, str]
) -> list[DeclaredKey]:
    found: list[DeclaredKey] = []
    allowed = {k for s, k in OTHER_KEYS if s == "keys"}
    for index, item in enumerate(items):
        where: tuple[str | int, ...] = ("keys", index)
        if not isinstance(item, dict):
            problems.add(where, "each [[keys]] entry must be a table.")
            continue
        for key in item:
            if key not in allowed:
                _unknown(problems, where, key, allowed)
        name = item.get("name")
        try:
            check_name(str(name or ""), "a key's name")
        except ValueError as exc:
            problems.add((*where, "name"), f"{_where(where)}.name: {exc}.")
            continue
        sources = [key for key in ("key_env", "key_file", "sha256") if key in item]
        if len(sources) != 1:
            problems.add(where, f"key {name!r} needs exactly one of key_env, key_file or sha256.")
            continue
        source = sources[0]
        if source == "sha256":
            digest = str(item["sha256"]).strip().lower()
            if len(digest) != 64 or any(c not in "0123456789abcdef" for c in digest):
                problems.add((*where, source), f"key {name!r}: sha256 must be 64 hex digits.")
                continue
        else:
            secret = _read_secret(
                problems, (*where, source), source.removeprefix("key_"), item[source], base, environ
            )
            if secret is None:
                continue
            digest = hash_api_key(secret)
        found.append(DeclaredKey(str(name), digest))
    return found


def _connection_secret(
    problems: _Problems,
    where: tuple[str | int, ...],
    item: dict[str, Any],
    base: Path,
    environ: Mapping[str, str],
) -> tuple[bool, str | None]:
    read: dict[str, str] = {}
    ok = True
    for secret in SECRET_SOURCES:
        given = [how for how in ("env", "file") if f"{secret}_{how}" in item]
        if len(given) > 1:
            problems.add(where, f"give {secret}_env or {secret}_file, not both.")
            ok = False
            continue
        if given:
            key = f"{secret}_{given[0]}"
            value = _read_secret(problems, (*where, key), given[0], item[key], base, environ)
            if value is None:
                ok = False
            else:
                read[secret] = value
    if "password" in read and "private_key" in read:
        problems.add(where, "give a password or a private_key, not both.")
        return False, None
    if "passphrase" in read:
        if "private_key" not in read:
            problems.add(where, "a passphrase needs a private_key.")
            return False, None
        import json

        return ok, json.dumps(
            {"private_key": read["private_key"], "passphrase": read["passphrase"]}
        )
    return ok, read.get("password") or read.get("private_key")


def _connections_part(
    problems: _Problems, items: list[Any], base: Path, environ: Mapping[str, str]
) -> list[ConnectionInput]:
    found: list[ConnectionInput] = []
    allowed = {k for s, k in OTHER_KEYS if s == "connections"}
    for index, item in enumerate(items):
        where: tuple[str | int, ...] = ("connections", index)
        if not isinstance(item, dict):
            problems.add(where, "each [[connections]] entry must be a table.")
            continue
        unknown = [key for key in item if key not in allowed]
        for key in unknown:
            _unknown(problems, where, key, allowed)
        ok, secret = _connection_secret(problems, where, item, base, environ)
        body = {k: item[k] for k in ("name", "kind", "options", "read_only") if k in item}
        if "name" not in body:
            problems.add(where, f"{_where(where)} needs a name.")
            continue
        try:
            connection = ConnectionInput.model_validate({**body, "secret": secret})
        except ValidationError as exc:
            for error in exc.errors():
                location = (*where, *error["loc"])
                problems.add(location, f"{_where(location)}: {_message(error)}.")
            continue
        refused = _check_options(connection)
        if refused is not None:
            option, message = refused
            location = (*where, "options", *((option,) if option else ()))
            problems.add(location, f"{_where(location)}: {message}.")
            continue
        if ok and not unknown:
            found.append(connection)
    return found


def _check_options(connection: ConnectionInput) -> tuple[str | None, str] | None:
    """The kind's own check of its options: (option, sentence) when they do not fit."""
    from connector.backends import get_backend
    from connector.errors import ConnectorError

    try:
        backend = get_backend(connection.kind)
    except ConnectorError as exc:
        return None, exc.detail.rstrip(".")
    try:
        backend.validate_options(connection.options)
    except ValidationError as exc:
        first = exc.errors()[0]
        option = ".".join(str(part) for part in first.get("loc", ())) or None
        if first["type"] == "extra_forbidden":
            return option, f"{connection.kind} has no option {option!r}"
        return option, _message(first)
    except ValueError as exc:
        return None, str(exc).rstrip(".")
    return None


def _saved_part(problems: _Problems, items: list[Any]) -> list[SavedQuery]:
    found: list[SavedQuery] = []
    for index, item in enumerate(items):
        where: tuple[str | int, ...] = ("saved_queries", index)
        if not isinstance(item, dict):
            problems.add(where, "each [[saved_queries]] entry must be a table.")
            continue
        if "version" in item:
            problems.add((*where, "version"), "a declared saved query has no version.")
            continue
        try:
            found.append(SavedQuery.model_validate(item))
        except ValidationError as exc:
            for error in exc.errors():
                location = (*where, *error["loc"])
                if error["type"] == "extra_forbidden":
                    problems.add(location, f"unknown key {error['loc'][-1]!r} in {_where(where)}.")
                else:
                    problems.add(location, f"{_where(location)}: {_message(error)}.")
    return found


def _message(error: Any) -> str:
    return str(error.get("msg", "is not valid")).removeprefix("Value error, ").rstrip(".")


def load_config(path: Path, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Read and check ``path``; raises ``ConfigError`` listing every problem with its line."""
    environ = os.environ if environ is None else environ
    path = path.expanduser()
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read: {exc.strerror or exc}."]) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError([f"{path}: {exc}."]) from None
    problems = _Problems(path, text)
    for key in data:
        if key not in (*SECTIONS, *ARRAYS):
            known = ", ".join((*SECTIONS, *ARRAYS))
            problems.add((key,), f"unknown section {key!r} (known: {known}).")
    base = path.parent
    values, origins = _settings_part(problems, data, base, environ)
    arrays: dict[str, list[Any]] = {}
    for name in ARRAYS:
        items = data.get(name, [])
        if not isinstance(items, list):
            problems.add((name,), f"{name} must be an array of tables: [[{name}]].")
            items = []
        arrays[name] = items
    declared = Declarations(
        keys=_keys_part(problems, arrays["keys"], base, environ),
        connections=_connections_part(problems, arrays["connections"], base, environ),
        saved_queries=_saved_part(problems, arrays["saved_queries"]),
    )
    _check_names(problems, declared)
    _check_saved_params(problems, arrays, declared)
    problems.raise_any()
    for array in ARRAYS:
        for index, item in enumerate(arrays[array]):
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                line = line_of(text, (array, index)) or 1
                declared.where[(array, item["name"])] = f"{path}:{line}"
    return LoadedConfig(path, text, values, origins, declared)


def _check_names(problems: _Problems, declared: Declarations) -> None:
    for array, names in (
        ("keys", [k.name for k in declared.keys]),
        ("connections", [c.name or "" for c in declared.connections]),
        ("saved_queries", [q.name for q in declared.saved_queries]),
    ):
        seen: set[str] = set()
        for index, name in enumerate(names):
            if name in seen:
                problems.add((array, index, "name"), f"{array}: the name {name!r} is used twice.")
            seen.add(name)


def _check_saved_params(
    problems: _Problems, arrays: dict[str, list[Any]], declared: Declarations
) -> None:
    """Every ``:name`` in a declared saved query's SQL is declared, when its connection is
    declared too (so its SQL dialect is known here)."""
    from connector.backends import get_backend
    from connector.errors import ConnectorError
    from connector.statements import parameter_names

    kinds = {
        item.get("name"): str(item.get("kind"))
        for item in arrays["connections"]
        if isinstance(item, dict)
    }
    items = arrays["saved_queries"]
    index_of = {item.get("name"): i for i, item in enumerate(items) if isinstance(item, dict)}
    for query in declared.saved_queries:
        kind = kinds.get(query.connection)
        if kind is None:
            continue
        where: tuple[str | int, ...] = ("saved_queries", index_of.get(query.name, 0), "sql")
        try:
            used = parameter_names(query.sql, get_backend(kind).dialect)
        except ConnectorError as exc:
            problems.add(where, f"saved query {query.name!r}: {exc.detail.rstrip('.')}.")
            continue
        declared_params = {param.name for param in query.params}
        for name in used:
            if name not in declared_params:
                problems.add(
                    where, f"saved query {query.name!r} uses :{name}, which is not in its params."
                )


def build_settings(
    overrides: Mapping[str, Any],
    config_path: Path | None,
    environ: Mapping[str, str] | None = None,
) -> tuple[Settings, Declarations]:
    """Settings from flags (``overrides``), ``CONNECTOR_*`` variables, then the file.

    Raises ``ConfigError`` for a file problem, and pydantic's ``ValidationError`` for a
    value set by a flag or variable (``config.settings_error`` words it)."""
    environ = os.environ if environ is None else environ
    if config_path is None:
        return Settings(**overrides), Declarations()
    loaded = load_config(config_path, environ)
    from_file = {
        name: value
        for name, value in loaded.settings.items()
        if name not in overrides and f"CONNECTOR_{name.upper()}" not in environ
    }
    try:
        settings = Settings(**{**from_file, **overrides, "config": loaded.path})
    except ValidationError as exc:
        problems = _Problems(loaded.path, loaded.text)
        for error in exc.errors():
            name = str(error["loc"][0]) if error.get("loc") else ""
            if name in from_file:
                location = loaded.origins[name]
                problems.add(location, f"{_where(location)}: {_message(error)}.")
        problems.raise_any()
        raise
    return settings, loaded.declared
