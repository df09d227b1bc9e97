"""Shared fixtures and helpers: settings on a temporary data folder, a runtime, an
in-process client, a real server in a child process (``start_server``/``stop_server``, the
one way tests start one), the sample database built once per session, the contract's
error check (``assert_error``) and waiting on a condition (``wait_until``)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import signal
import ssl
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Literal

import httpx
import pytest
from fastapi.testclient import TestClient

from benchmarks.harness import (
    SERVER_START_S,
    free_port,
    launch_server,
    serve_command,
    server_env,
)
from benchmarks.harness import wait_until as wait_until  # the tests' one way to wait
from connector.app import create_app
from connector.config import Settings
from connector.models import ConnectionInput
from connector.runtime import Runtime, open_runtime
from connector.sample import build_sample
from tests import canary

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(available: bool, reason: str) -> None:
    """Skip when a real server is missing on a laptop; under CI=true that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: real-server tests must not skip)")
    pytest.skip(reason)


def assert_one_sentence(detail: str) -> str:
    """The contract's ``detail``: one human sentence (one line, no traceback, ending in a
    full stop or question mark, no second sentence after it)."""
    assert isinstance(detail, str) and detail.endswith((".", "?")), detail
    assert "\n" not in detail and "Traceback" not in detail, detail
    assert not re.search(r"[.?!] +[A-Z]", detail), f"more than one sentence: {detail}"
    return detail


def assert_error(response: httpx.Response, status: int, code: str) -> str:
    """The contract's error answer: ``status``, a body of exactly ``{"detail", "code"}`` with
    this ``code``, and a ``detail`` that is one sentence. Returns the detail."""
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"detail", "code"}, body
    assert body["code"] == code, body
    return assert_one_sentence(body["detail"])


@pytest.fixture(scope="session")
def sample_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_sample(tmp_path_factory.mktemp("sample") / "sample.db")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(data_dir=tmp_path / "data", secret_store="file", sample=False)


@pytest.fixture
def runtime(settings: Settings, sample_db: Path) -> Iterator[Runtime]:
    runtime = open_runtime(settings)
    runtime.connector.create_connection(
        ConnectionInput(name="sample", kind="sqlite", options={"path": str(sample_db)}),
        test=False,
    )
    yield runtime
    runtime.close()


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    app = create_app(runtime, close_runtime=False)
    assert runtime.api_key is not None
    with TestClient(
        app, base_url="http://localhost", headers={"X-API-KEY": runtime.api_key}
    ) as test_client:
        yield test_client


@dataclass
class LiveServer:
    url: str
    api_key: str
    data_dir: Path
    process: subprocess.Popen[bytes]
    log: IO[bytes]
    verify: ssl.SSLContext | bool = True  # for TLS: trusts only the server's own CA

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"X-API-KEY": self.api_key},
            timeout=30,
            verify=self.verify,
            **kwargs,  # type: ignore[arg-type]
        )


