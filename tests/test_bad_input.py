"""Hostile and broken input gets the contract's answer: one sentence, never a traceback,
never a 500, never a hung worker, never the offending value quoted back.

Bodies that cannot be read (nested past any sane depth, not UTF-8) are 422
``invalid_request``; a parameter holding a lone UTF-16 surrogate is 400 ``bad_param``
naming the parameter; a SQLite path that is not a regular file is refused before it is
opened.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient

from tests.conftest import assert_error

# Waiting for a request that may hang on today's code: far longer than any answer takes on
# a loaded two-core machine, short enough that a hang fails the test instead of the run.
HANG_BOUND_S = 30.0


def post_raw(client: TestClient, path: str, raw: bytes) -> httpx.Response:
    return client.post(path, content=raw, headers={"Content-Type": "application/json"})


# bodies that cannot be read ------------------------------------------------------------------


@pytest.mark.parametrize(
    "raw",
    [
        b"[" * 100_000 + b"]" * 100_000,
        b'{"sql": "SELECT 1", "params": {"p": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}",
        b'{"sql": ' + b'{"a": ' * 50_000 + b"1" + b"}" * 50_000 + b"}",
    ],
    ids=["array", "in-params", "objects"],
)
def test_deeply_nested_json_is_422(client: TestClient, raw: bytes) -> None:
    detail = assert_error(
        post_raw(client, "/connections/sample/query", raw), 422, "invalid_request"
    )
    assert "nest" in detail.lower() or "json" in detail.lower()


@pytest.mark.parametrize(
    "raw",
    [
        b'{"sql": "SELECT \xff"}',
        b'{"sql": "SELECT \xc0\xaf"}',  # an overlong encoding of "/"
        b'{"sql": "SELECT \xed\xa0\x80"}',  # a surrogate encoded as if it were a character
        b'{"sql": "SELECT \xe2\x82"}',  # a character cut short
        b'{"sql": "SELECT 1", "params": {"\xfe": 1}}',
    ],
    ids=["ff", "overlong", "cesu", "truncated", "in-a-key"],
)
def test_invalid_utf8_body_is_422(client: TestClient, raw: bytes) -> None:
    detail = assert_error(
        post_raw(client, "/connections/sample/query", raw), 422, "invalid_request"
    )
    assert "utf-8" in detail.lower()


def test_other_unreadable_bodies_are_422(client: TestClient) -> None:
    for raw in (b"", b"{", b'{"sql": "SELECT 1"', b"\x00", b'{"sql": NaN}', b"nul"):
        response = post_raw(client, "/connections/sample/query", raw)
        assert_error(response, 422, "invalid_request")


def _nested(depth: int) -> bytes:
    return b"[" * depth + b"]" * depth


@pytest.mark.parametrize(
    ("path", "raw", "named"),
    [
        (
            "/saved-queries",
            b'{"name": "n1", "connection": "sample", "sql": "SELECT 1", '
            b'"widget": {"type": "table", "x": ' + _nested(600) + b"}}",
            "widget.x",
        ),
        (
            "/saved-queries",
            b'{"name": "n2", "connection": "sample", "sql": "SELECT :p", '
            b'"params": [{"name": "p", "options": [' + _nested(600) + b"]}]}",
            "params.0.options",
        ),
        (
            "/saved-queries",
            b'{"name": "n3", "connection": "sample", "sql": "SELECT 1", '
            b'"widget": {"type": "table", "x": ' + _nested(40) + b"}}",
            "widget.x",
        ),
        (
            "/connections",
            b'{"name": "n4", "kind": "mysql", "options": {"host": "h", "user": "u", '
            b'"ssl": {"ca": ' + _nested(300) + b"}}}",
            "options.ssl.ca",
        ),
    ],
    ids=["widget-600", "param-options-600", "widget-40", "options-300"],
)
def test_values_nested_past_any_use_are_422(
    client: TestClient, path: str, raw: bytes, named: str
) -> None:
    detail = assert_error(post_raw(client, path, raw), 422, "invalid_request")
    assert named in detail and "deeper" in detail, detail
    assert client.get("/saved-queries").json() == []
    assert client.get("/widgets.json").status_code == 200


# lone surrogates -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "escaped",
    ["\\ud800", "\\udc80", "abc\\udfffdef", "\\udc00\\ud800", "\\ud83d", "x\\ude00"],
)
def test_parameter_with_a_lone_surrogate_is_400_bad_param(client: TestClient, escaped: str) -> None:
    raw = b'{"sql": "SELECT :word AS w", "params": {"word": "' + escaped.encode() + b'"}}'
    response = post_raw(client, "/connections/sample/query", raw)
    detail = assert_error(response, 400, "bad_param")
    assert "'word'" in detail
    text = response.text.lower()
    assert "ud8" not in text and "udc" not in text and "udf" not in text and "ude" not in text
    assert "\\u" not in response.text and "abc" not in detail and "def" not in detail


def test_a_valid_surrogate_pair_is_an_ordinary_character(client: TestClient) -> None:
    raw = b'{"sql": "SELECT :word AS w", "params": {"word": "\\ud83d\\ude00"}}'
    response = post_raw(client, "/connections/sample/query", raw)
    assert response.status_code == 200, response.text
    assert response.json()["rows"] == [["\U0001f600"]]


def test_lone_surrogates_elsewhere_are_refused_by_name(client: TestClient) -> None:
    cases: list[tuple[str, bytes, int, str, str]] = [
        ("/connections/sample/query", b'{"sql": "SELECT \'\\ud800\'"}', 422, "invalid_request",
         "sql"),
        ("/connections/sample/export", b'{"sql": "SELECT :p", "params": {"p": "\\ud800"}}', 400,
         "bad_param", "'p'"),
        ("/omni/sample", b'{"prompt": "SELECT \'\\ud800\'"}', 200, "", "sql"),
        ("/connections", b'{"name": "s", "kind": "sqlite", "options": {"path": "/tmp/\\ud800"}}',
         422, "invalid_request", "options.path"),
        ("/connections", b'{"name": "m", "kind": "mysql", "options": {"host": "h", "user": '
         b'"\\ud800"}, "secret": "x"}', 422, "invalid_request", "options.user"),
        ("/connections/test", b'{"kind": "mysql", "options": {"host": "h", "user": "u"}, '
         b'"secret": "pw\\ud800"}', 422, "invalid_request", "secret"),
        ("/saved-queries", b'{"name": "s1", "connection": "sample", "sql": "SELECT 1", '
         b'"description": "\\udfff"}', 422, "invalid_request", "description"),
        ("/saved-queries", b'{"name": "s2", "connection": "sample", "sql": "SELECT :a", '
         b'"params": [{"name": "a", "default": "\\udfff"}]}', 422, "invalid_request",
         "params.0.default"),
        ("/saved-queries", b'{"name": "s3", "connection": "sample", "sql": "SELECT 1", '
         b'"widget": {"type": "table", "\\ud800": 1}}', 422, "invalid_request", "widget"),
    ]  # fmt: skip
    for path, raw, status, code, named in cases:
        response = post_raw(client, path, raw)
        if status == 200:  # the omni widget shows its errors as text
            assert response.status_code == 200, response.text
            content = response.json()["content"]
            assert isinstance(content, str) and "sql_error" in content, content
            continue
        detail = assert_error(response, status, code)
        assert named in detail.lower(), (path, detail)
        assert "\\u" not in response.text and "ud8" not in response.text, response.text
    names = [q["name"] for q in client.get("/saved-queries").json()]
    assert names == []
    assert [c["name"] for c in client.get("/connections").json()] == ["sample"]


def test_saved_run_and_widget_parameters_with_lone_surrogates(client: TestClient) -> None:
    saved = {
        "name": "echo",
        "connection": "sample",
        "sql": "SELECT :word AS w",
        "params": [{"name": "word", "type": "text", "default": "hi"}],
    }
    assert client.post("/saved-queries", json=saved).status_code == 201
    raw = b'{"params": {"word": "\\ud800"}}'
    detail = assert_error(post_raw(client, "/saved-queries/echo/run", raw), 400, "bad_param")
    assert "'word'" in detail
    # A query string cannot carry a surrogate: undecodable bytes become U+FFFD, a character.
    response = client.get("/widgets/echo?word=%ED%A0%80")
    assert response.status_code == 200, response.text


# SQLite paths that are not regular files -----------------------------------------------------


def _bounded(call: Any, fifo: Path) -> httpx.Response:
    """``call()``'s answer; if none comes within HANG_BOUND_S, free the worker and fail."""
    answers: list[httpx.Response] = []
    worker = threading.Thread(target=lambda: answers.append(call()))
    worker.start()
    worker.join(HANG_BOUND_S)
    if worker.is_alive():
        _free(worker, fifo)
        pytest.fail(f"the request hung on a FIFO for {HANG_BOUND_S} s")
    return answers[0]


