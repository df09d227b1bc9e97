"""The guard in front of every request (the key itself is kept by ``connector.keys``).

``GuardMiddleware`` is a plain ASGI middleware (no per-request task overhead). In order:
the Host allow-list (421, against DNS rebinding; exactly one Host header, parsed strictly
as ``host[:port]``, so ``localhost:1@evil.example`` or ``[::1].evil.example`` never pass
for a local name), CORS for the allow-listed origins
(preflights answered here, with ``Access-Control-Allow-Private-Network`` when asked),
the API key (401 missing, 403 wrong or revoked; ``/health`` and preflights are open; the
key's holder is set as ``connector.callers.current_caller``), then bodies:
POST/PUT/PATCH must be ``application/json`` (415) and no larger than the configured size
(413), counted as the bytes arrive so a chunked body cannot slip past.

Must not import the store or any backend.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
from collections.abc import Callable, Iterable

import anyio
import anyio.to_thread
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from connector.callers import current_caller
from connector.errors import (
    AuthInvalidError,
    AuthRequiredError,
    BadHostError,
    ConnectorError,
    TooLargeError,
    UnsupportedMediaTypeError,
    error_body,
)
from connector.keys import FILE_KEY_CALLER
from connector.values import dumps

log = logging.getLogger(__name__)

LOCAL_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Open without a key: liveness, the page that says what this server is, and the API's
# interactive docs (no data in either).
OPEN_PATHS = frozenset({"/health", "/", "/docs"})
CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
# The headers scripts and Workspace send, with the ones Workspace adds for SSO sign-in and
# Workspace Lite; other requested headers of an allowed origin are echoed as well.
CORS_HEADERS = (
    "Authorization",
    "Content-Type",
    "X-API-KEY",
    "X-OpenBB-User",
    "X-Microsoft-Id-Token",
    "X-Okta-Id-Token",
)
_HEADER_NAME = re.compile(r"^[A-Za-z0-9-]{1,64}$")
MAX_ECHOED_HEADERS = 32
CORS_MAX_AGE = "600"
BODY_METHODS = frozenset({"POST", "PUT", "PATCH"})
KEY_CHECK_THREADS = 4


def route_path(scope: Scope) -> str:
    """The path below ``root_path`` (uvicorn puts a proxy's prefix in front of it)."""
    path: str = scope["path"]
    root: str = scope.get("root_path", "")
    if root and path.startswith(root):
        return path[len(root) :] or "/"
    return path


# RFC 7230 ``Host = uri-host [ ":" port ]``, with RFC 3986's uri-host narrowed to what a
# host name or address can be: an IPv6 address whole in brackets (no zone id), or a name of
# letters, digits, "-", ".", "_" and "~" (no userinfo, no percent-encoding). A port is ASCII
# digits. Nothing else is a host.
_HOST_HEADER = re.compile(
    r"(?:\[(?P<ipv6>[0-9A-Fa-f:.]+)\]|(?P<name>[A-Za-z0-9._~-]+))(?::(?P<port>[0-9]{1,5}))?"
)
MAX_PORT = 65535


def host_name(host_header: str) -> str | None:
    """The host of a Host header value, lower-case (an IPv6 address without brackets, in
    its short form), or None when the value is not ``host[:port]``: ``[::1]:7800`` ->
    ``::1``, ``A.b:80`` -> ``a.b``, ``localhost:7800@evil.example`` -> None."""
    match = _HOST_HEADER.fullmatch(host_header.strip(" \t"))
    if match is None or (match["port"] is not None and int(match["port"]) > MAX_PORT):
        return None
    return _ipv6(match["ipv6"]) if match["ipv6"] else match["name"].lower()


def _ipv6(text: str) -> str | None:
    try:
        return ipaddress.IPv6Address(text).compressed
    except ValueError:
        return None


def _normal(host: str) -> str | None:
    """A configured host as ``host_name`` gives it: IPv6 addresses short, names lower-case."""
    text = host.strip().lower()
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    return _ipv6(text) if ":" in text else text


class GuardMiddleware:
    """Host check, CORS, API key and body rules for every HTTP request."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        api_key: Callable[[], str | None],
        cors_origins: Iterable[str],
        allowed_hosts: Iterable[str] = (),
        max_body_bytes: int = 1_048_576,
        named_key: Callable[[str], str | None] | None = None,
    ) -> None:
        self.app = app
        self.api_key = api_key
        # A key that is not the key file's is looked up (blocking) by this, off the loop,
        # in threads of its own so a check never waits behind running queries.
        self.named_key = named_key
        self._key_limiter: anyio.CapacityLimiter | None = None
        self.cors_origins = frozenset(cors_origins)
        configured = {_normal(host) for host in allowed_hosts}
        self.allowed_hosts = LOCAL_HOSTS | {host for host in configured if host}
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers: dict[str, str] = {}
        hosts = 0
        for key, value in scope["headers"]:
            name = key.decode("latin-1")
            hosts += name == "host"
            headers[name] = value.decode("latin-1")
        origin = headers.get("origin")
        cors = origin if origin in self.cors_origins else None
        try:
            self._check_host(headers, hosts)
            if scope["method"] == "OPTIONS" and cors and "access-control-request-method" in headers:
                await self._preflight(send, cors, headers)
                return
            if route_path(scope) not in OPEN_PATHS and scope["method"] != "OPTIONS":
                await self._check_key(headers)
            if scope["method"] in BODY_METHODS:
                self._check_body_headers(headers)
                receive = self._limit_body(receive)
        except ConnectorError as error:
            await send_error(send, error, cors)
            return
        await self.app(scope, receive, self._with_cors(send, cors))

    def _check_host(self, headers: dict[str, str], hosts: int) -> None:
        if hosts > 1:
            raise BadHostError("A request may carry one Host header, not several.")
        host = headers.get("host")
        if host is None or host_name(host) not in self.allowed_hosts:
            raise BadHostError(
                "This server answers only to localhost and its configured host names."
            )

    async def _check_key(self, headers: dict[str, str]) -> None:
        expected = self.api_key()
        if expected is None:
            return
        given = headers.get("x-api-key") or None
        if given is None:
            authorization = headers.get("authorization", "")
            scheme, _, token = authorization.partition(" ")
            given = token.strip() if scheme.lower() == "bearer" else None
        if not given:
            raise AuthRequiredError(
                "An API key is required: send it as X-API-KEY or Authorization: Bearer."
            )
        if hmac.compare_digest(given.encode(), expected.encode()):
            current_caller.set(FILE_KEY_CALLER)
            return
        caller = None
        if self.named_key is not None:
            if self._key_limiter is None:
                self._key_limiter = anyio.CapacityLimiter(KEY_CHECK_THREADS)
            caller = await anyio.to_thread.run_sync(
                self.named_key, given, limiter=self._key_limiter
            )
        if caller is None:
            raise AuthInvalidError("The API key is not valid.")
        current_caller.set(caller)

    def _check_body_headers(self, headers: dict[str, str]) -> None:
        length = headers.get("content-length")
        if length is not None and length.isdigit() and int(length) > self.max_body_bytes:
            raise TooLargeError(
                f"The request body is larger than the {self.max_body_bytes} bytes allowed."
            )
        if length == "0" and "content-type" not in headers:
            return
        media = headers.get("content-type", "").split(";")[0].strip().lower()
        if media != "application/json" and not media.endswith("+json"):
            raise UnsupportedMediaTypeError("Send the request body as application/json.")

    def _limit_body(self, receive: Receive) -> Receive:
        seen = 0
        limit = self.max_body_bytes

        async def limited() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > limit:
                    raise TooLargeError(
                        f"The request body is larger than the {limit} bytes allowed."
                    )
            return message

        return limited

    @staticmethod
    def _allowed_headers(headers: dict[str, str]) -> str:
        """Our headers and those the preflight asks for, when they are plain header names."""
        allowed = list(CORS_HEADERS)
        known = {name.lower() for name in allowed}
        requested = headers.get("access-control-request-headers", "")
        for name in [part.strip() for part in requested.split(",")][:MAX_ECHOED_HEADERS]:
            if _HEADER_NAME.match(name) and name.lower() not in known:
                allowed.append(name)
                known.add(name.lower())
        return ", ".join(allowed)

    async def _preflight(self, send: Send, origin: str, headers: dict[str, str]) -> None:
        response_headers = [
            (b"access-control-allow-origin", origin.encode()),
            (b"access-control-allow-methods", CORS_METHODS.encode()),
            (b"access-control-allow-headers", self._allowed_headers(headers).encode()),
            (b"access-control-max-age", CORS_MAX_AGE.encode()),
            (b"vary", b"Origin"),
            (b"content-length", b"0"),
        ]
        if headers.get("access-control-request-private-network", "").lower() == "true":
            response_headers.append((b"access-control-allow-private-network", b"true"))
        await send({"type": "http.response.start", "status": 204, "headers": response_headers})
        await send({"type": "http.response.body", "body": b""})

    @staticmethod
    def _with_cors(send: Send, origin: str | None) -> Send:
        """Every answer varies by Origin (a cache must not hand one origin's answer to
        another); an allowed origin's answer also names it."""
        extra = [(b"vary", b"Origin")]
        if origin is not None:
            extra.insert(0, (b"access-control-allow-origin", origin.encode()))

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return send_with_cors


async def send_error(send: Send, error: ConnectorError, cors_origin: str | None = None) -> None:
    """Answer with the contract's error JSON straight from ASGI."""
    body = dumps(error_body(error))
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
    ]
    if cors_origin:
        headers.append((b"access-control-allow-origin", cors_origin.encode()))
    headers.append((b"vary", b"Origin"))
    await send({"type": "http.response.start", "status": error.status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
