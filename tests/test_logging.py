"""``serve --log-format json --log-file PATH``: a real server writes one JSON object a line
(its own lines, uvicorn's access and error lines, a line per query with its fields) to the
file, which rotates at ``LOG_FILE_MAX_BYTES`` keeping ``LOG_FILE_BACKUPS`` files, with one
process and with ``--workers 2`` sharing the file. No line holds a parameter value (a
widget GET's query string is cut) or the API key. The text format keeps uvicorn's lines
(the desktop app reads them) with a time in front in the file; a log file that cannot be
written is a one-line error at start."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import serve_refused, start_server, stop_server, wait_until

CANARY = "CANARY-2d9e-VALUE"
MAX_BYTES = 2048
BACKUPS = 30
ENV = {
    "CONNECTOR_LOG_FILE_MAX_BYTES": str(MAX_BYTES),
    "CONNECTOR_LOG_FILE_BACKUPS": str(BACKUPS),
    "CONNECTOR_SAMPLE": "false",
}


def _lines(log: Path) -> list[dict[str, Any]]:
    """Every line of the log file and its rotated files, each parsed as JSON."""
    files = sorted(log.parent.glob(log.name + "*"))
    parsed = []
    for path in files:
        if path.suffix == ".lock":
            continue
        for line in path.read_text(encoding="utf-8").splitlines():
            parsed.append(json.loads(line))  # fails the test on a line that is not JSON
    return parsed


def _traffic(server: Any, sample_db: Path, requests: int) -> None:
    saved = {
        "name": "closes",
        "connection": "sample",
        "sql": "SELECT close FROM daily_prices WHERE symbol = :symbol LIMIT 3",
        "params": [{"name": "symbol", "type": "text", "default": "ABF"}],
    }
    with server.client() as http:
        body = {"name": "sample", "kind": "sqlite", "options": {"path": str(sample_db)}}
        assert http.post("/connections", json=body).status_code == 201
        assert http.post("/saved-queries", json=saved).status_code == 201
        for number in range(requests):
            ran = http.post(
                "/connections/sample/query",
                json={"sql": "SELECT :v AS v, :n AS n", "params": {"v": CANARY, "n": number}},
            )
            assert ran.status_code == 200, ran.text
            assert http.get("/widgets/closes", params={"symbol": CANARY}).status_code == 200
        bad = http.post("/connections/sample/query", json={"sql": "SELEC :v", "params": {"v": 1}})
        assert bad.status_code == 400


def _check_lines(lines: list[dict[str, Any]], api_key: str) -> None:
    assert lines
    for line in lines:
        assert {"time", "level", "logger", "message", "pid"} <= set(line), line
        text = json.dumps(line)
        assert CANARY not in text and api_key not in text, line
    queries = [
        line for line in lines if line["logger"] == "connector.service" and "query_id" in line
    ]
    outcomes = {line["outcome"] for line in queries}
    assert {"ok", "sql_error"} <= outcomes
    for line in queries:
        assert line["query_id"].startswith("q_") and line["connection"] == "sample"
        assert isinstance(line["duration_ms"], float | int)
        if line["outcome"] != "ok":
            assert "rows" not in line  # None is left out
    assert any(line["outcome"] == "ok" and line["rows"] == 1 for line in queries)
    access = [line for line in lines if line["logger"] == "uvicorn.access"]
    assert access and all({"client", "method", "path", "status"} <= set(a) for a in access)
    widget = [a for a in access if a["path"].startswith("/widgets/closes")]
    assert widget and all(a["path"] == "/widgets/closes" for a in widget)  # no query string
    assert any(line["logger"] == "uvicorn.error" for line in lines)


@pytest.mark.parametrize("workers", [1, 2])
def test_logging_json_lines_rotate(tmp_path: Path, sample_db: Path, workers: int) -> None:
    log = tmp_path / "logs" / "connector.log"
    server = start_server(
        tmp_path / "data",
        "--log-format",
        "json",
        "--log-file",
        str(log),
        *(["--workers", str(workers)] if workers > 1 else []),
        env=ENV,
    )
    try:
        _traffic(server, sample_db, 40)
        # Lines are written as requests finish; the last ones may trail the answers.
        wait_until(
            lambda: any(line.get("outcome") == "sql_error" for line in _lines(log)),
            within_s=30,
            what="the last query's log line",
        )
    finally:
        console = stop_server(server)
    rotated = sorted(log.parent.glob("connector.log.*[0-9]"))
    assert len(rotated) >= 3, rotated  # ~40 KB of lines in 2 KB files
    assert len(rotated) <= BACKUPS
    for path in [log, *rotated]:
        # One line past the limit at most: a file rotates before the write that would pass it.
        assert path.stat().st_size <= MAX_BYTES + 2048, path
    lines = _lines(log)
    _check_lines(lines, server.api_key)
    started = {line["pid"] for line in lines if "Started server process" in line["message"]}
    assert len(started) == workers, started
    # The console too: every line a JSON object (the banner included), and no key in it.
    shown = [json.loads(line) for line in console.splitlines() if line.strip()]
    assert any(line["message"].startswith("Data Connector ") for line in shown)
    assert any("A new API key was made" in line["message"] for line in shown)
    assert CANARY not in console and server.api_key not in console


def test_logging_text_file_keeps_uvicorn_lines(tmp_path: Path, sample_db: Path) -> None:
    log = tmp_path / "connector.log"
    server = start_server(tmp_path / "data", "--log-file", str(log), env=ENV)
    try:
        _traffic(server, sample_db, 2)
    finally:
        console = stop_server(server)
    assert '"GET /widgets/closes HTTP/1.1" 200' in console  # uvicorn's line, query cut
    text = "".join(path.read_text() for path in tmp_path.glob("connector.log*[!k]"))
    assert "INFO uvicorn.access: 127.0.0.1:" in text and CANARY not in text + console
    assert "INFO connector.service: query q_" in text


def test_logging_unwritable_file_is_one_line_at_start(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    refused = serve_refused(tmp_path / "data", "--log-file", str(blocker / "x.log"), env=ENV)
    assert refused.returncode == 2, refused.stderr
    lines = [line for line in refused.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "cannot write the log file" in lines[0], refused.stderr
    assert "Traceback" not in refused.stderr + refused.stdout