def _free(worker: threading.Thread, fifo: Path) -> None:
    """Feed junk to whoever reads ``fifo`` until ``worker`` ends (a server stuck on it)."""
    for _ in range(200):
        try:
            descriptor = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK)
        except OSError:  # no reader yet
            descriptor = None
        if descriptor is not None:
            with contextlib.suppress(OSError):
                os.write(descriptor, b"x" * 4096)
            os.close(descriptor)
        worker.join(0.1)
        if not worker.is_alive():
            return


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
def test_database_path_that_is_a_fifo_is_refused_without_opening_it(
    client: TestClient, tmp_path: Path, kind: str
) -> None:
    fifo = tmp_path / "pipe.db"
    os.mkfifo(fifo)
    link = tmp_path / "link.db"
    link.symlink_to(fifo)
    for path in (fifo, link):
        for endpoint in ("/connections", "/connections/test"):
            body = {"name": "fifo", "kind": kind, "options": {"path": str(path)}}
            answer = _bounded(lambda: client.post(endpoint, json=body), fifo)  # noqa: B023
            detail = assert_error(answer, 422, "invalid_request")
            assert "regular file" in detail, detail
    assert "fifo" not in [c["name"] for c in client.get("/connections").json()]


def test_sqlite_path_that_is_a_device_or_socket_is_refused(
    client: TestClient, tmp_path: Path
) -> None:
    unix = tmp_path / "sock.db"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(unix))
    try:
        for path in ("/dev/null", "/dev/zero", str(unix)):
            body = {"name": "dev", "kind": "sqlite", "options": {"path": path}}
            detail = assert_error(client.post("/connections", json=body), 422, "invalid_request")
            assert "regular file" in detail, detail
    finally:
        listener.close()


