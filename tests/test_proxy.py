"""Behind a real reverse proxy: Debian's nginx on loopback (a free port, a config written
here, run as this user with ``-p`` and ``daemon off``) terminates TLS with a certificate
from the connector's own local CA and forwards ``/dc/`` to a connector started with
``--root-path /dc``. The team's host name and browser origin are allowed by configuration,
named keys authenticate and are recorded as the caller, and the client address history
keeps is the one nginx forwarded (``X-Forwarded-For`` from a trusted proxy)."""

from __future__ import annotations

import getpass
import shutil
import ssl
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from connector.ports import recommend_port
from connector.tls import ensure_tls
from tests.conftest import (
    LiveServer,
    assert_error,
    require_service,
    start_server,
    stop_server,
    wait_until,
)

NGINX = shutil.which("nginx") or "/usr/sbin/nginx"
TEAM_HOST = "connector.desk.test"
TEAM_ORIGIN = "https://workspace.desk.test"

NGINX_CONF = """
user {user};
worker_processes 1;
daemon off;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log info;
events {{ worker_connections 64; }}
http {{
    access_log {prefix}/access.log;
    client_body_temp_path {prefix}/body;
    proxy_temp_path {prefix}/proxy;
    fastcgi_temp_path {prefix}/fastcgi;
    uwsgi_temp_path {prefix}/uwsgi;
    scgi_temp_path {prefix}/scgi;
    server {{
        listen 127.0.0.1:{port} ssl;
        ssl_certificate {cert};
        ssl_certificate_key {key};
        location /dc/ {{
            proxy_pass http://127.0.0.1:{backend}/;
            proxy_set_header Host $host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_buffering off;
        }}
    }}
}}
"""


@dataclass
class Proxied:
    url: str
    verify: ssl.SSLContext
    key: str
    backend: LiveServer
    data_dir: Path

    def client(self, key: str | None = None, host: str = TEAM_HOST) -> httpx.Client:
        headers = {"Host": host}
        if key is not None:
            headers["X-API-KEY"] = key
        return httpx.Client(base_url=self.url, headers=headers, verify=self.verify, timeout=30)


def cli(data_dir: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def proxied(tmp_path_factory: pytest.TempPathFactory, sample_db: Path) -> Iterator[Proxied]:
    require_service(Path(NGINX).exists(), "nginx is not installed (Debian package nginx)")
    data_dir = tmp_path_factory.mktemp("behind_proxy")
    shutil.copy(sample_db, data_dir / "sample.db")
    made = cli(data_dir, "key", "add", "alice")
    assert made.returncode == 0, made.stderr
    backend = start_server(
        data_dir,
        "--root-path",
        "/dc",
        "--forwarded-allow-ips",
        "127.0.0.1",
        env={
            "CONNECTOR_ALLOWED_HOSTS": f'["{TEAM_HOST}"]',
            "CONNECTOR_CORS_ORIGINS": f'["{TEAM_ORIGIN}"]',
        },
    )
    prefix = tmp_path_factory.mktemp("nginx")
    tls = ensure_tls(prefix / "data")  # the proxy's certificate, for localhost
    port = recommend_port(21000)
    (prefix / "nginx.conf").write_text(
        NGINX_CONF.format(
            user=getpass.getuser(),
            prefix=prefix,
            port=port,
            cert=tls.cert,
            key=tls.key,
            backend=backend.url.rsplit(":", 1)[1],
        )
    )
    log = (prefix / "nginx.out").open("wb")
    nginx = subprocess.Popen(
        [
            NGINX,
            "-p",
            str(prefix),
            "-c",
            str(prefix / "nginx.conf"),
            "-e",
            str(prefix / "error.log"),
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    verify = ssl.create_default_context(cafile=str(tls.ca_cert))
    proxied = Proxied(f"https://localhost:{port}", verify, made.stdout.strip(), backend, data_dir)

    def answering() -> bool:
        try:
            with proxied.client() as http:
                return http.get("/dc/health").status_code == 200
        except httpx.HTTPError:
            return False

    try:
        # nginx starts in well under a second; 30 s bounds a loaded machine.
        wait_until(answering, within_s=30, what="nginx answering", process=nginx)
        yield proxied
    finally:
        nginx.terminate()
        nginx.wait(timeout=15)
        log.close()
        stop_server(backend)


def test_proxy_serves_the_connector_under_its_prefix_over_tls(proxied: Proxied) -> None:
    with proxied.client() as http:
        health = http.get("/dc/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        assert_error(http.get("/dc/connections"), 401, "auth_required")
    with proxied.client(proxied.key) as http:
        assert "sample" in http.get("/dc/connections").text or wait_until(
            lambda: "sample" in http.get("/dc/connections").text,
            within_s=60,  # the sample connection is registered just after start
            what="the sample connection",
        )
        # The OpenAPI description knows where it is served, so clients build right URLs.
        assert http.get("/dc/openapi.json").json()["servers"] == [{"url": "/dc"}]


def test_proxy_team_host_and_origin_are_allowed_and_others_refused(proxied: Proxied) -> None:
    with proxied.client(proxied.key, host="elsewhere.test") as http:
        assert_error(http.get("/dc/connections"), 421, "bad_host")
    with proxied.client() as http:
        preflight = http.options(
            "/dc/connections/sample/query",
            headers={"Origin": TEAM_ORIGIN, "Access-Control-Request-Method": "POST"},
        )
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == TEAM_ORIGIN
        other = http.options(
            "/dc/connections/sample/query",
            headers={"Origin": "https://evil.test", "Access-Control-Request-Method": "POST"},
        )
        assert "access-control-allow-origin" not in other.headers


def test_proxy_history_records_the_named_caller_and_the_forwarded_client(
    proxied: Proxied,
) -> None:
    with proxied.client(proxied.key) as http:
        wait_until(
            lambda: "sample" in http.get("/dc/connections").text,
            within_s=60,  # the sample connection is registered just after start
            what="the sample connection",
        )
        ran = http.post(
            "/dc/connections/sample/query",
            json={"sql": "SELECT count(*) AS n FROM tickers"},
            headers={"X-Forwarded-For": "203.0.113.7"},  # the analyst's address, as a
        )  # load balancer in front of nginx would say it; nginx appends its own peer
        assert ran.status_code == 200, ran.text
        entry = http.get("/dc/history?limit=1").json()[0]
    assert entry["caller"] == "alice"
    assert entry["client"] == "203.0.113.7"


def test_proxy_revoked_key_is_refused_through_the_proxy(proxied: Proxied) -> None:
    made = cli(proxied.data_dir, "key", "add", "carol")
    carol = made.stdout.strip()
    with proxied.client(carol) as http:
        assert http.get("/dc/connections").status_code == 200
        assert cli(proxied.data_dir, "key", "revoke", "carol").returncode == 0
        assert_error(http.get("/dc/connections"), 403, "auth_invalid")
