"""HTTPS for ``serve --tls``: a local certificate authority and a server certificate.

Made once, in ``<data folder>/tls``: a CA (``ca.pem``, its key ``ca-key.pem``) and a
certificate for ``localhost``, ``127.0.0.1`` and ``::1`` signed by it (``cert.pem``,
``key.pem``). Keys are written owner-only. The server certificate is renewed when it
nears its end; the CA is kept, so the user trusts it once. Safari, Brave and Excel on
Mac refuse plain-http backends, which is why this exists.

Must not import FastAPI, the store or any backend.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from connector.keychain import write_private_file

TLS_DIR = "tls"
CA_DAYS = 3650
# Apple platforms refuse server certificates valid for more than 825 days.
CERT_DAYS = 800
RENEW_BEFORE = dt.timedelta(days=30)
HOSTS = ("localhost", "127.0.0.1", "::1")


@dataclass(frozen=True)
class TlsFiles:
    ca_cert: Path
    ca_key: Path
    cert: Path
    key: Path
    made: bool

    @property
    def folder(self) -> Path:
        return self.cert.parent


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Data Connector (local)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    write_private_file(
        path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ),
    )


def _make_ca(cert_path: Path, key_path: Path, now: dt.datetime) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    name = _name("Data Connector local CA")
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _make_server_cert(files: TlsFiles, now: dt.datetime) -> None:
    ca_cert = x509.load_pem_x509_certificate(files.ca_cert.read_bytes())
    ca_key = serialization.load_pem_private_key(files.ca_key.read_bytes(), password=None)
    if not isinstance(ca_key, ec.EllipticCurvePrivateKey):
        raise ValueError("the local CA key is not an EC key")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = [x509.DNSName("localhost")]
    names += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in HOSTS[1:]]
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name("localhost"))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(min(now + dt.timedelta(days=CERT_DAYS), ca_cert.not_valid_after_utc))
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    _write_key(files.key, key)
    files.cert.write_bytes(cert.public_bytes(serialization.Encoding.PEM))


def _needs_renewal(path: Path, now: dt.datetime) -> bool:
    try:
        cert = x509.load_pem_x509_certificate(path.read_bytes())
    except (FileNotFoundError, ValueError):
        return True
    return cert.not_valid_after_utc - now < RENEW_BEFORE


def ensure_tls(data_dir: Path) -> TlsFiles:
    """The CA and server certificate in the data folder, made (or renewed) when needed."""
    folder = data_dir / TLS_DIR
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    files = TlsFiles(
        ca_cert=folder / "ca.pem",
        ca_key=folder / "ca-key.pem",
        cert=folder / "cert.pem",
        key=folder / "key.pem",
        made=False,
    )
    now = dt.datetime.now(dt.UTC)
    made = False
    if _needs_renewal(files.ca_cert, now) or not files.ca_key.exists():
        _make_ca(files.ca_cert, files.ca_key, now)
        files.cert.unlink(missing_ok=True)
        made = True
    if _needs_renewal(files.cert, now) or not files.key.exists():
        _make_server_cert(files, now)
        made = True
    return TlsFiles(files.ca_cert, files.ca_key, files.cert, files.key, made)


def trust_instructions(ca_cert: Path) -> str:
    """How to make browsers and Excel trust the local CA, on each system."""
    return "\n".join(
        [
            f"To trust this server's certificate, trust its local CA once: {ca_cert}",
            "  macOS:   sudo security add-trusted-cert -d -r trustRoot "
            f'-k /Library/Keychains/System.keychain "{ca_cert}"',
            f'  Windows: certutil -user -addstore Root "{ca_cert}"',
            "  Linux:   sudo cp "
            f'"{ca_cert}" /usr/local/share/ca-certificates/data-connector.crt '
            "&& sudo update-ca-certificates",
            "           (Chrome/Chromium/Firefox on Linux: "
            f'certutil -d sql:$HOME/.pki/nssdb -A -t "C,," -n data-connector -i "{ca_cert}")',
        ]
    )
