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
from pathlib import Path

import httpx
import pytest

from benchmarks.harness import SERVER_START_S
from connector.ports import recommend_port
from tests.conftest import start_server, stop_server, wait_until

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


def _health(url: str) -> dict[str, object]:
    try:
        answer = httpx.get(f"{url}/health", timeout=1)
    except httpx.HTTPError:
        return {}
    found: dict[str, object] = answer.json() if answer.status_code == 200 else {}
    return found


def test_bundle_prints_its_version(bundle: Path) -> None:
    from connector import __version__

    shown = subprocess.run([str(bundle), "--version"], capture_output=True, text=True, check=True)
    assert shown.stdout.strip() == f"data-connector, version {__version__}"


def test_bundle_serves_headless(bundle: Path, tmp_path: Path) -> None:
    # The bundle takes the CLI's arguments, so it starts like any server, in its place.
    server = start_server(tmp_path / "data", program=[str(bundle)])
    try:
        assert _health(server.url)["status"] == "ok"
        with server.client() as client:
            # The sample database is made once the server answers (seconds; 120 s bounds a
            # loaded machine).
            names = wait_until(
                lambda: [c["name"] for c in client.get("/connections").json()],
                within_s=120,
                what="the sample connection appearing",
            )
        assert names == ["sample"]
    finally:
        # uvicorn shuts down cleanly on SIGTERM, then exits by the same signal.
        output = stop_server(server, signal.SIGTERM)
    assert server.process.returncode == -signal.SIGTERM, output
    assert "Application shutdown complete" in output


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
        health = wait_until(
            lambda: _health(f"http://127.0.0.1:{port}"),
            within_s=SERVER_START_S,
            what="the window's server answering /health",
            process=app,
        )
        assert health["status"] == "ok"
    finally:
        app.send_signal(signal.SIGTERM)
        try:
            app.wait(20)  # the window stops its server (6 s grace, then kill), then quits
        except subprocess.TimeoutExpired:
            app.kill()
            app.wait()
            raise
    with pytest.raises(httpx.ConnectError):  # quitting the app stopped its server
        httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
