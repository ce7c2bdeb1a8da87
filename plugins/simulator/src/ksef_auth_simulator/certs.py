"""What a signer's X.509 certificate says about who signed: identifier, kind, validity, trust."""

from __future__ import annotations

import datetime as dt
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from cryptography import x509
from cryptography.x509.oid import NameOID

_PESEL = re.compile(r"(PNOPL|PESEL).*?(\d{11})")
_NIP = re.compile(r"(TINPL|NIP).*?(\d{10})")
_VAT = re.compile(r"(VATPL).*?(\d{10})")
_ORG_ID = x509.ObjectIdentifier("2.5.4.97")


def fingerprint(cert: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, 64 uppercase hex digits."""
    from cryptography.hazmat.primitives.serialization import Encoding

    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()


def _attr(name: x509.Name, oid: x509.ObjectIdentifier) -> str | None:
    values = name.get_attributes_for_oid(oid)
    return str(values[0].value) if values else None


@dataclass
class CertificateIdentity:
    """The subject identifier read from a certificate, the KSeF way."""

    identifier_type: str | None  # "Nip" | "Pesel" | None
    identifier: str | None
    fingerprint: str
    is_seal: bool
    subject_details: dict[str, object] = field(default_factory=dict)

    @property
    def authentication_method(self) -> str:
        return "QualifiedSeal" if self.is_seal else "QualifiedSignature"


def identity(cert: x509.Certificate) -> CertificateIdentity:
    """NIP/PESEL from ``serialNumber`` (PNOPL/PESEL, TINPL/NIP) or ``organizationIdentifier``
    (VATPL), a seal being a certificate with organizationIdentifier and no given name/surname."""
    subject = cert.subject
    serial = _attr(subject, NameOID.SERIAL_NUMBER) or ""
    org_id = _attr(subject, _ORG_ID) or ""
    given = _attr(subject, NameOID.GIVEN_NAME)
    surname = _attr(subject, NameOID.SURNAME)
    kind: str | None = None
    value: str | None = None
    if match := _PESEL.search(serial):
        kind, value = "Pesel", match.group(2)
    elif (match := _NIP.search(serial)) or (match := _VAT.search(org_id)):
        kind, value = "Nip", match.group(2)
    is_seal = bool(org_id) and given is None and surname is None
    details: dict[str, object] = {
        "givenName": given,
        "surname": surname,
        "serialNumber": serial or None,
        "commonName": _attr(subject, NameOID.COMMON_NAME),
        "countryName": _attr(subject, NameOID.COUNTRY_NAME),
    }
    if is_seal:
        details = {
            "organizationName": _attr(subject, NameOID.ORGANIZATION_NAME),
            "organizationIdentifier": org_id,
            "commonName": details["commonName"],
            "countryName": details["countryName"],
        }
    return CertificateIdentity(kind, value, fingerprint(cert), is_seal, details)


def validity_problem(cert: x509.Certificate, now: float) -> str | None:
    """ "Nieważny certyfikat" when ``now`` is outside notBefore..notAfter, else None."""
    moment = dt.datetime.fromtimestamp(now, dt.UTC)
    if moment < cert.not_valid_before_utc or moment > cert.not_valid_after_utc:
        return "Nieważny certyfikat"
    return None


def _issued_by(child: x509.Certificate, issuer: x509.Certificate) -> bool:
    if child.issuer != issuer.subject:
        return False
    try:
        child.verify_directly_issued_by(issuer)
    except (ValueError, TypeError, Exception):
        return False
    return True


def chains_to(
    leaf: x509.Certificate,
    intermediates: Sequence[x509.Certificate],
    trusted: Sequence[x509.Certificate],
    max_depth: int = 6,
) -> bool:
    """True when ``leaf`` is a trusted certificate or chains to one through ``intermediates``."""
    if leaf in trusted:
        return True
    current = leaf
    for _ in range(max_depth):
        if any(_issued_by(current, ca) for ca in trusted):
            return True
        parent = next((c for c in intermediates if c != current and _issued_by(current, c)), None)
        if parent is None:
            return False
        current = parent
    return False


def load_pems(pems: Sequence[bytes | str]) -> list[x509.Certificate]:
    return [x509.load_pem_x509_certificate(p.encode() if isinstance(p, str) else p) for p in pems]
