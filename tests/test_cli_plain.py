"""The CLI as a person meets it: errors are one plain line (database text is never read
as markup), name what to change, and carry the documented exit code; --data-dir works
before or after the command."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from connector.cli import main


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def run(data_dir: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONNECTOR_SECRET_STORE", "file")
    monkeypatch.setenv("CONNECTOR_SAMPLE", "false")
    runner = CliRunner()

    def invoke(*args: str) -> Result:
        return runner.invoke(main, ["--data-dir", str(data_dir), *args])

    assert (
        invoke(
            "connections", "add", "sample", "--kind", "sqlite", "-o", f"path={sample_db}"
        ).exit_code
        == 0
    )
    return invoke


def _one_error_line(result: Result) -> str:
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1, result.output
    assert lines[0].startswith("error: ") and "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize("text", ["[close]", "[/x]", "[bold red]loud[/]", "[link=http://e]x"])
def test_cli_database_text_is_printed_as_it_is(run, text: str) -> None:  # type: ignore[no-untyped-def]
    # SQLite quotes the unexpected literal in its message: near "'[close]'": syntax error
    result = run("query", "-c", "sample", f"SELECT 1 AS a '{text}'")
    assert result.exit_code == 3
    assert f"'{text}'" in _one_error_line(result)


def test_cli_table_cells_are_not_markup(run) -> None:  # type: ignore[no-untyped-def]
    result = run("query", "-c", "sample", "SELECT '[bold]x[/bold] [close]' AS t, 1 AS n")
    assert result.exit_code == 0
    assert "[bold]x[/bold] [close]" in result.stdout
    assert "1 row in" in result.output and "1 rows" not in result.output


@pytest.mark.parametrize("where", ["before", "after"])
def test_cli_data_dir_before_or_after_the_command(tmp_path: Path, where: str) -> None:
    folder = tmp_path / where
    args = ["key", "show"]
    argv = (
        ["--data-dir", str(folder), *args]
        if where == "before"
        else [*args, "--data-dir", str(folder)]
    )
    result = CliRunner().invoke(main, argv)
    assert result.exit_code == 0, result.output
    assert (folder / "api_key").read_text().strip() == result.output.strip()


def test_cli_bad_setting_names_its_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("CONNECTOR_ROW_LIMIT", "lots")
    result = CliRunner().invoke(main, ["--data-dir", str(tmp_path), "query", "-c", "x", "SELECT 1"])
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "CONNECTOR_ROW_LIMIT" in line and "validation error" not in line


def test_cli_bad_connection_name_is_a_sentence(run) -> None:  # type: ignore[no-untyped-def]
    result = run("connections", "add", "bad name!", "--kind", "sqlite", "-o", "path=x.db")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "connection name" in line and "pydantic" not in line and "http" not in line


def test_cli_export_into_a_missing_folder_says_so_before_running(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "no" / "such" / "folder" / "out.csv"
    result = run("export", "-c", "sample", "SELECT * FROM tickers", "-o", str(target))
    assert result.exit_code == 2
    assert "does not exist" in _one_error_line(result)
    assert not target.parent.exists()


@pytest.mark.parametrize("name", ["t.xlsx", "t", "t.parquet.gz"])
def test_cli_export_refuses_an_unknown_extension(run, tmp_path: Path, name: str) -> None:  # type: ignore[no-untyped-def]
    result = run("export", "-c", "sample", "SELECT * FROM tickers", "-o", str(tmp_path / name))
    assert result.exit_code == 2
    assert "--format" in _one_error_line(result)
    assert not (tmp_path / name).exists()


def test_cli_export_format_flag_wins_over_the_extension(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    target = tmp_path / "t.txt"
    result = run(
        "export", "-c", "sample", "SELECT symbol FROM tickers", "-o", str(target), "-f", "ndjson"
    )
    assert result.exit_code == 0, result.output
    assert target.read_text().splitlines()[0].startswith('{"symbol":')


def test_cli_saved_run_refuses_an_unknown_parameter(run) -> None:  # type: ignore[no-untyped-def]
    added = run(
        "saved", "add", "by_sector", "-c", "sample",
        "--sql", "SELECT symbol FROM tickers WHERE sector = :sector", "-p", "sector=Energy",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    result = run("saved", "run", "by_sector", "-p", "sectr=Utilities")
    assert result.exit_code == 2
    line = _one_error_line(result)
    assert "'sectr'" in line and "sector" in line


def test_cli_saved_add_types_boolean_and_number_defaults(run, data_dir: Path) -> None:  # type: ignore[no-untyped-def]
    added = run(
        "saved", "add", "flags", "-c", "sample",
        "--sql", "SELECT :on AS on_flag, :n AS n", "-p", "on:boolean=true", "-p", "n:number=2.5",
    )  # fmt: skip
    assert added.exit_code == 0, added.output
    ran = run("saved", "run", "flags", "-f", "json")
    assert '"on_flag":1' in ran.stdout.replace(" ", "")  # SQLite binds True as 1
    with sqlite3.connect(data_dir / "connector.db") as db:
        body = db.execute("SELECT body FROM saved_queries WHERE name = 'flags'").fetchone()[0]
    assert '"default":true' in body.replace(" ", "") and '"default":2.5' in body.replace(" ", "")


def test_cli_query_limit_above_the_maximum_is_said(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONNECTOR_MAX_ROW_LIMIT", "5")
    result = run(
        "query", "-c", "sample", "SELECT symbol FROM tickers", "--limit", "50", "-f", "csv"
    )
    assert result.exit_code == 0
    assert "above the maximum of 5" in result.stderr
    assert "stopped at 5 rows" in result.stderr
    assert len(result.stdout.splitlines()) == 6  # the header and five rows


def test_cli_schema_lists_tables_and_columns(run) -> None:  # type: ignore[no-untyped-def]
    result = run("schema", "sample", "-f", "json")
    assert result.exit_code == 0, result.output
    tables = {t["name"]: t for s in orjson.loads(result.stdout)["schemas"] for t in s["tables"]}
    assert {"tickers", "daily_prices"} <= tables.keys()
    assert "symbol" in {c["name"] for c in tables["tickers"]["columns"]}
    assert run("schema", "nope").exit_code == 4


def test_cli_history_shows_past_queries_without_values(run) -> None:  # type: ignore[no-untyped-def]
    assert (
        run(
            "query", "-c", "sample", "SELECT * FROM tickers WHERE symbol = :s", "-p", "s=ZZTOP"
        ).exit_code
        == 0
    )
    assert run("query", "-c", "sample", "SELEC nope").exit_code == 3
    result = run("history", "-f", "json")
    assert result.exit_code == 0, result.output
    entries = orjson.loads(result.stdout)
    assert [e["outcome"] for e in entries[:2]] == ["sql_error", "ok"]
    assert entries[1]["client"] == "cli" and "ZZTOP" not in result.stdout
    assert "sql_error" in run("history").stdout


def test_cli_a_missing_driver_names_its_extra_intact(run, monkeypatch: pytest.MonkeyPatch) -> None:  # type: ignore[no-untyped-def]
    import sys

    import connector.backends as registry

    monkeypatch.setitem(sys.modules, "connector.backends.snowflake", None)  # as if not installed
    monkeypatch.delitem(registry._LOADED, "snowflake", raising=False)
    result = run(
        "connections", "add", "sf", "--kind", "snowflake", "-o", "account=a", "-o", "user=u"
    )
    assert result.exit_code == 2
    assert "pip install 'data-connector[snowflake]'" in _one_error_line(result)


def test_cli_the_plain_install_brings_the_mysql_and_postgresql_drivers() -> None:
    import tomllib

    pyproject = tomllib.loads(
        (Path(__file__).resolve().parent.parent / "pyproject.toml").read_text()
    )
    needs = " ".join(pyproject["project"]["dependencies"])
    assert "PyMySQL" in needs and "psycopg" in needs


def test_cli_numbers_are_right_aligned(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "query", "-c", "sample", "SELECT 'x' AS word, 12345 AS n UNION ALL SELECT 'longer', 7"
    )
    assert result.exit_code == 0, result.output
    cells = [line.split("│")[2] for line in result.stdout.splitlines() if line.count("│") == 3]
    values = [cell for cell in cells if cell.strip() in ("12345", "7")]
    assert len(values) == 2, result.stdout
    # Right-aligned: both numbers end in the same column.
    assert len(values[0].rstrip()) == len(values[1].rstrip())
