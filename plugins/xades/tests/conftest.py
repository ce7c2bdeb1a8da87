"""Keys and certificates for the xades tests, made once per session (RSA keygen is slow)."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from xades_support import NIP, OTHER_NIP

from ksef_auth import CertificateCredential, LocalKey
from ksef_auth_testcert.builder import issue, personal_subject, seal_subject, self_signed


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
