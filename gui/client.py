"""The server's HTTP API as plain blocking calls (httpx), for worker threads only.

Never call these on the UI thread: :mod:`gui.tasks` runs them in the thread pool. Every
failure becomes an :class:`ApiError` carrying the server's ``detail`` and ``code``.
No Qt here, and nothing from the server's internals: the contract is HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

HEALTH_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 60.0


class ApiError(Exception):
    """A call that failed; ``detail`` is one human sentence, ``code`` the contract's code."""

    def __init__(self, detail: str, code: str, status: int = 0) -> None:
        super().__init__(detail)
        self.detail = detail
        self.code = code
        self.status = status


@dataclass(frozen=True)
class Health:
    status: str
    version: str
    uptime_s: float


class ApiClient:
    """One server, one key; each method is one request."""

    def __init__(self, base_url: str, api_key: str | None) -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key

    def _request(
        self,
        method: str,
        path: str,
        *,
        body: Any = None,
        params: dict[str, str] | None = None,
        timeout: float = CALL_TIMEOUT_S,
    ) -> Any:
        headers = {"X-API-KEY": self.api_key} if self.api_key else {}
        try:
            response = httpx.request(
                method,
                self.base_url + path,
                json=body,
                params=params,
                headers=headers,
                timeout=timeout,
            )
        except httpx.TimeoutException as exc:
            raise ApiError("The server did not answer in time.", "timeout") from exc
        except httpx.HTTPError as exc:
            raise ApiError("The server cannot be reached.", "unreachable") from exc
        if response.status_code >= 400:
            try:
                data = response.json()
                detail = str(data.get("detail") or response.reason_phrase)
                code = str(data.get("code") or "error")
            except (ValueError, AttributeError):
                detail, code = f"The server answered {response.status_code}.", "error"
            raise ApiError(detail, code, response.status_code)
        if response.status_code == 204 or not response.content:
            return None
        return response.json()

    def health(self) -> Health:
        data = self._request("GET", "/health", timeout=HEALTH_TIMEOUT_S)
        return Health(str(data["status"]), str(data["version"]), float(data["uptime_s"]))

    def list_connections(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._request("GET", "/connections")
        return data

    def create_connection(self, connection: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._request("POST", "/connections", body=connection)
        return data

    def update_connection(self, name: str, connection: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._request("PUT", f"/connections/{name}", body=connection)
        return data

    def delete_connection(self, name: str) -> None:
        self._request("DELETE", f"/connections/{name}")

    def test_connection(self, connection: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._request("POST", "/connections/test", body=connection)
        return data

    def running_queries(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._request("GET", "/queries")
        return data

    def cancel_query(self, query_id: str) -> None:
        self._request("DELETE", f"/queries/{query_id}")
