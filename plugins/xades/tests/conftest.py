"""Keys and certificates for the xades tests, made once per session (RSA keygen is slow)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from ksef_auth import CertificateCredential, Challenge, LocalKey
from ksef_auth_testcert.builder import issue, personal_subject, seal_subject, self_signed

NIP = "5265877635"
OTHER_NIP = "1234563218"
PESEL = "44051401359"
CHALLENGE = Challenge("20250625-CR-20F5EE4000-DA48AE4124-46", "2025-06-25T10:00:00+00:00", 0)


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def rsa_seal(rsa_key: rsa.RSAPrivateKey) -> CertificateCredential:
    certificate = self_signed(rsa_key, seal_subject(NIP))
    return CertificateCredential(certificate, LocalKey(rsa_key), source="test:rsa-seal")


@pytest.fixture(scope="session")
def ec_seal(ec_key: ec.EllipticCurvePrivateKey) -> CertificateCredential:
    certificate = self_signed(ec_key, seal_subject(NIP))
    return CertificateCredential(certificate, LocalKey(ec_key), source="test:ec-seal")


@pytest.fixture(scope="session")
def ec_personal(ec_key: ec.EllipticCurvePrivateKey) -> CertificateCredential:
    certificate = self_signed(ec_key, personal_subject(nip=NIP))
    return CertificateCredential(certificate, LocalKey(ec_key), source="test:ec-personal")


@pytest.fixture(scope="session")
def ca_issued(ec_key: ec.EllipticCurvePrivateKey) -> CertificateCredential:
    """A seal issued by a test CA, with the CA certificate as its chain."""
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca_name = seal_subject(OTHER_NIP, "Test CA")
    ca = issue(ca_name, ca_key.public_key(), ca_key, ca=True)
    leaf = issue(seal_subject(NIP), ec_key.public_key(), ca_key, issuer=ca_name)
    return CertificateCredential(leaf, LocalKey(ec_key), chain=(ca,), source="test:ca-issued")


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
