"""``/openapi.json`` describes the contract: every error answer as ``{"detail", "code"}``
(never FastAPI's ``detail`` array), and the 200 bodies as the objects they are.

The documented 200 schemas are checked against real answers with a small checker for the
JSON-schema subset the document uses (``$ref``, ``type``, ``properties``, ``required``,
``items``, ``anyOf``), so the document cannot drift from what the server sends.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from connector.api import connections, health, kinds, openbb, queries, saved
from connector.api.deps import JSONBytes

JSON_TYPES: dict[str, tuple[type, ...]] = {
    "string": (str,),
    "integer": (int,),
    "number": (int, float),
    "boolean": (bool,),
    "array": (list,),
    "object": (dict,),
    "null": (type(None),),
}


@pytest.fixture
def document(client: TestClient) -> dict[str, Any]:
    response = client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def resolve(document: dict[str, Any], schema: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[-1]
        schema = document["components"]["schemas"][name]
    return schema


def check(document: dict[str, Any], schema: dict[str, Any], value: Any, where: str) -> None:
    """``value`` fits ``schema`` (the subset of JSON schema FastAPI writes)."""
    schema = resolve(document, schema)
    if "anyOf" in schema:
        problems = []
        for option in schema["anyOf"]:
            try:
                check(document, option, value, where)
                return
            except AssertionError as exc:
                problems.append(str(exc))
        raise AssertionError(f"{where}: fits no anyOf option: {problems}")
    kind = schema.get("type")
    if kind is not None:
        assert isinstance(value, JSON_TYPES[kind]), f"{where}: {value!r} is not {kind}"
        assert not (kind in ("integer", "number") and isinstance(value, bool)), where
    if isinstance(value, dict) and "properties" in schema:
        for name in schema.get("required", []):
            assert name in value, f"{where}: {name!r} is required"
        for name, inner in value.items():
            assert name in schema["properties"], f"{where}: {name!r} is not documented"
            check(document, schema["properties"][name], inner, f"{where}.{name}")
    if isinstance(value, list) and "items" in schema:
        for index, item in enumerate(value):
            check(document, schema["items"], item, f"{where}[{index}]")


def success_schema(document: dict[str, Any], path: str, method: str) -> dict[str, Any]:
    responses = document["paths"][path][method]["responses"]
    code = next(code for code in responses if code.startswith("2"))
    schema: dict[str, Any] = responses[code]["content"]["application/json"]["schema"]
    return schema


def test_every_error_answer_is_documented_as_detail_and_code(document: dict[str, Any]) -> None:
    schemas = document["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    seen = 0
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            for code, response in operation["responses"].items():
                if code.startswith("2"):
                    continue
                seen += 1
                schema = resolve(document, response["content"]["application/json"]["schema"])
                assert schema["type"] == "object", (path, method, code)
                assert set(schema["properties"]) == {"detail", "code"}, (path, method, code)
                assert set(schema["required"]) == {"detail", "code"}
                assert schema["properties"]["detail"]["type"] == "string"
                assert schema["properties"]["code"]["type"] == "string"
                assert response["description"], (path, method, code)
    assert seen > 50


def test_the_guards_errors_are_documented_where_they_happen(document: dict[str, Any]) -> None:
    for path, operations in document["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert "421" in codes, (method, path)
            if path not in ("/", "/health"):
                assert {"401", "403"} <= codes, (method, path)
            if method in ("post", "put"):
                assert {"413", "415", "422"} <= codes, (method, path)
            if "{name}" in path:
                assert "404" in codes, (method, path)


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/health", "get"),
        ("/kinds", "get"),
        ("/connections", "get"),
        ("/connections", "post"),
        ("/connections/{name}", "get"),
        ("/connections/test", "post"),
        ("/connections/{name}/schema", "get"),
        ("/connections/{name}/query", "post"),
        ("/queries", "get"),
        ("/history", "get"),
        ("/saved-queries", "get"),
        ("/saved-queries/{name}/run", "post"),
    ],
)
def test_success_bodies_are_documented_as_objects(
    document: dict[str, Any], path: str, method: str
) -> None:
    schema = resolve(document, success_schema(document, path, method))
    assert schema.get("type") in ("object", "array"), (path, schema)
    if schema["type"] == "array":
        schema = resolve(document, schema["items"])
    assert schema["type"] == "object" and schema["properties"], (path, schema)


def test_documented_bodies_match_real_answers(client: TestClient, document: dict[str, Any]) -> None:
    sql = {"sql": "SELECT symbol, 1.5 AS x, NULL AS n FROM tickers LIMIT 2"}
    assert client.post("/connections/sample/query", json=sql).status_code == 200
    saved = {"name": "s", "connection": "sample", "sql": "SELECT 1 AS one", "params": []}
    assert client.post("/saved-queries", json=saved).status_code == 201
    answers = [
        ("/health", "get", client.get("/health")),
        ("/kinds", "get", client.get("/kinds")),
        ("/connections", "get", client.get("/connections")),
        ("/connections/{name}", "get", client.get("/connections/sample")),
        ("/connections/{name}/schema", "get", client.get("/connections/sample/schema")),
        ("/connections/{name}/query", "post", client.post("/connections/sample/query", json=sql)),
        ("/queries", "get", client.get("/queries")),
        ("/history", "get", client.get("/history")),
        ("/saved-queries", "get", client.get("/saved-queries")),
        ("/saved-queries/{name}", "get", client.get("/saved-queries/s")),
        ("/saved-queries/{name}/run", "post", client.post("/saved-queries/s/run", json={})),
    ]
    for path, method, response in answers:
        assert response.status_code == 200, (path, response.text)
        check(document, success_schema(document, path, method), response.json(), path)
    history = client.get("/history").json()
    assert history, "the history has entries to check"
    error = client.get("/connections/nope")
    schema = document["paths"]["/connections/{name}"]["get"]["responses"]["404"]
    check(document, schema["content"]["application/json"]["schema"], error.json(), "404")


def test_endpoints_still_write_their_own_json() -> None:
    # The models are for the document only: FastAPI passes a returned Response through
    # untouched, so no answer is validated or re-serialised on its way out.
    routers = [module.router for module in (connections, health, kinds, openbb, queries, saved)]
    routes = [route for router in routers for route in router.routes if isinstance(route, APIRoute)]
    json_routes = [route for route in routes if route.response_model is not None]
    assert len(json_routes) >= 15
    for route in json_routes:
        assert route.response_class is JSONBytes, route.path
