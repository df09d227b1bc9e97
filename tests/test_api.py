"""The HTTP contract for SQLite, in process: auth, Host, CORS, bodies, connections, queries,
exports, running queries, history and the error shape."""

from __future__ import annotations

import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from fastapi.testclient import TestClient

from connector.runtime import Runtime
from tests.conftest import assert_error, wait_until
from tests.test_audit import FIELDS as HISTORY_FIELDS

SLOW_SQL = "WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c) SELECT count(*) FROM c"


def query(client: TestClient, sql: str, **body: Any) -> httpx.Response:
    return client.post("/connections/sample/query", json={"sql": sql, **body})


# service, auth, host, CORS ---------------------------------------------------------------


def test_api_health_is_open(client: TestClient) -> None:
    response = client.get("/health", headers={"X-API-KEY": ""})
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "ok" and isinstance(body["version"], str) and body["uptime_s"] >= 0


def test_api_key_missing_wrong_and_bearer(client: TestClient, runtime: Runtime) -> None:
    assert_error(client.get("/connections", headers={"X-API-KEY": ""}), 401, "auth_required")
    assert_error(client.get("/connections", headers={"X-API-KEY": "nope"}), 403, "auth_invalid")
    bearer = {"X-API-KEY": "", "Authorization": f"Bearer {runtime.api_key}"}
    assert client.get("/connections", headers=bearer).status_code == 200


def test_api_every_endpoint_but_health_needs_the_key(client: TestClient) -> None:
    paths = [
        "/connections",
        "/queries",
        "/history",
        "/saved-queries",
        "/connections/sample/schema",
        "/openapi.json",
    ]
    for path in paths:
        assert_error(client.get(path, headers={"X-API-KEY": ""}), 401, "auth_required")
    response = client.post(
        "/connections/sample/query", json={"sql": "SELECT 1"}, headers={"X-API-KEY": ""}
    )
    assert_error(response, 401, "auth_required")


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1:7800", "[::1]:7800", "LOCALHOST:1"])
def test_api_local_hosts_are_allowed(client: TestClient, host: str) -> None:
    assert client.get("/health", headers={"Host": host}).status_code == 200


@pytest.mark.parametrize(
    "host", ["evil.example", "127.0.0.1.nip.io:7800", "localhost.evil.example"]
)
def test_api_other_hosts_get_421(client: TestClient, host: str) -> None:
    assert_error(client.get("/connections", headers={"Host": host}), 421, "bad_host")
    assert_error(client.get("/health", headers={"Host": host}), 421, "bad_host")


@pytest.mark.parametrize(
    "origin",
    [
        "https://pro.openbb.co",
        "https://pro.openbb.dev",
        "https://excel.openbb.co",
        "https://excel.openbb.dev",
        "http://localhost:1420",
    ],
)
def test_api_cors_preflight_for_allowed_origins(client: TestClient, origin: str) -> None:
    response = client.options(
        "/connections/sample/query",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "x-api-key, content-type",
            "Access-Control-Request-Private-Network": "true",
            "X-API-KEY": "",
        },
    )
    assert response.status_code == 204
    assert response.headers["access-control-allow-origin"] == origin
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "X-API-KEY" in response.headers["access-control-allow-headers"]
    assert response.headers["access-control-allow-private-network"] == "true"


def test_api_cors_headers_on_responses_and_errors(client: TestClient) -> None:
    origin = "https://pro.openbb.co"
    ok = client.get("/connections", headers={"Origin": origin})
    assert ok.headers["access-control-allow-origin"] == origin
    denied = client.get("/connections", headers={"Origin": origin, "X-API-KEY": "bad"})
    assert_error(denied, 403, "auth_invalid")
    assert denied.headers["access-control-allow-origin"] == origin


