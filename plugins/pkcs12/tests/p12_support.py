"""Constants and PKCS#12 builders shared by the pkcs12 tests."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.serialization import pkcs12

NIP = "5265877635"
PASSWORD = "p12 password"


def modern(key, certificate: x509.Certificate, cas=(), password: str | None = PASSWORD) -> bytes:
    """AES-256-CBC with PBKDF2 (cryptography's best available)."""
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(b"ksef", key, certificate, list(cas), encryption)


def legacy_3des(key, certificate: x509.Certificate, password: str = PASSWORD) -> bytes:
    """PBES1 SHA-1 + 3DES with a SHA-1 MAC, as older Windows and Java tools write."""
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(password.encode())
    )
    return pkcs12.serialize_key_and_certificates(b"ksef", key, certificate, None, encryption)


def legacy_rc2(directory: Path, key, certificate: x509.Certificate) -> bytes | None:
    """RC2-40 certificate bag (openssl's ``-legacy``), made with the openssl CLI; None when
    the CLI is missing or cannot (cryptography cannot write RC2)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        return None
    key_file = directory / "rc2-key.pem"
    cert_file = directory / "rc2-cert.pem"
    out = directory / "rc2.p12"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    command = [
        openssl, "pkcs12", "-export", "-legacy", "-certpbe", "PBE-SHA1-RC2-40",
        "-keypbe", "PBE-SHA1-3DES", "-in", str(cert_file), "-inkey", str(key_file),
        "-out", str(out), "-passout", f"pass:{PASSWORD}",
    ]  # fmt: skip
    result = subprocess.run(command, capture_output=True, check=False)
    key_file.unlink()
    return out.read_bytes() if result.returncode == 0 and out.exists() else None


def write(directory: Path, name: str, data: bytes) -> Path:
    """Write a file of this user only (0600): the source refuses a PKCS#12 others may read."""
    path = directory / name
    path.write_bytes(data)
    path.chmod(0o600)
    return path
