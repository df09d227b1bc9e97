"""The server's HTTP API as plain blocking calls (httpx), for worker threads only.

Never call these on the UI thread: :mod:`gui.tasks` runs them in the thread pool. Every
failure becomes an :class:`ApiError` carrying the server's ``detail`` and ``code``.
No Qt here, and nothing from the server's internals: the contract is HTTP.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import httpx

HEALTH_TIMEOUT_S = 2.0
CALL_TIMEOUT_S = 60.0
# A query runs at most the server's longest timeout (600 s by default); wait a little more.
SLOW_CALL_TIMEOUT_S = 660.0


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


@dataclass(frozen=True)
class Option:
    """One option of a database kind, as ``GET /kinds`` describes it."""

    name: str
    label: str
    type: str  # string, integer, number, boolean or object
    required: bool = False
    default: Any = None
    choices: list[Any] | None = None
    secret: bool = False  # the connection's secret: the body's "secret", not an option
    help: str = ""
    format: str | None = None  # "path" (a file), "folder", or None
    advanced: bool = False
    minimum: float | None = None
    maximum: float | None = None

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Option:
        return cls(
            name=str(data["name"]),
            label=str(data.get("label") or data["name"]),
            type=str(data.get("type") or "string"),
            required=bool(data.get("required", False)),
            default=data.get("default"),
            choices=list(data["choices"]) if data.get("choices") is not None else None,
            secret=bool(data.get("secret", False)),
            help=str(data.get("help") or ""),
            format=data.get("format"),
            advanced=bool(data.get("advanced", False)),
            minimum=data.get("minimum"),
            maximum=data.get("maximum"),
        )


@dataclass(frozen=True)
class Kind:
    """A database kind, as ``GET /kinds`` describes it; ``install`` says how to get its
    driver when it is not ``available``."""

    kind: str
    label: str
    available: bool = True
    install: str | None = None
    options: list[Option] = field(default_factory=list)
    capabilities: dict[str, bool] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Kind:
        return cls(
            kind=str(data["kind"]),
            label=str(data.get("label") or data["kind"]),
            available=bool(data.get("available", True)),
            install=data.get("install"),
            options=[Option.from_json(option) for option in data.get("options") or []],
            capabilities=dict(data.get("capabilities") or {}),
        )


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

    def kinds(self) -> list[Kind]:
        data: list[dict[str, Any]] = self._request("GET", "/kinds")
        return [Kind.from_json(kind) for kind in data]

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

    def schema(self, name: str) -> list[dict[str, Any]]:
        """The connection's schemas > tables and views > columns (``GET .../schema``)."""
        data: dict[str, Any] = self._request("GET", f"/connections/{name}/schema")
        schemas: list[dict[str, Any]] = data.get("schemas") or []
        return schemas

    def query(
        self,
        name: str,
        sql: str,
        params: dict[str, Any] | None = None,
        limit: int | None = None,
        timeout_s: float | None = None,
    ) -> dict[str, Any]:
        """Run one statement; the result body (columns, rows, row_count, truncated ...)."""
        body: dict[str, Any] = {"sql": sql, "params": params or {}}
        if limit is not None:
            body["limit"] = limit
        if timeout_s is not None:
            body["timeout_s"] = timeout_s
        wait = CALL_TIMEOUT_S if timeout_s is None else timeout_s + CALL_TIMEOUT_S
        data: dict[str, Any] = self._request(
            "POST", f"/connections/{name}/query", body=body, timeout=wait
        )
        return data

    def list_saved(self) -> list[dict[str, Any]]:
        data: list[dict[str, Any]] = self._request("GET", "/saved-queries")
        return data

    def create_saved(self, query: dict[str, Any]) -> dict[str, Any]:
        data: dict[str, Any] = self._request("POST", "/saved-queries", body=query)
        return data

    def delete_saved(self, name: str) -> None:
        self._request("DELETE", f"/saved-queries/{name}")

    def run_saved(
        self, name: str, params: dict[str, Any] | None = None, limit: int | None = None
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"params": params or {}}
        if limit is not None:
            body["limit"] = limit
        data: dict[str, Any] = self._request(
            "POST", f"/saved-queries/{name}/run", body=body, timeout=SLOW_CALL_TIMEOUT_S
        )
        return data
