"""Self-signed seal certificates for the demo's PEM and PKCS#12 strategies.

Made with ``cryptography`` alone (the demo uses other plugins only by name), in the shape KSeF's
TEST environment and the simulator accept: ``organizationIdentifier=VATPL-<NIP>``, ``O``, ``CN``,
``C=PL``.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ksef_auth.files import write_private

ORGANIZATION_IDENTIFIER = x509.ObjectIdentifier("2.5.4.97")


def seal_certificate(
    nip: str, *, key_type: str = "rsa"
) -> tuple[x509.Certificate, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
    """A self-signed company seal for ``nip`` (RSA-2048 or EC P-256), valid for a year."""
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey
    if key_type == "ec":
        key = ec.generate_private_key(ec.SECP256R1())
    else:
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, f"Demo {nip} sp. z o.o."),
            x509.NameAttribute(ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.COMMON_NAME, f"Demo seal {nip}"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(hours=1))
        .not_valid_after(now + timedelta(days=365))
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .sign(key, hashes.SHA256())
    )
    return certificate, key


def write_pem(directory: Path, nip: str, password: str) -> tuple[Path, Path]:
    """``seal.cert.pem`` and ``seal.key.pem`` (EC key encrypted with ``password``, 0600)."""
    certificate, key = seal_certificate(nip, key_type="ec")
    cert_path, key_path = directory / "seal.cert.pem", directory / "seal.key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    write_private(
        key_path,
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.BestAvailableEncryption(password.encode()),
        ),
    )
    return cert_path, key_path


def write_pkcs12(directory: Path, nip: str, password: str) -> Path:
    """``seal.p12`` (RSA key, encrypted with ``password``, 0600) in ``directory``."""
    certificate, key = seal_certificate(nip, key_type="rsa")
    path = directory / "seal.p12"
    write_private(
        path,
        pkcs12.serialize_key_and_certificates(
            b"demo-seal",
            key,
            certificate,
            None,
            serialization.BestAvailableEncryption(password.encode()),
        ),
    )
    return path
