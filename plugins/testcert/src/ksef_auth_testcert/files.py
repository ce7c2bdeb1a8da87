"""Writing certificates and keys to disk: keys and PKCS#12 files are created with mode 0600."""

from __future__ import annotations

from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes
from cryptography.hazmat.primitives.serialization import pkcs12

from ksef_auth.files import write_private

__all__ = ["certificate_pem", "key_pem", "pkcs12_bytes", "write_private", "write_public"]


def write_public(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o644)


def certificate_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKeyTypes, password: bytes | None = None) -> bytes:
    """PKCS#8 PEM, encrypted with the best available algorithm when ``password`` is given."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption
    )


def pkcs12_bytes(
    certificate: x509.Certificate,
    key: PrivateKeyTypes,
    password: bytes | None,
    *,
    name: bytes = b"ksef-test",
) -> bytes:
    """A PKCS#12 file (AES-256/PBKDF2 when ``password`` is given, unencrypted otherwise)."""
    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(password)
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        name,
        key,  # type: ignore[arg-type]
        certificate,
        None,
        encryption,
    )
