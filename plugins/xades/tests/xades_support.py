"""Constants and certificate helpers shared by the xades tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from cryptography.hazmat.primitives.asymmetric import ec

from ksef_auth import CertificateCredential, Challenge, LocalKey
from ksef_auth_testcert.builder import seal_subject, self_signed

NIP = "5265877635"
OTHER_NIP = "1234563218"
PESEL = "44051401359"
CHALLENGE = Challenge("20250625-CR-20F5EE4000-DA48AE4124-46", "2025-06-25T10:00:00+00:00", 0)


def dated(key: ec.EllipticCurvePrivateKey, start_days: float, end_days: float, nip: str = NIP):
    """A seal valid from now + start_days to now + end_days."""
    now = datetime.now(UTC)
    certificate = self_signed(
        key,
        seal_subject(nip),
        not_before=now + timedelta(days=start_days),
        not_after=now + timedelta(days=end_days),
    )
    return CertificateCredential(certificate, LocalKey(key), source="test:dated")
