"""The declarative configuration file: settings, keys, connections and saved queries from
TOML, secrets only from the variables and files it names, every problem with its line."""

from __future__ import annotations

import json
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import httpx
import pytest
from fastapi.testclient import TestClient

from connector.app import create_app
from connector.config_file import ConfigError, build_settings, load_config
from connector.runtime import open_runtime
from connector.toml_lines import line_of

SECRET_VALUE = "s3cr3t-value-never-shown"


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "connector.toml"
    path.write_text(text)
    return path


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", *args],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )


def test_config_file_line_of_finds_tables_arrays_and_inline_keys() -> None:
    text = (
        "[server]\n"
        "port = 1\n"
        "\n"
        "[[connections]]\n"
        'name = "a"\n'
        "[[connections]]\n"
        'name = "b"\n'
        'options = { path = "x", bogus = 1 }\n'
    )
    assert line_of(text, ("server", "port")) == 2
    assert line_of(text, ("connections", 1, "name")) == 7
    assert line_of(text, ("connections", 1, "options", "bogus")) == 8
    assert line_of(text, ("connections", 0, "missing")) == 4  # falls back to the table


def test_config_file_unknown_key_is_named_with_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\nhots = "typo"\n\n[limits]\nrow_limt = 5\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    assert caught.value.problems[0].startswith(f"{path}:3: unknown key 'hots' in server")
    assert caught.value.problems[1].startswith(f"{path}:6: unknown key 'row_limt' in limits")


def test_config_file_unknown_section_and_bad_value_have_lines(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nport = "eighty"\n\n[srever]\nhost = "x"\n')
    with pytest.raises(ConfigError) as caught:
        build_settings({}, path, {})
    problems = "\n".join(caught.value.problems)
    assert f"{path}:4: unknown section 'srever'" in problems
    path.write_text('[server]\nhost = "0.0.0.0"\nport = "eighty"\n')
    with pytest.raises(ConfigError) as caught:
        build_settings({}, path, {})
    assert caught.value.problems[0].startswith(f"{path}:3: server.port:")


def test_config_file_unset_secret_variable_is_named_without_any_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[[connections]]\n"
        'name = "wh"\n'
        'kind = "postgresql"\n'
        'options = { host = "db.internal", user = "analyst" }\n'
        'password_env = "WH_PASSWORD"\n'
        "\n[[keys]]\n"
        'name = "alice"\n'
        'key_env = "ALICE_KEY"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {"ALICE_KEY": SECRET_VALUE})
    (problem,) = caught.value.problems
    assert problem == (
        f"{path}:5: the environment variable WH_PASSWORD (connections[0].password_env) is not set."
    )
    assert SECRET_VALUE not in str(caught.value)


def test_config_file_secret_files_options_and_params_are_checked(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "[[connections]]\n"
        'name = "wh"\n'
        'kind = "postgresql"\n'
        'options = { host = "db.internal", user = "analyst", prot = 5432 }\n'
        'password_file = "missing-password.txt"\n'
        "\n[[saved_queries]]\n"
        'name = "closes"\n'
        'connection = "wh"\n'
        'sql = "SELECT * FROM prices WHERE symbol = :sym"\n',
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path, {})
    problems = "\n".join(caught.value.problems)
    assert f"{path}:5: the file {tmp_path / 'missing-password.txt'}" in problems
    assert f"{path}:4: connections[0].options.prot:" in problems
    assert f"{path}:10: saved query 'closes' uses :sym, which is not in its params." in problems


def test_config_file_precedence_flags_then_env_then_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path, "[server]\nport = 7900\nworkers = 2\n\n[limits]\nrow_limit = 50\n")
    monkeypatch.setenv("CONNECTOR_ROW_LIMIT", "60")
    settings, _ = build_settings({"port": 7901}, path)
    assert (settings.port, settings.row_limit, settings.workers) == (7901, 60, 2)
    monkeypatch.delenv("CONNECTOR_ROW_LIMIT")
    settings, _ = build_settings({}, path)
    assert (settings.port, settings.row_limit) == (7900, 50)
    assert settings.config == path


