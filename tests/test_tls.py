"""``serve --tls``: a local CA and a certificate for localhost, 127.0.0.1 and ::1, made once in
the data folder; a client that trusts only that CA connects over HTTPS."""

from __future__ import annotations

import ipaddress
import os
import ssl
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
from cryptography import x509

from connector.ports import recommend_port
from connector.tls import ensure_tls
from tests.conftest import LiveServer, stop_server


def start_tls_server(data_dir: Path) -> tuple[LiveServer, ssl.SSLContext]:
    port = recommend_port(21000 + os.getpid() % 19000)
    log = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop_server
    process = subprocess.Popen(
        [sys.executable, "-m", "connector.cli", "--data-dir", str(data_dir), "serve",
         "--port", str(port), "--tls", "--no-sample"],
        stdout=log,
        stderr=subprocess.STDOUT,
        env={**os.environ, "CONNECTOR_SECRET_STORE": "file"},
    )  # fmt: skip
    ca = data_dir / "tls" / "ca.pem"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert process.poll() is None, "the server exited early"
        if ca.exists():
            context = ssl.create_default_context(cafile=str(ca))
            try:
                health = httpx.get(f"https://localhost:{port}/health", verify=context, timeout=1)
                if health.status_code == 200:
                    key = (data_dir / "api_key").read_text().strip()
                    url = f"https://localhost:{port}"
                    return LiveServer(url, key, data_dir, process, log), context
            except (httpx.HTTPError, ssl.SSLError):
                pass
        time.sleep(0.1)
    process.kill()
    process.wait()
    log.close()
    raise RuntimeError("the HTTPS server did not answer within 60 s")


def test_tls_serves_https_verified_by_the_local_ca(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server, context = start_tls_server(data_dir)
    try:
        with httpx.Client(verify=context, headers={"X-API-KEY": server.api_key}) as client:
            for host in ("localhost", "127.0.0.1", "[::1]"):
                url = server.url.replace("localhost", host)
                try:
                    response = client.get(f"{url}/connections")
                except httpx.ConnectError:
                    assert host == "[::1]", f"could not reach {host}"
                    continue  # the server binds 127.0.0.1 only; ::1 is covered by the SAN check
                assert response.status_code == 200 and response.json() == []
        # A client that does not trust the local CA is refused.
        try:
            httpx.get(f"{server.url}/health", timeout=5)
            raise AssertionError("an untrusted certificate was accepted")
        except httpx.ConnectError as exc:
            assert "CERTIFICATE_VERIFY_FAILED" in str(exc)
    finally:
        output = stop_server(server)
    assert "https://localhost:" in output
    for system in ("macOS:", "Windows:", "Linux:"):
        assert system in output
    assert "security add-trusted-cert" in output and "certutil" in output
    assert "update-ca-certificates" in output

    folder = data_dir / "tls"
    cert = x509.load_pem_x509_certificate((folder / "cert.pem").read_bytes())
    names = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert names.get_values_for_type(x509.DNSName) == ["localhost"]
    assert set(names.get_values_for_type(x509.IPAddress)) == {
        ipaddress.ip_address("127.0.0.1"),
        ipaddress.ip_address("::1"),
    }
    for private in ("ca-key.pem", "key.pem"):
        assert (folder / private).stat().st_mode & 0o777 == 0o600
    before = {path.name: path.read_bytes() for path in folder.iterdir()}
    again = ensure_tls(data_dir)  # made once: a second start keeps the same CA and certificate
    assert again.made is False
    assert {path.name: path.read_bytes() for path in folder.iterdir()} == before