def start_server(
    data_dir: Path,
    *extra: str,
    env: dict[str, str] | None = None,
    port: int | Literal["auto"] | None = None,
    tls: bool = False,
    program: list[str] | None = None,
) -> LiveServer:
    """``data-connector serve`` in a child process, once /health answers.

    ``extra``: more ``serve`` arguments; ``port``: a number, a free one (None) or ``"auto"``
    (the server picks; read from its banner); ``tls``: ``serve --tls``, checked over HTTPS
    trusting only the local CA; ``program``: a built bundle run in place of this checkout's
    CLI. Stop it with ``stop_server``, which returns what it printed."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_server
    try:
        process, url = launch_server(
            data_dir, *extra, env=env, log=log, port=port, tls=tls, program=program
        )
    except BaseException:
        log.close()
        raise
    key = (data_dir / "api_key").read_text().strip()
    verify: ssl.SSLContext | bool = True
    if tls:
        verify = ssl.create_default_context(cafile=str(data_dir / "tls" / "ca.pem"))
    return LiveServer(url, key, data_dir, process, log, verify)


def stop_server(server: LiveServer, sig: signal.Signals = signal.SIGINT) -> str:
    """Stop with ``sig`` (SIGINT, as Ctrl-C does, unless told) and return what the server
    printed; its exit code is then in ``server.process.returncode``."""
    if server.process.poll() is None:
        server.process.send_signal(sig)
        try:
            # A clean shutdown waits at most for uvicorn's 5 s graceful timeout; 15 s
            # covers a slow machine, and past that the server is killed, not waited on.
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log.seek(0)
    output = server.log.read().decode(errors="replace")
    server.log.close()
    form = canary.leaked(output)
    assert form is None, f"the server printed the canary secret (as {form!r})"
    return output


def serve_refused(
    data_dir: Path, *extra: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """``data-connector serve`` that is expected to refuse to start: run to its exit (a
    server that starts anyway is killed when ``SERVER_START_S`` passes, failing the test).
    Without a ``--port`` in ``extra``, a free one: the default (7800) may be in use on the
    machine, and a taken port is a refusal of its own."""
    if "--port" not in extra:
        extra = ("--port", str(free_port()), *extra)
    return subprocess.run(
        serve_command(data_dir, *extra),
        capture_output=True,
        text=True,
        timeout=SERVER_START_S,
        env=server_env(env),
        check=False,
    )


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sample_db: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live")
    shutil.copy(sample_db, data_dir / "sample.db")  # saves building it again
    server = start_server(data_dir)
    yield server
    stop_server(server)


# The canary secret (tests/canary.py) ---------------------------------------------------
# Where it turned up during the running test: an answer the test read, a log record.
_LEAKS: list[str] = []


class _CanaryLogHandler(logging.Handler):
    def emit(self, record: logging.LogRecord) -> None:
        try:
            text = self.format(record)
        except Exception:  # a record that cannot be formatted is not this check's business
            return
        form = canary.leaked(text)
        if form:
            _LEAKS.append(f"log record of {record.name} (as {form!r})")


def _watch_answer(response: httpx.Response) -> None:
    try:
        seen = response.content + str(response.headers).encode()
    except httpx.ResponseNotRead:  # streamed and not read: nothing the test saw
        return
    form = canary.leaked(seen)
    if form:
        request = response.request
        where = f"{request.method} {request.url.path} answered {response.status_code}"
        _LEAKS.append(f"{where} (as {form!r})")


@pytest.fixture(scope="session", autouse=True)
def _canary_watch() -> Iterator[None]:
    """Every answer the suite reads and every log record it makes is searched for the
    canary secret, in-process (TestClient) and from live servers (httpx)."""
    sync_send, async_send = httpx.Client.send, httpx.AsyncClient.send

    def send(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = sync_send(self, request, **kwargs)
        if not kwargs.get("stream"):
            _watch_answer(response)
        return response

    async def asend(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        response = await async_send(self, request, **kwargs)
        if not kwargs.get("stream"):
            _watch_answer(response)
        return response

    handler = _CanaryLogHandler()
    logging.getLogger().addHandler(handler)
    httpx.Client.send = send  # type: ignore[method-assign]
    httpx.AsyncClient.send = asend  # type: ignore[method-assign]
    try:
        yield
    finally:
        httpx.Client.send, httpx.AsyncClient.send = sync_send, async_send  # type: ignore[method-assign]
        logging.getLogger().removeHandler(handler)


@pytest.fixture(autouse=True)
def _no_canary_leak(request: pytest.FixtureRequest) -> Iterator[None]:
    """Fails the test that let the canary secret out: into an answer, a log record, or a
    file of its temporary folder other than the fallback keychain."""
    _LEAKS.clear()
    yield
    leaks = list(_LEAKS)
    _LEAKS.clear()
    folder = request.node.funcargs.get("tmp_path")
    if isinstance(folder, Path) and folder.exists():
        leaks += [f"the file {name}" for name in canary.leaked_files(folder)]
    if leaks:
        pytest.fail("the canary secret got out: " + "; ".join(leaks), pytrace=False)
