"""What a certificate says about itself, as KSeF reads it: identity, validity, key.

Safe for any tool to call (``ksef-auth doctor`` warns with :func:`expiry_warning` when fewer than
30 days are left). Nothing here touches a private key.

Identity rules (KSeF docs, auth/podpis-xades.md):

* seal: ``organizationIdentifier`` matching ``VATPL.*?(\\d{10})`` -> NIP;
* personal: ``serialNumber`` matching ``(PNOPL|PESEL).*?(\\d{11})`` -> PESEL, or
  ``(TINPL|NIP).*?(\\d{10})`` -> NIP.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

import attrs

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes

__all__ = [
    "ACCEPTED_CURVES",
    "EXPIRY_WARNING_DAYS",
    "MIN_RSA_BITS",
    "CertificateIdentity",
    "certificate_identity",
    "days_left",
    "describe",
    "expiry_warning",
    "fingerprint",
    "key_description",
    "key_problem",
    "public_keys_match",
    "subject",
    "validity_problem",
]

MIN_RSA_BITS = 2048
ACCEPTED_CURVES = ("secp256r1", "secp384r1", "secp521r1")
EXPIRY_WARNING_DAYS = 30

_ORG_NIP = re.compile(r"VATPL.*?(\d{10})")
_SERIAL_PESEL = re.compile(r"(PNOPL|PESEL).*?(\d{11})")
_SERIAL_NIP = re.compile(r"(TINPL|NIP).*?(\d{10})")


@attrs.frozen
class CertificateIdentity:
    """The identifier KSeF reads from a certificate subject: ``kind`` is ``nip`` or ``pesel``,
    ``attribute`` the subject attribute it came from."""

    kind: Literal["nip", "pesel"]
    value: str
    attribute: Literal["organizationIdentifier", "serialNumber"]

    def __str__(self) -> str:
        return f"{self.kind.upper()} {self.value} (from {self.attribute})"


def _attribute(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> list[str]:
    return [str(a.value) for a in certificate.subject.get_attributes_for_oid(oid)]


def certificate_identity(certificate: x509.Certificate) -> CertificateIdentity | None:
    """The NIP or PESEL KSeF would read from the subject, or None when it carries neither
    (then only ``certificateFingerprint`` authentication can work)."""
    from cryptography.x509.oid import NameOID

    for value in _attribute(certificate, NameOID.ORGANIZATION_IDENTIFIER):
        match = _ORG_NIP.search(value)
        if match:
            return CertificateIdentity("nip", match.group(1), "organizationIdentifier")
    for value in _attribute(certificate, NameOID.SERIAL_NUMBER):
        match = _SERIAL_PESEL.search(value)
        if match:
            return CertificateIdentity("pesel", match.group(2), "serialNumber")
        match = _SERIAL_NIP.search(value)
        if match:
            return CertificateIdentity("nip", match.group(2), "serialNumber")
    return None


def subject(certificate: x509.Certificate) -> str:
    """The subject as an RFC 4514 string."""
    return certificate.subject.rfc4514_string()


def fingerprint(certificate: x509.Certificate) -> str:
    """SHA-256 of the DER certificate, 64 uppercase hex chars (KSeF's fingerprint)."""
    from cryptography.hazmat.primitives import hashes

    return certificate.fingerprint(hashes.SHA256()).hex().upper()


def _date(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M UTC")


def describe(certificate: x509.Certificate) -> str:
    """``subject (valid <from> to <until>)``: the form every certificate message uses."""
    return (
        f"{subject(certificate)} (valid {_date(certificate.not_valid_before_utc)}"
        f" to {_date(certificate.not_valid_after_utc)})"
    )


def days_left(certificate: x509.Certificate, now: datetime | None = None) -> int:
    """Whole days until the certificate expires; negative once it has expired."""
    remaining = certificate.not_valid_after_utc - (now or datetime.now(UTC))
    return remaining.days


def validity_problem(certificate: x509.Certificate, now: datetime | None = None) -> str | None:
    """Why the certificate is not valid at ``now`` (expired, not yet valid), or None."""
    now = now or datetime.now(UTC)
    if now > certificate.not_valid_after_utc:
        return f"the certificate {describe(certificate)} has expired"
    if now < certificate.not_valid_before_utc:
        return f"the certificate {describe(certificate)} is not valid yet"
    return None


def expiry_warning(
    certificate: x509.Certificate,
    threshold_days: int = EXPIRY_WARNING_DAYS,
    now: datetime | None = None,
) -> str | None:
    """A warning when the certificate expires within ``threshold_days`` (or already has)."""
    left = days_left(certificate, now)
    if left < 0:
        return f"the certificate {describe(certificate)} has expired"
    if left < threshold_days:
        return (
            f"the certificate {describe(certificate)} expires in {left} days:"
            " renew it before logins start failing"
        )
    return None


def key_description(public_key: PublicKeyTypes) -> str:
    """``RSA-2048``, ``EC-secp256r1``, ``Ed25519``...: safe to print."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if isinstance(public_key, rsa.RSAPublicKey):
        return f"RSA-{public_key.key_size}"
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        return f"EC-{public_key.curve.name}"
    return type(public_key).__name__.removesuffix("PublicKey").lstrip("_")


def key_problem(public_key: PublicKeyTypes) -> str | None:
    """Why KSeF would not accept a signature by this key, or None: RSA of at least 2048 bits or
    ECDSA on P-256, P-384 or P-521."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    description = key_description(public_key)
    if isinstance(public_key, rsa.RSAPublicKey):
        if public_key.key_size < MIN_RSA_BITS:
            return (
                f"{description} is too weak: KSeF requires RSA keys of at least {MIN_RSA_BITS} bits"
            )
        return None
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        if public_key.curve.name not in ACCEPTED_CURVES:
            return (
                f"{description} is not accepted: use an EC key on P-256, P-384 or P-521"
                " (secp256r1, secp384r1, secp521r1) or RSA of 2048 bits or more"
            )
        return None
    return (
        f"{description} keys cannot sign for KSeF: it accepts RSA (2048 bits or more)"
        " and ECDSA (P-256, P-384, P-521) signatures only"
    )


def public_keys_match(certificate: x509.Certificate, public_key: PublicKeyTypes) -> bool:
    """True when ``public_key`` is the certificate's public key."""
    from cryptography.hazmat.primitives import serialization

    def der(key: PublicKeyTypes) -> bytes:
        return key.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    return der(certificate.public_key()) == der(public_key)
