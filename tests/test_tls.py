"""``serve --tls``: a local CA and a certificate for localhost, 127.0.0.1 and ::1, made once in
the data folder; a client that trusts only that CA connects over HTTPS."""

from __future__ import annotations

import ipaddress
from pathlib import Path

import httpx
import pytest
from cryptography import x509

from connector.tls import ensure_tls
from tests.conftest import start_server, stop_server


def test_tls_serves_https_verified_by_the_local_ca(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = start_server(data_dir, "--no-sample", tls=True)
    try:
        with server.client() as client:
            for host in ("localhost", "127.0.0.1"):
                response = client.get(server.url.replace("localhost", host) + "/connections")
                assert response.status_code == 200 and response.json() == []
            # The server binds 127.0.0.1 only: ::1 is not served (the certificate names it
            # anyway, checked below, for a server told to bind it).
            with pytest.raises(httpx.ConnectError):
                client.get(server.url.replace("localhost", "[::1]") + "/connections")
        # A client that does not trust the local CA is refused.
        with pytest.raises(httpx.ConnectError, match="CERTIFICATE_VERIFY_FAILED"):
            httpx.get(f"{server.url}/health", timeout=5)
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