def test_api_other_origins_get_no_cors_headers(client: TestClient) -> None:
    evil = "https://evil.example"
    response = client.get("/connections", headers={"Origin": evil})
    assert "access-control-allow-origin" not in response.headers
    preflight = client.options(
        "/connections/sample/query",
        headers={"Origin": evil, "Access-Control-Request-Method": "POST"},
    )
    assert not any(name.startswith("access-control-") for name in preflight.headers)


def test_api_configured_origin_is_allowed(tmp_path: Path) -> None:
    from connector.app import create_app
    from connector.config import Settings
    from connector.runtime import open_runtime

    runtime = open_runtime(
        Settings(
            data_dir=tmp_path / "d",
            secret_store="file",
            sample=False,
            cors_origins=["https://intranet.example/"],
        )
    )
    try:
        with TestClient(
            create_app(runtime, close_runtime=False), base_url="http://localhost"
        ) as client:
            response = client.options(
                "/health",
                headers={
                    "Origin": "https://intranet.example",
                    "Access-Control-Request-Method": "GET",
                },
            )
            assert response.headers["access-control-allow-origin"] == "https://intranet.example"
    finally:
        runtime.close()


# bodies ---------------------------------------------------------------------------------


def test_api_form_posts_cannot_run_queries(client: TestClient) -> None:
    for content_type in [
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ]:
        response = client.post(
            "/connections/sample/query",
            content=b'{"sql": "SELECT 1"}',
            headers={"Content-Type": content_type},
        )
        assert_error(response, 415, "unsupported_media_type")


def test_api_body_over_the_limit_is_413(client: TestClient) -> None:
    huge = "SELECT '" + "x" * (10 * 1024 * 1024) + "'"
    assert_error(query(client, huge), 413, "too_large")


def test_api_chunked_body_over_the_limit_is_413(client: TestClient) -> None:
    def chunks() -> Any:
        yield b'{"sql": "SELECT \''
        for _ in range(2048):
            yield b"x" * 1024
        yield b"'\"}"

    response = client.post(
        "/connections/sample/query", content=chunks(), headers={"Content-Type": "application/json"}
    )
    assert_error(response, 413, "too_large")


def test_api_malformed_json_and_schema_errors_are_422(client: TestClient) -> None:
    response = client.post(
        "/connections/sample/query",
        content=b"{not json",
        headers={"Content-Type": "application/json"},
    )
    assert "not valid JSON" in assert_error(response, 422, "invalid_request")
    assert_error(client.post("/connections/sample/query", json={"sql": ""}), 422, "invalid_request")
    assert_error(
        client.post("/connections/sample/query", json={"limit": 5}), 422, "invalid_request"
    )
    assert_error(
        client.post("/connections/sample/query", json={"sql": "SELECT 1", "limit": -1}),
        422,
        "invalid_request",
    )
    assert_error(
        client.post("/connections/sample/query", json={"sql": "SELECT 1", "extra": 1}),
        422,
        "invalid_request",
    )
    assert_error(
        client.post("/connections/sample/query?shape=columns", json={"sql": "SELECT 1"}),
        422,
        "invalid_request",
    )


def test_api_nul_bytes_in_sql_are_a_clear_400(client: TestClient) -> None:
    assert "NUL" in assert_error(query(client, "SELECT 1\u0000; DROP TABLE x"), 400, "sql_error")


def test_api_unknown_routes_and_methods_keep_the_error_shape(client: TestClient) -> None:
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.patch("/connections", json={}), 405, "method_not_allowed")


# connections ---------------------------------------------------------------------------


def make_db(path: Path) -> Path:
    with sqlite3.connect(path) as connection:
        connection.execute("CREATE TABLE prices (symbol TEXT, close REAL)")
        connection.execute("INSERT INTO prices VALUES ('AAPL', 190.5)")
    return path


