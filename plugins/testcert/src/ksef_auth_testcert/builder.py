"""Keys and self-signed certificates shaped like the ones KSeF's TEST environment accepts.

The subjects follow the official SDKs' test-certificate builders:

* **seal** (organisation): ``organizationIdentifier=VATPL-<NIP>``, ``O``, ``CN``, ``C=PL``; no
  givenName or surname (KSeF forbids them on seals);
* **personal**: ``serialNumber=TINPL-<NIP>`` or ``PNOPL-<PESEL>``, ``givenName``, ``surname``,
  ``CN``, ``C=PL``.

Validity runs from now - 61 minutes to now + 2 years, like the SDKs'. These helpers are also what
the other certificate plugins' tests build their fixtures with (expired, not yet valid, chains).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.types import (
    CertificateIssuerPrivateKeyTypes,
    CertificatePublicKeyTypes,
)
from cryptography.x509.oid import NameOID

KeyType = Literal["rsa", "ec"]
Kind = Literal["seal", "personal"]

BACKDATE = timedelta(minutes=61)
LIFETIME = timedelta(days=730)


def generate_key(key_type: KeyType = "rsa") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    """A fresh RSA-2048 or EC P-256 private key (the two kinds the SDKs' test builders make)."""
    if key_type == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if key_type == "rsa":
        return rsa.generate_private_key(public_exponent=65537, key_size=2048)
    raise ValueError(f"key_type must be 'rsa' or 'ec', got {key_type!r}")


def seal_subject(nip: str, organization: str | None = None) -> x509.Name:
    """The subject of a test company seal for ``nip``."""
    organization = organization or f"Test Company {nip}"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, organization),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )


def personal_subject(
    *,
    nip: str | None = None,
    pesel: str | None = None,
    given_name: str = "Jan",
    surname: str = "Testowy",
) -> x509.Name:
    """The subject of a test personal certificate: PESEL when given, else NIP."""
    if pesel:
        serial = f"PNOPL-{pesel}"
    elif nip:
        serial = f"TINPL-{nip}"
    else:
        raise ValueError("a personal test certificate needs a NIP or a PESEL")
    return x509.Name(
        [
            x509.NameAttribute(NameOID.GIVEN_NAME, given_name),
            x509.NameAttribute(NameOID.SURNAME, surname),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, serial),
            x509.NameAttribute(NameOID.COMMON_NAME, f"{given_name} {surname}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )


def subject_for(kind: Kind, *, nip: str | None = None, pesel: str | None = None) -> x509.Name:
    """The subject for a seal (needs ``nip``) or personal certificate (``nip`` or ``pesel``)."""
    if kind == "seal":
        if not nip:
            raise ValueError("a seal test certificate needs a NIP")
        return seal_subject(nip)
    if kind == "personal":
        return personal_subject(nip=nip, pesel=pesel)
    raise ValueError(f"kind must be 'seal' or 'personal', got {kind!r}")


def _signature_hash(key: CertificateIssuerPrivateKeyTypes) -> hashes.SHA256 | None:
    from cryptography.hazmat.primitives.asymmetric import ed448, ed25519

    if isinstance(key, (ed25519.Ed25519PrivateKey, ed448.Ed448PrivateKey)):
        return None
    return hashes.SHA256()


def issue(
    subject: x509.Name,
    public_key: CertificatePublicKeyTypes,
    issuer_key: CertificateIssuerPrivateKeyTypes,
    *,
    issuer: x509.Name | None = None,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
    ca: bool = False,
) -> x509.Certificate:
    """A certificate for ``public_key`` signed by ``issuer_key`` (self-signed when ``issuer`` is
    None). ``ca=True`` makes a CA certificate (for chain fixtures)."""
    now = datetime.now(UTC)
    not_before = not_before or now - BACKDATE
    not_after = not_after or now + LIFETIME
    if ca:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=False,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=True,
            crl_sign=True,
            encipher_only=False,
            decipher_only=False,
        )
    else:
        usage = x509.KeyUsage(
            digital_signature=True,
            content_commitment=True,
            key_encipherment=False,
            data_encipherment=False,
            key_agreement=False,
            key_cert_sign=False,
            crl_sign=False,
            encipher_only=False,
            decipher_only=False,
        )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer or subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .add_extension(usage, critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )
    return builder.sign(issuer_key, _signature_hash(issuer_key))  # type: ignore[arg-type]


def self_signed(
    key: CertificateIssuerPrivateKeyTypes,
    subject: x509.Name,
    *,
    not_before: datetime | None = None,
    not_after: datetime | None = None,
) -> x509.Certificate:
    """A self-signed end-entity certificate for ``key``."""
    return issue(subject, key.public_key(), key, not_before=not_before, not_after=not_after)  # type: ignore[arg-type]


def make_test_certificate(
    kind: Kind = "seal",
    *,
    nip: str | None = None,
    pesel: str | None = None,
    key_type: KeyType = "rsa",
) -> tuple[x509.Certificate, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey]:
    """A new key and a self-signed seal or personal certificate for it."""
    subject = subject_for(kind, nip=nip, pesel=pesel)
    key = generate_key(key_type)
    return self_signed(key, subject), key
