"""Shared fixtures: settings on a temporary data folder, a runtime, an in-process client,
a real server in a child process, and the sample database built once per session."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import httpx
import pytest
from fastapi.testclient import TestClient

from benchmarks.harness import launch_server
from connector.app import create_app
from connector.config import Settings
from connector.models import ConnectionInput
from connector.runtime import Runtime, open_runtime
from connector.sample import build_sample

IN_CI = os.environ.get("CI", "").lower() == "true"


def require_service(available: bool, reason: str) -> None:
    """Skip when a real server is missing on a laptop; under CI=true that is a failure."""
    if available:
        return
    if IN_CI:
        pytest.fail(f"{reason} (CI=true: real-server tests must not skip)")
    pytest.skip(reason)


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

    def client(self, **kwargs: object) -> httpx.Client:
        return httpx.Client(
            base_url=self.url,
            headers={"X-API-KEY": self.api_key},
            timeout=30,
            **kwargs,  # type: ignore[arg-type]
        )


def start_server(data_dir: Path, *extra: str, env: dict[str, str] | None = None) -> LiveServer:
    """``data-connector serve`` in a child process on a free port, once it answers."""
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_server
    try:
        process, url = launch_server(data_dir, *extra, env=env, log=log)
    except BaseException:
        log.close()
        raise
    key = (data_dir / "api_key").read_text().strip()
    return LiveServer(url=url, api_key=key, data_dir=data_dir, process=process, log=log)


def stop_server(server: LiveServer) -> str:
    """Stop with SIGINT (as Ctrl-C does) and return what the server printed."""
    import signal

    if server.process.poll() is None:
        server.process.send_signal(signal.SIGINT)
        try:
            server.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()
    server.log.seek(0)
    output = server.log.read().decode(errors="replace")
    server.log.close()
    return output


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory, sample_db: Path) -> Iterator[LiveServer]:
    data_dir = tmp_path_factory.mktemp("live")
    shutil.copy(sample_db, data_dir / "sample.db")  # saves building it again
    server = start_server(data_dir)
    yield server
    stop_server(server)