def test_api_connections_crud(client: TestClient, tmp_path: Path) -> None:
    db = make_db(tmp_path / "mine.db")
    body = {"name": "mine", "kind": "sqlite", "options": {"path": str(db)}}
    created = client.post("/connections", json=body)
    assert created.status_code == 201
    assert created.json() == {
        "name": "mine",
        "kind": "sqlite",
        "options": {"path": str(db.resolve())},
        "read_only": True,
    }
    assert_error(client.post("/connections", json=body), 409, "conflict")
    assert [c["name"] for c in client.get("/connections").json()] == ["mine", "sample"]
    assert client.get("/connections/mine").json()["kind"] == "sqlite"
    updated = client.put("/connections/mine", json={**body, "read_only": False})
    assert updated.status_code == 200 and updated.json()["read_only"] is False
    assert client.delete("/connections/mine").status_code == 204
    assert_error(client.get("/connections/mine"), 404, "not_found")
    assert_error(client.delete("/connections/mine"), 404, "not_found")
    gone = client.post("/connections/mine/query", json={"sql": "SELECT 1"})
    assert_error(gone, 404, "not_found")


def test_api_connection_test_endpoint(client: TestClient, tmp_path: Path) -> None:
    db = make_db(tmp_path / "t.db")
    response = client.post(
        "/connections/test", json={"kind": "sqlite", "options": {"path": str(db)}}
    )
    assert response.status_code == 200
    body = response.json()
    assert (
        body["ok"] is True
        and body["latency_ms"] >= 0
        and body["server_version"].startswith("SQLite 3.")
    )


def test_api_bad_connection_input_is_refused_clearly(client: TestClient, tmp_path: Path) -> None:
    not_db = tmp_path / "notes.txt"
    not_db.write_text("just text, not a database at all")
    cases = [
        ({"path": str(tmp_path / "missing.db")}, "no file"),
        ({"path": str(tmp_path)}, "folder"),
        ({"path": str(not_db)}, "not a SQLite database"),
        ({}, "path"),
        ({"path": str(make_db(tmp_path / "ok.db")), "bogus": 1}, "bogus"),
    ]
    for options, reason in cases:
        response = client.post(
            "/connections", json={"name": "bad", "kind": "sqlite", "options": options}
        )
        assert reason in assert_error(response, 422, "invalid_request")
    assert_error(
        client.post("/connections", json={"name": "bad name/x", "kind": "sqlite", "options": {}}),
        422,
        "invalid_request",
    )
    assert_error(
        client.post("/connections", json={"name": "x", "kind": "oracle", "options": {}}),
        422,
        "invalid_request",
    )
    assert [c["name"] for c in client.get("/connections").json()] == ["sample"]


def test_api_schema(client: TestClient) -> None:
    schemas = client.get("/connections/sample/schema").json()["schemas"]
    tables = {t["name"]: t for t in schemas[0]["tables"]}
    assert {"tickers", "daily_prices", "dividends", "earnings"} <= set(tables)
    assert tables["latest_close"]["kind"] == "view"
    column = tables["daily_prices"]["columns"][0]
    assert column == {"name": "symbol", "type": "text", "nullable": False}


# queries -------------------------------------------------------------------------------


def test_api_query_with_params_limit_and_truncated(client: TestClient) -> None:
    # The colon inside 'a:b' is part of a string literal, not a parameter.
    response = query(
        client,
        "SELECT symbol, date, close FROM daily_prices "
        "WHERE symbol = :sym AND 'a:b' = 'a:b' ORDER BY date LIMIT 10",
        params={"sym": "ABF"},
        limit=3,
    )
    body = response.json()
    assert response.status_code == 200, body
    assert body["query_id"].startswith("q_")
    assert body["columns"] == [
        {"name": "symbol", "type": "string"},
        {"name": "date", "type": "date"},
        {"name": "close", "type": "float"},
    ]
    assert body["row_count"] == 3 and len(body["rows"]) == 3 and body["truncated"] is True
    assert body["rows"][0][0] == "ABF" and body["rows"][0][1] == "2015-01-01"
    assert body["elapsed_ms"] >= 0


