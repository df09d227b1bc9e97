"""Every query a user asks for is in history, however it was asked and however it ended:
``/query`` (ok, bad SQL, a guard refusal, a timeout, a cancel), exports, saved-query runs
(also refused for an unknown parameter or a bad value before running), widget GETs and
SSRM POSTs, table widgets, the omni SQL widget, MCP tool calls and the CLI's in-process
``query``, ``export`` and ``saved run``. Each entry is read back twice, from ``GET /history``
and from ``data-connector history -f plain``, and every field is checked: connection, SQL,
start, duration, rows, outcome, client origin (the page's Origin, else the peer, else
``cli``/``mcp``) and caller. A canary parameter value is sent on every path and must appear
nowhere: not in either history view and not in any file of the data folder."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from connector.cli import main
from connector.runtime import Runtime
from tests.conftest import LiveServer, assert_error, wait_until
from tests.test_mcp import call

CANARY = "CANARY-51c0-VALUE"
ORIGIN = "http://localhost:1420"
SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"
FIELDS = {
    "query_id",
    "connection",
    "sql",
    "started_at",
    "duration_ms",
    "row_count",
    "outcome",
    "error_code",
    "client",
    "caller",
}
# How long a slow query takes to show in GET /queries on a loaded machine (a hang guard).
SHOWS_UP_S = 30.0


@pytest.fixture
def audited(client: TestClient, runtime: Runtime) -> TestClient:
    saved = {
        "name": "closes",
        "connection": "sample",
        "sql": "SELECT date, close FROM daily_prices WHERE symbol = :symbol ORDER BY date",
        "params": [
            {"name": "symbol", "type": "ticker", "default": "ABF"},
        ],
    }
    assert client.post("/saved-queries", json=saved).status_code == 201
    paged = {**saved, "name": "closes_paged", "widget": {"type": "ssrm_table"}}
    assert client.post("/saved-queries", json=paged).status_code == 201
    counted = {
        "name": "counted",
        "connection": "sample",
        "sql": "SELECT count(*) AS n FROM daily_prices WHERE close > :floor",
        "params": [{"name": "floor", "type": "number", "default": 0}],
    }
    assert client.post("/saved-queries", json=counted).status_code == 201
    return client


def _history(client: TestClient) -> list[dict[str, Any]]:
    answer = client.get("/history", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    entries: list[dict[str, Any]] = answer.json()
    assert CANARY not in answer.text
    return entries


def _plain_history(data_dir: Path) -> list[dict[str, str]]:
    """``data-connector history -f plain``, parsed: a header, then one line a query."""
    result = CliRunner().invoke(
        main, ["--data-dir", str(data_dir), "history", "--limit", "1000", "-f", "plain"]
    )
    assert result.exit_code == 0, result.output
    assert CANARY not in result.output
    header, *lines = result.output.splitlines()
    names = header.split("\t")
    assert set(names) == FIELDS
    return [dict(zip(names, line.split("\t"), strict=True)) for line in lines]


def _one(entries: list[dict[str, Any]], sql_part: str) -> dict[str, Any]:
    found = [entry for entry in entries if sql_part in entry["sql"]]
    assert len(found) == 1, (sql_part, found)
    return found[0]


def _check(
    runtime: Runtime,
    client: TestClient,
    sql_part: str,
    *,
    outcome: str,
    rows: int | None,
    origin: str,
    caller: str = "api_key",
    connection: str = "sample",
) -> dict[str, Any]:
    """The entry whose SQL holds ``sql_part``, checked field by field in both views."""
    entry = _one(_history(client), sql_part)
    assert set(entry) == FIELDS
    assert entry["query_id"].startswith("q_")
    assert entry["connection"] == connection
    started = datetime.fromisoformat(entry["started_at"])
    assert started.tzinfo is not None
    assert timedelta(0) <= datetime.now(UTC) - started < timedelta(minutes=10)
    assert isinstance(entry["duration_ms"], int | float) and entry["duration_ms"] >= 0
    assert entry["row_count"] == rows
    assert entry["outcome"] == outcome
    assert entry["error_code"] == (None if outcome == "ok" else outcome)
    assert entry["client"] == origin
    assert entry["caller"] == caller
    plain = _one(_plain_history(runtime.settings.data_dir), sql_part)
    assert plain == {
        name: "" if value is None else " ".join(str(value).split()) for name, value in entry.items()
    }
    for path in runtime.settings.data_dir.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
    return entry


def test_audit_query_ok_and_bad_sql_and_guard_refusal(
    audited: TestClient, runtime: Runtime
) -> None:
    headers = {"Origin": ORIGIN}
    ok = audited.post(
        "/connections/sample/query",
        json={
            "sql": "SELECT symbol FROM tickers WHERE symbol <> :s /*ok*/",
            "params": {"s": CANARY},
        },
        headers=headers,
    )
    assert ok.status_code == 200, ok.text
    bad = audited.post(
        "/connections/sample/query",
        json={"sql": "SELEC :s /*bad*/", "params": {"s": CANARY}},
    )
    assert_error(bad, 400, "sql_error")
    refused = audited.post(
        "/connections/sample/query",
        json={"sql": "DELETE FROM tickers WHERE symbol = :s /*guard*/", "params": {"s": CANARY}},
        headers=headers,
    )
    assert_error(refused, 400, "read_only")
    _check(runtime, audited, "/*ok*/", outcome="ok", rows=50, origin=ORIGIN)
    # No Origin header: the peer's address (TestClient's is "testclient").
    _check(runtime, audited, "/*bad*/", outcome="sql_error", rows=None, origin="testclient")
    _check(runtime, audited, "/*guard*/", outcome="read_only", rows=None, origin=ORIGIN)


def test_audit_timeout_and_cancel(audited: TestClient, runtime: Runtime) -> None:
    timed_out = audited.post(
        "/connections/sample/query",
        json={"sql": SLOW_SQL + " /*timeout*/", "timeout_s": 1},
    )
    assert_error(timed_out, 504, "timeout")
    results: dict[str, Any] = {}

    def slow() -> None:
        results["r"] = audited.post(
            "/connections/sample/query", json={"sql": SLOW_SQL + " /*cancel*/"}
        )

    worker = threading.Thread(target=slow)
    worker.start()
    wait_until(lambda: audited.get("/queries").json() != [], within_s=SHOWS_UP_S, what="the query")
    running = audited.get("/queries").json()
    assert audited.delete(f"/queries/{running[0]['query_id']}").status_code == 204
    worker.join(timeout=30)
    assert_error(results["r"], 499, "cancelled")
    _check(runtime, audited, "/*timeout*/", outcome="timeout", rows=None, origin="testclient")
    entry = _check(
        runtime, audited, "/*cancel*/", outcome="cancelled", rows=None, origin="testclient"
    )
    assert entry["query_id"] == running[0]["query_id"]


def test_audit_export(audited: TestClient, runtime: Runtime) -> None:
    answer = audited.post(
        "/connections/sample/export?format=csv",
        json={
            "sql": "SELECT symbol FROM tickers WHERE symbol <> :s /*export*/",
            "params": {"s": CANARY},
        },
        headers={"Origin": ORIGIN},
    )
    assert answer.status_code == 200 and answer.text.count("\n") == 51
    _check(runtime, audited, "/*export*/", outcome="ok", rows=50, origin=ORIGIN)


def test_audit_saved_runs_and_their_refusals(audited: TestClient, runtime: Runtime) -> None:
    ran = audited.post("/saved-queries/counted/run", json={"params": {"floor": 1}})
    assert ran.status_code == 200, ran.text
    _check(runtime, audited, "close > :floor", outcome="ok", rows=1, origin="testclient")
    unknown = audited.post(
        "/saved-queries/closes/run", json={"params": {"symbl": CANARY}}, headers={"Origin": ORIGIN}
    )
    assert "symbl" in assert_error(unknown, 400, "bad_param")
    _check(runtime, audited, "symbol = :symbol", outcome="bad_param", rows=None, origin=ORIGIN)
    bad_value = audited.post("/saved-queries/counted/run", json={"params": {"floor": CANARY}})
    assert_error(bad_value, 400, "bad_param")
    entries = [e for e in _history(audited) if "close > :floor" in e["sql"]]
    assert [e["outcome"] for e in entries] == ["bad_param", "ok"]


def test_audit_widgets_ssrm_omni_and_tables(audited: TestClient, runtime: Runtime) -> None:
    headers = {"Origin": ORIGIN}
    got = audited.get("/widgets/counted", params={"floor": 10}, headers=headers)
    assert got.status_code == 200, got.text
    _check(runtime, audited, "close > :floor", outcome="ok", rows=1, origin=ORIGIN)
    page = {"startRow": 0, "endRow": 5, "symbol": "ABF"}
    posted = audited.post("/widgets/closes_paged", json=page, headers=headers)
    assert posted.status_code == 200 and len(posted.json()["rowData"]) == 5
    entries = [e for e in _history(audited) if "symbol = :symbol" in e["sql"]]
    # The page and its count from the page's origin; the server's own column probe (shared
    # by every request, cached) says it is the widgets.json probe.
    assert {e["outcome"] for e in entries} == {"ok"}
    by_origin = [e for e in entries if e["client"] == ORIGIN]
    assert len(by_origin) == 2 and sorted(e["row_count"] for e in by_origin) == [1, 5]
    assert {e["client"] for e in entries} <= {ORIGIN, "widgets.json"}
    bad = audited.get("/widgets/counted", params={"floor": CANARY}, headers=headers)
    assert_error(bad, 400, "bad_param")
    outcomes = [e["outcome"] for e in _history(audited) if "close > :floor" in e["sql"]]
    assert outcomes[0] == "bad_param"
    omni = audited.post(
        "/omni/sample", json={"prompt": "SELECT 42 AS answer /*omni*/"}, headers=headers
    )
    assert omni.status_code == 200, omni.text
    _check(runtime, audited, "/*omni*/", outcome="ok", rows=1, origin=ORIGIN)
    omni_bad = audited.post("/omni/sample", json={"prompt": "SELEC /*omni-bad*/"}, headers=headers)
    assert omni_bad.status_code == 200 and "sql_error" in omni_bad.text
    _check(runtime, audited, "/*omni-bad*/", outcome="sql_error", rows=None, origin=ORIGIN)
    on = {"tables": True, "filters": ["symbol"]}
    assert audited.put("/connections/sample/workspace", json=on).status_code == 200
    table = audited.get("/tables/sample/main__tickers", params={"symbol": "ABF"}, headers=headers)
    assert table.status_code == 200 and len(table.json()) == 1, table.text
    entry = _one(_history(audited), '"tickers"')
    assert entry["outcome"] == "ok" and entry["row_count"] == 1 and entry["client"] == ORIGIN


def test_audit_cli_query_export_and_saved_run(audited: TestClient, runtime: Runtime) -> None:
    data_dir = str(runtime.settings.data_dir)
    runner = CliRunner()

    def cli(*args: str) -> str:
        result = runner.invoke(main, ["--data-dir", data_dir, *args])
        assert CANARY not in result.output
        return result.output

    cli(
        "query",
        "-c",
        "sample",
        "-p",
        f"s={CANARY}",
        "SELECT count(*) FROM tickers WHERE symbol <> :s /*cli*/",
    )
    out = runtime.settings.data_dir.parent / "out.csv"
    cli("export", "-c", "sample", "-p", f"s={CANARY}", "-o", str(out),
        "SELECT symbol FROM tickers WHERE symbol <> :s /*cli-export*/")  # fmt: skip
    assert out.read_text().count("\n") == 51
    cli("saved", "run", "closes", "-p", f"symbl={CANARY}")
    _check(runtime, audited, "/*cli*/", outcome="ok", rows=1, origin="cli", caller=None)  # type: ignore[arg-type]
    _check(runtime, audited, "/*cli-export*/", outcome="ok", rows=50, origin="cli", caller=None)  # type: ignore[arg-type]
    refused = [e for e in _history(audited) if "symbol = :symbol" in e["sql"]]
    assert [(e["outcome"], e["client"]) for e in refused] == [("bad_param", "cli")]


def test_audit_mcp_tool_calls(live_server: LiveServer) -> None:
    _, _, results = call(
        live_server,
        (
            "run_query",
            {"connection": "sample", "sql": "SELECT :s AS v /*mcp*/", "params": {"s": CANARY}},
        ),
        ("run_query", {"connection": "sample", "sql": "DELETE FROM tickers /*mcp-guard*/"}),
    )
    assert not results[0].isError and results[1].isError
    with live_server.client() as http:
        answer = http.get("/history", params={"limit": 1000})
    assert CANARY not in answer.text
    entries = answer.json()
    ok = _one(entries, "/*mcp*/")
    assert (ok["outcome"], ok["row_count"], ok["client"], ok["caller"]) == (
        "ok",
        1,
        "mcp",
        "api_key",
    )
    refused = _one(entries, "/*mcp-guard*/")
    assert (refused["outcome"], refused["client"]) == ("read_only", "mcp")
    for path in live_server.data_dir.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path


def test_audit_dropdowns_and_their_refusals(audited: TestClient, runtime: Runtime) -> None:
    linked = {
        "name": "by_floor",
        "connection": "sample",
        "sql": "SELECT symbol FROM daily_prices WHERE close > :floor AND symbol = :pick",
        "params": [
            {"name": "floor", "type": "number", "default": 0},
            {
                "name": "pick",
                "type": "text",
                "default": "ABF",
                "options_sql": "SELECT DISTINCT symbol /*dropdown*/ FROM daily_prices "
                "WHERE close > :floor ORDER BY symbol",
            },
        ],
    }
    saved = audited.post("/saved-queries", json=linked)
    assert saved.status_code == 201, saved.text
    shown = audited.get("/widgets/by_floor/options/pick", params={"floor": 1})
    assert shown.status_code == 200 and shown.json(), shown.text
    entries = [e for e in _history(audited) if "/*dropdown*/" in e["sql"]]
    assert entries and {e["outcome"] for e in entries} == {"ok"}
    assert {e["client"] for e in entries} == {"options"}
    # A value the dependent param cannot take is refused before the options query runs,
    # and that refusal is in history too (never the value).
    bad = audited.get("/widgets/by_floor/options/pick", params={"floor": CANARY})
    assert_error(bad, 400, "bad_param")
    entries = [e for e in _history(audited) if "/*dropdown*/" in e["sql"]]
    assert entries[0]["outcome"] == "bad_param" and entries[0]["client"] == "options"
    assert entries[0]["row_count"] is None
    _plain_history(runtime.settings.data_dir)  # the CLI's view holds no canary either
    for path in runtime.settings.data_dir.rglob("*"):
        if path.is_file():
            assert CANARY.encode() not in path.read_bytes(), path
