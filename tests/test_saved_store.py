"""Saved queries kept in the metadata store: CRUD over HTTP, declared parameters, running."""

from __future__ import annotations

from fastapi.testclient import TestClient

from tests.conftest import assert_error

SAVED = {
    "name": "closes",
    "connection": "sample",
    "sql": "SELECT date, close FROM daily_prices WHERE symbol = :symbol ORDER BY date DESC LIMIT :n",
    "description": "Latest closes",
    "params": [
        {"name": "symbol", "type": "ticker", "default": "ABF", "label": "Symbol"},
        {"name": "n", "type": "number", "default": 5},
    ],
}


def test_saved_queries_crud_and_run(client: TestClient) -> None:
    created = client.post("/saved-queries", json=SAVED)
    assert created.status_code == 201, created.text
    assert created.json()["widget"] == {"type": "table"}
    assert_error(client.post("/saved-queries", json=SAVED), 409, "conflict")
    assert [q["name"] for q in client.get("/saved-queries").json()] == ["closes"]
    assert client.get("/saved-queries/closes").json()["description"] == "Latest closes"
    ran = client.post("/saved-queries/closes/run", json={"params": {"symbol": "abf", "n": "2"}})
    assert ran.status_code == 200, ran.text
    assert len(ran.json()["rows"]) == 2
    defaults = client.post("/saved-queries/closes/run", json={})
    assert defaults.json()["row_count"] == 5
    wrong = client.post("/saved-queries/closes/run", json={"params": {"n": "five"}})
    assert "'n'" in assert_error(wrong, 400, "bad_param")
    updated = client.put("/saved-queries/closes", json={**SAVED, "description": "Closes"})
    assert updated.status_code == 200 and updated.json()["description"] == "Closes"
    assert client.delete("/saved-queries/closes").status_code == 204
    assert_error(client.get("/saved-queries/closes"), 404, "not_found")


def test_saved_queries_refuse_undeclared_params_and_unknown_connections(client: TestClient) -> None:
    undeclared = client.post("/saved-queries", json={**SAVED, "params": SAVED["params"][:1]})  # type: ignore[index]
    assert ":n" in assert_error(undeclared, 400, "bad_param")
    unknown = client.post("/saved-queries", json={**SAVED, "connection": "nowhere"})
    assert "nowhere" in assert_error(unknown, 404, "not_found")
    bad_name = client.post("/saved-queries", json={**SAVED, "name": "has spaces/slash"})
    assert_error(bad_name, 422, "invalid_request")
    assert client.get("/saved-queries").json() == []
