"""Test certificates: seals (organizationIdentifier=VATPL-<NIP>), personal (serialNumber=
TINPL-/PNOPL-), plain (no identifier), a CA and what it issues, weak and expired ones."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

ORG_ID = x509.ObjectIdentifier("2.5.4.97")
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


def name(
    *,
    nip: str | None = None,
    pesel: str | None = None,
    seal_nip: str | None = None,
    common_name: str = "Test",
) -> x509.Name:
    attrs = [x509.NameAttribute(NameOID.COMMON_NAME, common_name)]
    if seal_nip:
        attrs += [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "Firma Testowa Sp. z o.o."),
            x509.NameAttribute(ORG_ID, f"VATPL-{seal_nip}"),
        ]
    if nip or pesel:
        attrs += [
            x509.NameAttribute(NameOID.GIVEN_NAME, "Jan"),
            x509.NameAttribute(NameOID.SURNAME, "Kowalski"),
            x509.NameAttribute(NameOID.SERIAL_NUMBER, f"TINPL-{nip}" if nip else f"PNOPL-{pesel}"),
        ]
    attrs.append(x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"))
    return x509.Name(attrs)


def certificate(
    key: PrivateKey,
    subject: x509.Name,
    *,
    issuer: tuple[PrivateKey, x509.Certificate] | None = None,
    not_before: dt.datetime | None = None,
    not_after: dt.datetime | None = None,
    ca: bool = False,
) -> x509.Certificate:
    now = dt.datetime.now(dt.UTC)
    signing_key, issuer_name = (key, subject) if issuer is None else (issuer[0], issuer[1].subject)
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(not_before or now - dt.timedelta(minutes=61))
        .not_valid_after(not_after or now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    return builder.sign(signing_key, hashes.SHA256())


def chain_pems(certs: Sequence[x509.Certificate]) -> tuple[bytes, ...]:
    from cryptography.hazmat.primitives.serialization import Encoding

    return tuple(c.public_bytes(Encoding.PEM) for c in certs)
