"""The double-click app: PyInstaller builds the Linux one-folder bundle from the project's
spec, and the bundle starts headless (``--version``, a ``serve`` that answers /health) and
as the window (offscreen), which starts its own server and stops it when told to quit.

Slow (a minute or two: a full PyInstaller build), so it is marked ``slow``.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from connector.ports import recommend_port

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "packaging" / "data-connector.spec"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="builds the Linux bundle"),
]


@pytest.fixture(scope="module")
def bundle(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("pyinstaller")
    built = subprocess.run(
        [sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level", "WARN",
         "--distpath", str(work / "dist"), "--workpath", str(work / "build"), str(SPEC)],
        cwd=ROOT, capture_output=True, text=True, check=False, timeout=900,
    )  # fmt: skip
    assert built.returncode == 0, built.stderr[-4000:]
    executable = work / "dist" / "data-connector" / "data-connector"
    assert os.access(executable, os.X_OK)
    return executable


def _wait_for_health(
    url: str, process: subprocess.Popen[bytes], seconds: float = 60
) -> dict[str, object]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert process.poll() is None, "the bundle exited early"
        try:
            answer = httpx.get(f"{url}/health", timeout=1)
            if answer.status_code == 200:
                data: dict[str, object] = answer.json()
                return data
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{url} did not answer /health")


def _stop(process: subprocess.Popen[bytes]) -> int:
    process.send_signal(signal.SIGTERM)
    try:
        return process.wait(20)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(5)
        raise


def test_bundle_prints_its_version(bundle: Path) -> None:
    from connector import __version__

    shown = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"data-connector, version {__version__}"


def test_bundle_serves_headless(bundle: Path, tmp_path: Path) -> None:
    port = recommend_port(7950)
    log = (tmp_path / "serve.log").open("wb")
    server = subprocess.Popen(
        [str(bundle), "--data-dir", str(tmp_path / "data"), "serve", "--port", str(port)],
        stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        health = _wait_for_health(f"http://127.0.0.1:{port}", server)
        assert health["status"] == "ok"
        key = (tmp_path / "data" / "api_key").read_text().strip()
        names: list[str] = []
        for _ in range(300):  # the sample database is made once the server answers
            listed = httpx.get(f"http://127.0.0.1:{port}/connections", headers={"X-API-KEY": key})
            assert listed.status_code == 200
            names = [c["name"] for c in listed.json()]
            if names:
                break
            time.sleep(0.1)
        assert names == ["sample"]
    finally:
        # uvicorn shuts down cleanly on SIGTERM, then exits by the same signal
        assert _stop(server) in (0, -signal.SIGTERM)
        log.close()
    assert "Application shutdown complete" in (tmp_path / "serve.log").read_text()


def test_bundle_window_starts_its_own_server(bundle: Path, tmp_path: Path) -> None:
    port = recommend_port(7970)
    config = tmp_path / "config"
    (config / "data-connector").mkdir(parents=True)
    (config / "data-connector" / "Data Connector.conf").write_text(f"[General]\nport={port}\n")
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "XDG_CONFIG_HOME": str(config),
           "XDG_STATE_HOME": str(tmp_path / "state")}  # fmt: skip
    app = subprocess.Popen(
        [str(bundle), "--data-dir", str(tmp_path / "data")],
        env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        assert _wait_for_health(f"http://127.0.0.1:{port}", app)["status"] == "ok"
    finally:
        _stop(app)
    with pytest.raises(httpx.ConnectError):  # quitting the app stopped its server
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
