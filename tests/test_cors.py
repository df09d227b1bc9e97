"""CORS as Workspace's real requests need it: preflights allow the headers Workspace adds
with SSO and Workspace Lite, and echo other requested header names for allowed origins;
every answer varies by Origin, so a cache never hands one origin's answer to another."""

from __future__ import annotations

from fastapi.testclient import TestClient

PRO = "https://pro.openbb.co"


def _preflight(client: TestClient, origin: str, headers: str) -> dict[str, str]:
    answer = client.options(
        "/widgets.json",
        headers={
            "Origin": origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": headers,
        },
    )
    return {key.lower(): value for key, value in answer.headers.items()} | {
        "status": str(answer.status_code)
    }


def test_cors_preflight_allows_workspace_sso_headers(client: TestClient) -> None:
    got = _preflight(client, PRO, "x-api-key, x-openbb-user, x-microsoft-id-token, x-okta-id-token")
    assert got["status"] == "204" and got["access-control-allow-origin"] == PRO
    allowed = {name.strip().lower() for name in got["access-control-allow-headers"].split(",")}
    assert {"x-api-key", "x-openbb-user", "x-microsoft-id-token", "x-okta-id-token"} <= allowed


def test_cors_preflight_echoes_plain_requested_headers_only(client: TestClient) -> None:
    got = _preflight(client, PRO, "X-Custom-Thing, bad header, x\\r\\ninjected, " + "a" * 80)
    allowed = {name.strip().lower() for name in got["access-control-allow-headers"].split(",")}
    assert "x-custom-thing" in allowed
    assert not any(" " in name or "\\" in name or len(name) > 64 for name in allowed)


def test_cors_other_origins_get_no_cors_headers_but_vary(client: TestClient) -> None:
    answer = client.get("/health", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in answer.headers
    assert "Origin" in answer.headers.get("vary", "")
    got = _preflight(client, "https://evil.example", "x-api-key")
    assert "access-control-allow-origin" not in got and "access-control-allow-headers" not in got


def test_cors_every_answer_varies_by_origin(client: TestClient) -> None:
    for answer in (
        client.get("/health"),
        client.get("/connections"),
        client.get("/connections", headers={"X-API-KEY": ""}),  # an error from the guard
        client.get("/nope"),
        client.get("/health", headers={"Origin": PRO}),
    ):
        assert "Origin" in answer.headers.get("vary", ""), answer.url
    allowed = client.get("/health", headers={"Origin": PRO})
    assert allowed.headers["access-control-allow-origin"] == PRO
