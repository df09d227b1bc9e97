"""``GET /``: a person or a validator learns what this server is, without a key and
without seeing any data."""

from __future__ import annotations

from fastapi.testclient import TestClient

from connector import __version__
from tests.conftest import assert_error


def test_home_answers_json_without_the_key(client: TestClient) -> None:
    response = client.get("/", headers={"X-API-KEY": ""})
    assert response.status_code == 200
    about = response.json()
    assert about["name"] == "Data Connector" and about["version"] == __version__
    assert about["auth"].startswith("on") and about["openbb"]["widgets"] == "/widgets.json"
    assert "sample" not in response.text  # no connection names, no data


def test_home_answers_a_browser_with_a_page(client: TestClient) -> None:
    response = client.get("/", headers={"X-API-KEY": "", "Accept": "text/html,*/*"})
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "Data Connector" in response.text and "X-API-KEY" in response.text
    assert "data-connector openbb" in response.text


def test_home_still_checks_the_host(client: TestClient) -> None:
    assert_error(client.get("/", headers={"Host": "evil.example"}), 421, "bad_host")


def test_home_is_the_only_other_open_path(client: TestClient) -> None:
    for path in ("/kinds", "/connections", "/widgets.json", "/apps.json"):
        assert_error(client.get(path, headers={"X-API-KEY": ""}), 401, "auth_required")


def test_home_docs_are_open_and_carry_the_api_without_data(client: TestClient) -> None:
    response = client.get("/docs", headers={"X-API-KEY": ""})
    assert response.status_code == 200 and "SwaggerUIBundle" in response.text
    assert "/connections/{name}/query" in response.text  # the spec is in the page
    assert '"X-API-KEY"' in response.text  # Authorize takes the key
    assert "</script" not in response.text.split("SwaggerUIBundle({", 1)[1].split("});", 1)[0]
    assert client.get("/openapi.json", headers={"X-API-KEY": ""}).status_code == 401
    assert "/docs" in client.get("/").json()["interactive_docs"]
