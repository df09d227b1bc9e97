"""Database kinds describe themselves once, and everything that lists their options reads
that description: ``GET /kinds``, the CLI's ``connections add`` (choices, help, option
checks). The README's table is checked in test_docs, the desktop form in test_gui."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from connector.backends import describe_kinds, get_backend, kinds
from connector.cli import main
from connector.cli.connections import connections_add
from tests.conftest import assert_error

AVAILABLE = [info for info in describe_kinds() if info.available]


def test_kinds_endpoint_serves_every_backends_description(client: TestClient) -> None:
    response = client.get("/kinds")
    assert response.status_code == 200
    served = {item["kind"]: item for item in response.json()}
    assert list(served) == kinds()
    for info in AVAILABLE:
        item = served[info.kind]
        assert item["label"] == info.label and item["available"] is True
        assert [o["name"] for o in item["options"]] == [o.name for o in info.options]
        backend = get_backend(info.kind)
        assert item["capabilities"]["session_read_only"] == backend.enforces_read_only
        model_fields = {
            field.alias or name for name, field in backend.options_model.model_fields.items()
        }
        options = {o["name"] for o in item["options"] if not o["secret"]}
        assert options == model_fields
        assert any(o["secret"] for o in item["options"]) == (backend.secret_use != "none")


def test_kinds_endpoint_needs_the_key(client: TestClient) -> None:
    assert_error(client.get("/kinds", headers={"X-API-KEY": ""}), 401, "auth_required")


def test_kinds_option_types_defaults_and_choices_follow_the_models() -> None:
    mysql = {o.name: o for o in next(i for i in AVAILABLE if i.kind == "mysql").options}
    assert mysql["port"].type == "integer" and mysql["port"].default == 3306
    assert (mysql["port"].minimum, mysql["port"].maximum) == (1, 65535)
    assert mysql["host"].required and not mysql["database"].required
    assert mysql["ssl"].type == "object" and mysql["ssl"].advanced
    postgres = {o.name: o for o in next(i for i in AVAILABLE if i.kind == "postgresql").options}
    assert postgres["sslmode"].choices == [
        "disable", "allow", "prefer", "require", "verify-ca", "verify-full"
    ]  # fmt: skip
    sqlite = {o.name: o for o in next(i for i in AVAILABLE if i.kind == "sqlite").options}
    assert sqlite["path"].format == "path" and sqlite["path"].required
    assert all(info.options and all(o.label and o.help for o in info.options if not o.secret)
               for info in AVAILABLE)  # fmt: skip


def test_kinds_cli_choices_and_help_come_from_the_description() -> None:
    kind_option = next(p for p in connections_add.params if p.name == "kind")
    assert list(kind_option.type.choices) == kinds()  # type: ignore[attr-defined]
    result = CliRunner().invoke(main, ["connections", "add", "--help"])
    assert result.exit_code == 0
    text = " ".join(result.output.split())
    for info in AVAILABLE:
        for option in info.options:
            if not option.secret:
                assert f"{info.kind} {option.name}" in text


@pytest.fixture
def cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONNECTOR_SECRET_STORE", "file")
    monkeypatch.setenv("CONNECTOR_SAMPLE", "false")
    runner = CliRunner()

    def invoke(*args: str):  # type: ignore[no-untyped-def]
        return runner.invoke(main, ["--data-dir", str(tmp_path / "data"), *args])

    return invoke


@pytest.mark.parametrize(
    ("options", "words"),
    [
        (["-o", "host=h", "-o", "user=u", "-o", "port=abc"], "whole number"),
        (["-o", "host=h", "-o", "user=u", "-o", "ssl=[]"], "JSON object"),
        (["-o", "host=h", "-o", "user=u", "-o", "colour=blue"], "no option 'colour'"),
        (["-o", "host=h", "-o", "user=u", "-o", "secret=hunter2"], "never on the command line"),
    ],
)
def test_kinds_cli_checks_options_by_their_declared_type(cli, options, words) -> None:  # type: ignore[no-untyped-def]
    result = cli("connections", "add", "db", "--kind", "mysql", "--no-test", *options)
    assert result.exit_code == 2, result.output
    assert words in result.output and "hunter2" not in result.output


def test_kinds_cli_types_an_object_option_from_json(cli) -> None:  # type: ignore[no-untyped-def]
    result = cli(
        "connections", "add", "db", "--kind", "mysql", "--no-test",
        "-o", "host=127.0.0.1", "-o", "user=u", "-o", "port=3307", "-o", 'ssl={"verify_cert": false}',
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    listed = cli("connections", "list")
    assert "port=3307" in listed.output and "verify_cert" in listed.output
