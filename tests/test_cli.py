"""The headless CLI: query, export, connections, key, and exit codes by kind of failure."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import orjson
import pytest
from click.testing import CliRunner, Result

from connector.cli import main


@pytest.fixture
def run(tmp_path: Path, sample_db: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    monkeypatch.setenv("CONNECTOR_SECRET_STORE", "file")
    monkeypatch.setenv("CONNECTOR_SAMPLE", "false")
    data_dir = tmp_path / "data"
    runner = CliRunner()

    def invoke(*args: str, input: str | None = None) -> Result:
        return runner.invoke(
            main, ["--data-dir", str(data_dir), *args], input=input, catch_exceptions=False
        )

    added = invoke("connections", "add", "sample", "--kind", "sqlite", "-o", f"path={sample_db}")
    assert added.exit_code == 0, added.output
    return invoke


def test_cli_query_prints_a_table(run) -> None:  # type: ignore[no-untyped-def]
    result = run(
        "query",
        "-c",
        "sample",
        "SELECT symbol, sector FROM tickers ORDER BY symbol",
        "--limit",
        "3",
    )
    assert result.exit_code == 0, result.output
    assert "symbol" in result.output and "sector" in result.output and "ABF" in result.output
    assert "3 rows" in result.output and "truncated" in result.output


def test_cli_query_formats(run) -> None:  # type: ignore[no-untyped-def]
    sql = "SELECT symbol, date, close FROM daily_prices WHERE symbol = :s ORDER BY date LIMIT 2"
    as_json = orjson.loads(run("query", "-c", "sample", sql, "-p", "s=ABF", "-f", "json").stdout)
    assert as_json["rows"][0]["symbol"] == "ABF" and as_json["rows"][0]["date"] == "2015-01-01"
    csv_lines = run("query", "-c", "sample", sql, "-p", "s=ABF", "-f", "csv").stdout.splitlines()
    assert csv_lines[0] == "symbol,date,close" and len(csv_lines) == 3
    ndjson = run("query", "-c", "sample", sql, "-p", "s=ABF", "-f", "ndjson").stdout.splitlines()
    assert [orjson.loads(line)["date"] for line in ndjson] == ["2015-01-01", "2015-01-02"]


def test_cli_export_streams_to_a_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "prices.csv"
    result = run(
        "export", "-c", "sample", "SELECT * FROM daily_prices WHERE symbol = 'ABF'", "-o", str(out)
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0] == "symbol,date,open,high,low,close,volume" and len(lines) == 2610
    assert "wrote 2,609 rows" in result.output
    assert not list(tmp_path.glob(".*.part"))
    as_ndjson = tmp_path / "prices.ndjson"
    assert (
        run("export", "-c", "sample", "SELECT * FROM tickers", "-o", str(as_ndjson)).exit_code == 0
    )
    assert len(as_ndjson.read_text().splitlines()) == 50


def test_cli_failed_export_leaves_no_file(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    out = tmp_path / "bad.csv"
    result = run("export", "-c", "sample", "SELEC nonsense", "-o", str(out))
    assert result.exit_code == 3
    assert not out.exists() and not list(tmp_path.glob(".*.part"))


def test_cli_connections_add_list_test_remove(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    db = tmp_path / "mine.db"
    sqlite3.connect(db).close()
    assert run("connections", "add", "mine", "--kind", "sqlite", "-o", f"path={db}").exit_code == 0
    listed = run("connections", "list").output
    assert "mine" in listed and "sample" in listed
    tested = run("connections", "test", "mine")
    assert tested.exit_code == 0 and "SQLite 3." in tested.output
    assert run("connections", "add", "mine", "--kind", "sqlite", "-o", f"path={db}").exit_code == 3
    assert run("connections", "remove", "mine").exit_code == 0
    assert run("connections", "remove", "mine").exit_code == 4


def test_cli_exit_codes_by_kind_of_failure(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    bad_sql = run("query", "-c", "sample", "SELEC 1")
    assert bad_sql.exit_code == 3 and "syntax error" in bad_sql.stderr
    assert len(bad_sql.stderr.strip().splitlines()) == 1
    assert run("query", "-c", "sample", "DELETE FROM tickers").exit_code == 3
    assert run("query", "-c", "nowhere", "SELECT 1").exit_code == 4
    assert run("query", "SELECT 1").exit_code == 2  # no -c: bad usage
    assert run("query", "-c", "sample", "SELECT :x", "-p", "novalue").exit_code == 2
    slow = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
    assert run("query", "-c", "sample", slow, "--timeout", "0.3").exit_code == 6
    gone = tmp_path / "gone.db"
    sqlite3.connect(gone).close()
    assert (
        run("connections", "add", "gone", "--kind", "sqlite", "-o", f"path={gone}").exit_code == 0
    )
    gone.unlink()
    gone.mkdir()
    unavailable = run("query", "-c", "gone", "SELECT 1")
    assert unavailable.exit_code == 5, unavailable.output
    missing = run(
        "connections", "add", "x", "--kind", "sqlite", "-o", f"path={tmp_path / 'nope.db'}"
    )
    assert missing.exit_code == 3 and "no file" in missing.stderr


def test_cli_key_show_and_rotate(run, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    shown = run("key", "show").stdout.strip()
    assert shown.startswith("dc_") and shown == (tmp_path / "data" / "api_key").read_text().strip()
    rotated = run("key", "rotate").stdout.strip()
    assert rotated != shown and run("key", "show").stdout.strip() == rotated


def test_cli_version() -> None:
    result = CliRunner().invoke(main, ["--version"])
    assert result.exit_code == 0 and "data-connector" in result.output
