"""The errors of KSeF certificates: typed, each saying what to do, never holding a secret."""

from __future__ import annotations

from ksef_auth.errors import KsefError

#: what to do after each KSeF certificate code (``POST /certificates/*``)
CODE_HINTS: dict[int, str] = {
    25001: "enrollment data exists only after a XAdES login (a qualified seal or signature, or"
    " a KSeF certificate): KSeF tokens cannot enroll",
    25002: "enroll after a XAdES login (a qualified seal or signature, or a KSeF certificate):"
    " KSeF tokens cannot enroll",
    25003: "the CSR's subject must be exactly the enrollment data: build it from"
    " GET /certificates/enrollments/data without changing any attribute",
    25004: "the CSR is not a readable PKCS#10 request or its signature does not verify: the key"
    " handle that signed it is broken",
    25005: "KSeF does not know this enrollment (or it is another subject's)",
    25006: "the subject's enrollment limit is used up: wait for it to renew, or ask KSeF to raise"
    " it",
    25007: "the subject holds as many active certificates as allowed: revoke one you no longer"
    " use (ksef-auth cert revoke SERIAL)",
    25008: "KSeF does not know a certificate with this serial number for this subject",
    25009: "the certificate is already revoked, blocked or expired",
    25010: "KSeF certifies only RSA 2048-bit and EC P-256 keys: use --ec (recommended) or --rsa",
    25011: "the CSR's signature algorithm is not accepted (RSA PKCS#1 v1.5, PSS or ECDSA with"
    " SHA-1/256/384/512 are)",
}


class EnrollmentRejected(KsefError):
    """KSeF refused a KSeF-certificate enrollment, at once (a 400 with a 25xxx ``code``) or
    after processing it (``code`` 400, 500 or 550 in the enrollment's status)."""


class CertificateNotIssued(KsefError):
    """An enrollment finished, but the certificate KSeF returned is not the one asked for (its
    key or subject differs) or cannot be read."""


def hint(code: int | None) -> str:
    text = CODE_HINTS.get(code or 0)
    return f"{text[0].upper()}{text[1:]}" if text else ""
