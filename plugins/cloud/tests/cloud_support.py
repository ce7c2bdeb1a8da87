"""Constants and helpers shared by the cloud tests (the server helpers are public, in
ksef_auth_cloud.testing, for other plugins' tests too)."""

from __future__ import annotations

from ksef_auth_cloud.testing import REGION, closed_port
from ksef_auth_cloud.testing import MotoServer as Moto

__all__ = ["P12_PASSWORD", "REGION", "SECRET", "Moto", "Seal", "closed_port"]

SECRET = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "c3" * 32
"""A realistic KSeF token: no test may see it in a message, repr or log."""


P12_PASSWORD = "p12-password-never-shown"


class Seal:
    """A self-signed EC seal for NIP 5261040828, in every form a secret may hold it."""

    def __init__(self) -> None:
        from datetime import UTC, datetime, timedelta

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.hazmat.primitives.serialization import pkcs12
        from cryptography.x509.oid import NameOID

        self.key = ec.generate_private_key(ec.SECP256R1())
        subject = x509.Name(
            [
                x509.NameAttribute(NameOID.COMMON_NAME, "Seal"),
                x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "VATPL-5261040828"),
                x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            ]
        )
        now = datetime.now(UTC)
        self.certificate = (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(subject)
            .public_key(self.key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=30))
            .sign(self.key, hashes.SHA256())
        )
        self.certificate_pem = self.certificate.public_bytes(serialization.Encoding.PEM).decode()
        self.key_pem = self.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        ).decode()
        self.p12 = pkcs12.serialize_key_and_certificates(
            b"seal",
            self.key,
            self.certificate,
            None,
            serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
        )

    @property
    def key_line(self) -> str:
        """A line from inside the key's PEM: no message or log may hold it."""
        return self.key_pem.splitlines()[1]