def test_config_file_declarations_are_applied_and_secrets_stay_in_memory(
    tmp_path: Path, sample_db: Path
) -> None:
    (tmp_path / "alice.key").write_text("dc_alice_key_from_a_file\n")
    path = write(
        tmp_path,
        f"""
[server]
data_dir = "data"
sample = false
secret_store = "file"
allowed_hosts = ["connector.desk.test"]

[[keys]]
name = "alice"
key_file = "alice.key"

[[keys]]
name = "bob"
key_env = "BOB_KEY"

[[connections]]
name = "prices"
kind = "sqlite"
options = {{ path = "{sample_db}" }}

[[connections]]
name = "wh"
kind = "postgresql"
options = {{ host = "db.internal", user = "analyst" }}
password_env = "WH_PASSWORD"

[[saved_queries]]
name = "latest"
connection = "prices"
sql = "SELECT symbol, close FROM daily_prices WHERE symbol = :sym ORDER BY date DESC"
params = [{{ name = "sym", type = "ticker", default = "ABF" }}]
limit = 3
""",
    )
    environ = {"BOB_KEY": "dc_bob_key_from_the_environment", "WH_PASSWORD": SECRET_VALUE}
    settings, declared = build_settings({}, path, environ)
    assert settings.data_dir == tmp_path / "data"
    for _start in range(2):  # a second start with the same file changes nothing
        runtime = open_runtime(settings, declared)
        try:
            assert runtime.connector.get_connection("wh").options["host"] == "db.internal"
            assert runtime.secrets.get("wh") == SECRET_VALUE
            app = create_app(runtime, close_runtime=False)
            with TestClient(app, base_url="http://connector.desk.test") as client:
                answer = client.get(
                    "/widgets/latest", headers={"X-API-KEY": "dc_alice_key_from_a_file"}
                )
                assert answer.status_code == 200, answer.text
                assert answer.json()[0] == {"symbol": "ABF", "close": 368.46}
                history = client.get(
                    "/history?limit=1", headers={"X-API-KEY": "dc_bob_key_from_the_environment"}
                ).json()
                assert history[0]["caller"] == "alice"
                assert (
                    client.get(
                        "/saved-queries/latest",
                        headers={"X-API-KEY": "dc_bob_key_from_the_environment"},
                    ).json()["version"]
                    == 1
                )
        finally:
            runtime.close()
    # The password went nowhere: not the secrets file, not the metadata database.
    data = settings.data_dir
    assert (
        not (data / "secrets.json").exists()
        or SECRET_VALUE not in (data / "secrets.json").read_text()
    )
    assert SECRET_VALUE.encode() not in (data / "connector.db").read_bytes()


def test_config_check_command_reports_lines_and_exit_codes(tmp_path: Path) -> None:
    path = write(tmp_path, '[server]\nhost = "0.0.0.0"\n\n[tls]\nenabeld = true\n')
    bad = cli("config", "check", str(path))
    assert bad.returncode == 2
    assert bad.stderr.strip().startswith(f"error: {path}:5: unknown key 'enabeld' in tls")
    path.write_text(
        '[server]\nhost = "0.0.0.0"\nallowed_hosts = ["connector.desk.test"]\n\n'
        '[[keys]]\nname = "alice"\nsha256 = "' + "ab" * 32 + '"\n'
    )
    good = cli("config", "check", str(path))
    assert good.returncode == 0, good.stderr
    assert "ok: 0 connections, 0 saved queries, 1 key; the local metadata file" in good.stdout


def test_config_file_serve_refuses_a_bad_file_before_anything_is_written(tmp_path: Path) -> None:
    data = tmp_path / "data"
    path = write(tmp_path, f'[server]\ndata_dir = "{data}"\nport = 7999\ncolour = "blue"\n')
    refused = cli("serve", "--config", str(path))
    assert refused.returncode == 2
    assert f"{path}:4: unknown key 'colour' in server" in refused.stderr
    assert not data.exists()


def test_config_file_every_key_is_in_the_readme_table() -> None:
    found = subprocess.run(
        [sys.executable, "scripts/config_table.py", "--check"],
        cwd=Path(__file__).resolve().parent.parent,
        capture_output=True,
        text=True,
        check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr


def test_config_file_covers_every_setting() -> None:
    from connector.config import Settings
    from connector.config_file import ENV_ONLY_SETTINGS, SETTING_KEYS

    reachable = set(SETTING_KEYS.values()) | ENV_ONLY_SETTINGS
    assert sorted(set(Settings.model_fields) - reachable) == []
    assert json.dumps(sorted(reachable - set(Settings.model_fields))) == "[]"


def test_config_file_tls_files_are_served(tmp_path: Path, sample_db: Path) -> None:
    # A team's own certificate (here: one made by another local CA) named in [tls] is the
    # one served; the check trusts only that CA, copied where start_server looks for it.
    from connector.tls import ensure_tls
    from tests.conftest import start_server, stop_server

    theirs = ensure_tls(tmp_path / "team-ca")
    data = tmp_path / "data"
    (data / "tls").mkdir(parents=True)
    shutil.copy(theirs.ca_cert, data / "tls" / "ca.pem")
    shutil.copy(sample_db, data / "sample.db")
    path = write(tmp_path, f'[tls]\ncert_file = "{theirs.cert}"\nkey_file = "{theirs.key}"\n')
    server = start_server(data, "--config", str(path), tls=True)
    try:
        trusted = ssl.create_default_context(cafile=str(theirs.ca_cert))
        assert httpx.get(f"{server.url}/health", verify=trusted).status_code == 200
        assert sorted(p.name for p in (data / "tls").iterdir()) == ["ca.pem"]  # none made
    finally:
        stop_server(server)
