"""Saved queries kept in the metadata store: CRUD over HTTP, declared parameters, running."""

from __future__ import annotations

from fastapi.testclient import TestClient

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
    assert client.post("/saved-queries", json=SAVED).json()["code"] == "conflict"
    assert [q["name"] for q in client.get("/saved-queries").json()] == ["closes"]
    assert client.get("/saved-queries/closes").json()["description"] == "Latest closes"
    ran = client.post("/saved-queries/closes/run", json={"params": {"symbol": "abf", "n": "2"}})
    assert ran.status_code == 200, ran.text
    assert len(ran.json()["rows"]) == 2
    defaults = client.post("/saved-queries/closes/run", json={})
    assert defaults.json()["row_count"] == 5
    wrong = client.post("/saved-queries/closes/run", json={"params": {"n": "five"}})
    assert (
        wrong.status_code == 400
        and wrong.json()["code"] == "bad_param"
        and "'n'" in wrong.json()["detail"]
    )
    updated = client.put("/saved-queries/closes", json={**SAVED, "description": "Closes"})
    assert updated.status_code == 200 and updated.json()["description"] == "Closes"
    assert client.delete("/saved-queries/closes").status_code == 204
    assert client.get("/saved-queries/closes").json()["code"] == "not_found"


def test_saved_queries_refuse_undeclared_params_and_unknown_connections(client: TestClient) -> None:
    undeclared = client.post("/saved-queries", json={**SAVED, "params": SAVED["params"][:1]})  # type: ignore[index]
    assert undeclared.status_code == 400 and ":n" in undeclared.json()["detail"]
    unknown = client.post("/saved-queries", json={**SAVED, "connection": "nowhere"})
    assert unknown.status_code == 404
    bad_name = client.post("/saved-queries", json={**SAVED, "name": "has spaces/slash"})
    assert bad_name.status_code == 422 and bad_name.json()["code"] == "invalid_request"
    assert client.get("/saved-queries").json() == []