def test_api_query_not_truncated_when_all_rows_fit(client: TestClient) -> None:
    body = query(client, "SELECT symbol FROM tickers", limit=50).json()
    assert body["row_count"] == 50 and body["truncated"] is False


def test_api_query_default_limit_is_the_configured_cap(client: TestClient) -> None:
    body = query(client, "SELECT * FROM daily_prices").json()
    assert body["row_count"] == 1000 and body["truncated"] is True


def test_api_query_records_shape(client: TestClient) -> None:
    body = client.post(
        "/connections/sample/query?shape=records", json={"sql": "SELECT 1 AS a, 2 AS a, 'x' AS b"}
    ).json()
    assert body["rows"] == [{"a": 1, "a_2": 2, "b": "x"}]


def test_api_query_values_as_the_contract_says(client: TestClient) -> None:
    sql = "SELECT 9223372036854775807 AS big, 1e999 AS inf, x'00ff' AS raw, json('{\"a\":[1,2]}') AS doc, NULL AS empty"
    body = query(client, sql).json()
    assert body["rows"] == [[9223372036854775807, None, "AP8=", '{"a":[1,2]}', None]]
    raw = query(client, "SELECT 9007199254740993 AS n").content
    assert b"[[9007199254740993]]" in raw


def test_api_query_errors(client: TestClient) -> None:
    assert "syntax error" in assert_error(query(client, "SELEC 1"), 400, "sql_error")
    assert "no such table" in assert_error(query(client, "SELECT * FROM nope"), 400, "sql_error")
    assert "one statement" in assert_error(query(client, "SELECT 1; SELECT 2"), 400, "sql_error")
    assert ":sym" in assert_error(query(client, "SELECT :sym"), 400, "bad_param")
    assert_error(
        client.post("/connections/sample/query", json={"sql": "SELECT :x", "params": {"x": [1]}}),
        422,
        "invalid_request",
    )
    for sql in [
        "DELETE FROM tickers",
        "ATTACH 'x.db' AS x",
        "VACUUM INTO 'y.db'",
        "PRAGMA query_only = 0",
        "DROP TABLE tickers",
    ]:
        assert_error(query(client, sql), 400, "read_only")
    assert query(client, "SELECT count(*) FROM tickers").json()["rows"] == [[50]]


def test_api_error_never_echoes_parameter_values(client: TestClient) -> None:
    secret = "s3cr3t-value"
    response = query(
        client, "SELECT * FROM daily_prices WHERE symbol = :s AND nope = 1", params={"s": secret}
    )
    assert "no such column" in assert_error(response, 400, "sql_error")
    assert secret not in response.text
    history = client.get("/history").text
    assert secret not in history


def running_sql(client: TestClient) -> list[str]:
    return [entry["sql"] for entry in client.get("/queries").json()]


# GET /queries lists a query a moment after its request is sent; on a loaded two-core
# machine that moment can stretch to seconds, so waits for it allow 30 s.
SHOWS_UP_S = 30


def test_api_timeout_is_504_and_health_answers_meanwhile(client: TestClient) -> None:
    results: dict[str, Any] = {}

    def slow() -> None:
        results["response"] = query(client, SLOW_SQL, timeout_s=3)

    worker = threading.Thread(target=slow)
    worker.start()
    wait_until(
        lambda: SLOW_SQL in running_sql(client), within_s=SHOWS_UP_S, what="the query running"
    )
    assert client.get("/health").status_code == 200
    # Still listed after /health answered: it answered while the query ran. SLOW_SQL never
    # ends by itself, so only its 3 s timeout can have taken it off the list meanwhile.
    assert SLOW_SQL in running_sql(client)
    worker.join(timeout=30)
    assert not worker.is_alive(), "the query outlived its timeout"
    assert "3 s" in assert_error(results["response"], 504, "timeout")