def test_sqlite_file_swapped_for_a_fifo_after_saving_does_not_hang(
    client: TestClient, tmp_path: Path
) -> None:
    import sqlite3

    db = tmp_path / "swap.db"
    sqlite3.connect(db).close()
    body = {"name": "swap", "kind": "sqlite", "options": {"path": str(db)}}
    assert client.post("/connections", json=body).status_code == 201
    db.unlink()
    os.mkfifo(db)
    answer = _bounded(lambda: client.post("/connections/swap/query", json={"sql": "SELECT 1"}), db)
    detail = assert_error(answer, 502, "db_unavailable")
    assert "regular file" in detail


# values the store cannot keep, paths the system cannot look at, dates past the calendar ------


@pytest.mark.parametrize(
    ("path", "body", "named"),
    [
        (
            "/saved-queries",
            {
                "name": "big",
                "connection": "sample",
                "sql": "SELECT :n",
                "params": [{"name": "n", "type": "number", "default": 10**30}],
            },
            "params.0.default",
        ),
        (
            "/saved-queries",
            {
                "name": "big",
                "connection": "sample",
                "sql": "SELECT 1",
                "widget": {"type": "table", "height": -(10**20)},
            },
            "widget.height",
        ),
        (
            "/connections?test=false",
            {"name": "big", "kind": "mysql", "options": {"host": "h", "user": "u", "port": 10**20}},
            "options.port",
        ),
    ],
    ids=["param-default", "widget", "option"],
)
def test_whole_numbers_past_64_bits_in_saved_things_are_422(
    client: TestClient, path: str, body: dict[str, Any], named: str
) -> None:
    detail = assert_error(client.post(path, json=body), 422, "invalid_request")
    assert named in detail, detail


@pytest.mark.parametrize(
    ("path", "words"),
    [
        ("9" * 400, "cannot be read"),
        ("/tmp/" + "d/" * 3000 + "x.db", "cannot be read"),
        ("~no-such-user-here/x.db", "home"),
        ("/tmp/a\nb.db", "no file"),
        ("/tmp/\x1b[31mred.db", "no file"),
    ],
    ids=["name-too-long", "path-too-long", "unknown-home", "newline", "escape"],
)
def test_sqlite_paths_the_system_refuses_are_422_in_one_line(
    client: TestClient, path: str, words: str
) -> None:
    body = {"name": "odd", "kind": "sqlite", "options": {"path": path}}
    detail = assert_error(client.post("/connections", json=body), 422, "invalid_request")
    assert words in detail and "\x1b" not in detail, detail


@pytest.mark.parametrize(
    "value",
    ["$currentDate+9999y", "$currentDate-9999y", "$currentDate+8000y"],
)
def test_relative_dates_past_the_calendar_are_400_bad_param(client: TestClient, value: str) -> None:
    saved = {
        "name": "when",
        "connection": "sample",
        "sql": "SELECT :d AS d",
        "params": [{"name": "d", "type": "date", "default": "$currentDate"}],
    }
    assert client.post("/saved-queries", json=saved).status_code == 201
    run = client.post("/saved-queries/when/run", json={"params": {"d": value}})
    assert "'d'" in assert_error(run, 400, "bad_param")
    assert "'d'" in assert_error(client.get("/widgets/when", params={"d": value}), 400, "bad_param")
    default = {
        **saved,
        "name": "when2",
        "params": [{"name": "d", "type": "date", "default": value}],
    }
    assert_error(client.post("/saved-queries", json=default), 400, "bad_param")


@pytest.mark.parametrize(
    "sql", ["SELECT randomblob(1000000000) AS b", "SELECT zeroblob(100000000) AS b"]
)
def test_sqlite_values_past_64_mib_are_400_not_gigabytes_of_memory(
    client: TestClient, sql: str
) -> None:
    # SQLite's own limit is 1 GB a value: one such query would hold gigabytes of the
    # server's memory as bytes, base64 and JSON.
    detail = assert_error(
        client.post("/connections/sample/query", json={"sql": sql}), 400, "sql_error"
    )
    assert "64 MiB" in detail
    exported = client.post("/connections/sample/export", json={"sql": sql})
    assert "64 MiB" in assert_error(exported, 400, "sql_error")
    # Ordinary large values still come back whole.
    answer = client.post(
        "/connections/sample/query", json={"sql": "SELECT length(randomblob(5000000)) AS n"}
    )
    assert answer.status_code == 200 and answer.json()["rows"] == [[5000000]]
