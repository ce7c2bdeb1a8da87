"""Constants and file helpers shared by the pem tests."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization

NIP = "5265877635"
PASSWORD = "correct horse battery staple"

PEM = serialization.Encoding.PEM
DER = serialization.Encoding.DER
PKCS8 = serialization.PrivateFormat.PKCS8


def key_bytes(key, encoding=PEM, password: str | None = None, fmt=PKCS8) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(encoding, fmt, encryption)


def cert_bytes(certificate: x509.Certificate, encoding=PEM) -> bytes:
    return certificate.public_bytes(encoding)


def write(directory: Path, name: str, data: bytes) -> Path:
    """Write a file of this user only (0600): the pem source refuses a key others may read."""
    path = directory / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path
