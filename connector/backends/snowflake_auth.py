"""Snowflake sign-in material: account identifiers and key-pair secrets, checked before use.

A key-pair secret is a PEM private key (PKCS#8, as ``openssl genrsa``/``pkcs8`` make it), or
for an encrypted key a JSON object ``{"private_key": "<PEM>", "passphrase": "..."}`` so the
passphrase lives in the keychain beside the key and never in the connection's options.
Errors are ``ValueError`` sentences that never quote the key or the passphrase.

Must not import FastAPI, SQLAlchemy or the Snowflake connector.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey

# orgname-accountname, or a locator with optional region and cloud: xy12345.eu-west-1.aws
ACCOUNT_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]*(\.[A-Za-z0-9][A-Za-z0-9_-]*){0,2}$")
_URL_HOST = re.compile(r"^(?:[a-z]+://)?([^/?#]+?)\.snowflakecomputing\.com", re.IGNORECASE)


def check_account(value: str) -> str:
    """The account identifier, or a ``ValueError`` saying what to give instead."""
    text = value.strip()
    lowered = text.lower()
    if "://" in text or "snowflakecomputing.com" in lowered or "/" in text:
        found = _URL_HOST.match(text)
        hint = f" (here: {found.group(1)!r})" if found else ""
        raise ValueError(
            "give the account identifier, not a URL: the part before "
            f".snowflakecomputing.com{hint}, e.g. 'myorg-myaccount' or 'xy12345.eu-west-1'"
        )
    if not ACCOUNT_PATTERN.match(text):
        raise ValueError(
            "is not a Snowflake account identifier; use 'orgname-accountname' "
            "or a locator such as 'xy12345' or 'xy12345.eu-west-1'"
        )
    return text


@dataclass(frozen=True)
class KeySecret:
    pem: bytes
    passphrase: bytes | None


def split_key_secret(secret: str) -> KeySecret:
    """The PEM and passphrase held in a key-pair secret."""
    text = secret.strip()
    if text.startswith("{"):
        try:
            data = orjson.loads(text)
        except orjson.JSONDecodeError:
            raise ValueError(
                "the key-pair secret starts with '{' but is not valid JSON; give the PEM "
                'key alone, or {"private_key": "<PEM>", "passphrase": "..."}'
            ) from None
        if not isinstance(data, dict) or not isinstance(data.get("private_key"), str):
            raise ValueError('a JSON key-pair secret needs a "private_key" string holding the PEM')
        passphrase = data.get("passphrase")
        if passphrase is not None and not isinstance(passphrase, str):
            raise ValueError('the "passphrase" of a key-pair secret must be a string')
        return KeySecret(
            pem=data["private_key"].strip().encode(),
            passphrase=passphrase.encode() if passphrase else None,
        )
    return KeySecret(pem=text.encode(), passphrase=None)


def load_private_key(secret: str) -> bytes:
    """The key in a key-pair secret as unencrypted PKCS#8 DER bytes, for the connector."""
    parts = split_key_secret(secret)
    if b"-----BEGIN" not in parts.pem or b"PRIVATE KEY-----" not in parts.pem:
        raise ValueError(
            "the key-pair secret is not a PEM private key (it must start with "
            "-----BEGIN PRIVATE KEY----- or -----BEGIN ENCRYPTED PRIVATE KEY-----)"
        )
    try:
        key = serialization.load_pem_private_key(parts.pem, password=parts.passphrase)
    except TypeError:
        if parts.passphrase is None:
            raise ValueError(
                "the private key is encrypted: give the secret as "
                '{"private_key": "<PEM>", "passphrase": "<passphrase>"}'
            ) from None
        raise ValueError(
            "a passphrase was given but the private key is not encrypted; give the PEM alone"
        ) from None
    except ValueError:
        if parts.passphrase is not None:
            raise ValueError(
                "the private key could not be decrypted: check the passphrase"
            ) from None
        raise ValueError("the PEM private key is malformed and could not be read") from None
    except Exception:  # cryptography raises its own types for unsupported key formats
        raise ValueError("the PEM private key could not be read") from None
    if not isinstance(key, RSAPrivateKey):
        raise ValueError("Snowflake key-pair sign-in needs an RSA private key")
    return key.private_bytes(
        encoding=serialization.Encoding.DER,
        format=serialization.PrivateFormat.PKCS8,
        encryption_algorithm=serialization.NoEncryption(),
    )