def test_api_running_queries_and_cancel(client: TestClient) -> None:
    results: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: results.setdefault("r", query(client, SLOW_SQL, timeout_s=30))
    )
    worker.start()
    running: list[dict[str, Any]] = wait_until(
        lambda: client.get("/queries").json(), within_s=SHOWS_UP_S, what="the query running"
    )
    assert running[0]["connection"] == "sample" and running[0]["sql"] == SLOW_SQL
    assert client.delete(f"/queries/{running[0]['query_id']}").status_code == 204
    worker.join(timeout=10)
    assert_error(results["r"], 499, "cancelled")
    assert client.get("/queries").json() == []
    assert_error(client.delete("/queries/q_unknown"), 404, "not_found")


def test_api_history_records_outcomes_without_values(client: TestClient) -> None:
    query(client, "SELECT * FROM tickers WHERE symbol = :s", params={"s": "ZZZZ-VALUE"})
    query(client, "SELEC oops")
    entries = client.get("/history?limit=2", headers={"Origin": "http://localhost:1420"}).json()
    assert [e["outcome"] for e in entries] == ["sql_error", "ok"]
    assert entries[1]["sql"] == "SELECT * FROM tickers WHERE symbol = :s"
    assert set(entries[0]) == HISTORY_FIELDS
    assert entries[0]["caller"] == "api_key"  # the key file's holder
    assert "ZZZZ-VALUE" not in client.get("/history").text


# export --------------------------------------------------------------------------------


def test_api_export_ndjson_csv_json(client: TestClient, sample_db: Path) -> None:
    sql = "SELECT symbol, date, close FROM daily_prices WHERE symbol = :s ORDER BY date"
    with sqlite3.connect(sample_db) as direct:  # the first row, read without the server
        first_close = direct.execute(sql, {"s": "ABF"}).fetchone()[2]
    assert isinstance(first_close, float)
    body = {"sql": sql, "params": {"s": "ABF"}}
    ndjson = client.post("/connections/sample/export?format=ndjson", json=body)
    assert ndjson.headers["content-type"].startswith("application/x-ndjson")
    lines = ndjson.content.splitlines()
    assert len(lines) == 2609  # every row, no cap
    assert orjson.loads(lines[0]) == {"symbol": "ABF", "date": "2015-01-01", "close": first_close}
    csv_lines = client.post("/connections/sample/export?format=csv", json=body).text.splitlines()
    assert csv_lines[0] == "symbol,date,close" and len(csv_lines) == 2610
    assert csv_lines[1].split(",")[:2] == ["ABF", "2015-01-01"]
    assert float(csv_lines[1].split(",")[2]) == first_close
    records = client.post("/connections/sample/export?format=json", json=body).json()
    assert len(records) == 2609 and records[0]["symbol"] == "ABF"


def test_api_export_empty_results(client: TestClient) -> None:
    body = {"sql": "SELECT symbol FROM tickers WHERE 0"}
    assert client.post("/connections/sample/export?format=json", json=body).json() == []
    assert client.post("/connections/sample/export?format=csv", json=body).text == "symbol\n"
    assert client.post("/connections/sample/export?format=ndjson", json=body).content == b""


def test_api_export_errors_come_before_the_stream(client: TestClient) -> None:
    assert_error(client.post("/connections/sample/export", json={"sql": "SELEC"}), 400, "sql_error")
    assert_error(
        client.post("/connections/sample/export", json={"sql": "DELETE FROM tickers"}),
        400,
        "read_only",
    )
    assert_error(
        client.post("/connections/sample/export?format=xml", json={"sql": "SELECT 1"}),
        422,
        "invalid_request",
    )
    assert client.get("/queries").json() == []


def test_api_rotated_key_takes_effect_without_restart(client: TestClient, runtime: Runtime) -> None:
    from connector.keys import rotate_api_key

    old = runtime.api_key
    new = rotate_api_key(runtime.settings.data_dir)
    assert_error(client.get("/connections", headers={"X-API-KEY": str(old)}), 403, "auth_invalid")
    assert client.get("/connections", headers={"X-API-KEY": new}).status_code == 200
