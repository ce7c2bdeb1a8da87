"""Keys and certificates for the pkcs12 tests (made once per session)."""

from __future__ import annotations

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from p12_support import NIP

from ksef_auth_testcert.builder import issue, seal_subject, self_signed


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def rsa_cert(rsa_key: rsa.RSAPrivateKey) -> x509.Certificate:
    return self_signed(rsa_key, seal_subject(NIP))


@pytest.fixture(scope="session")
def ec_cert(ec_key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    return self_signed(ec_key, seal_subject(NIP))


@pytest.fixture(scope="session")
def ca(ec_key: ec.EllipticCurvePrivateKey) -> tuple[x509.Certificate, x509.Certificate]:
    """(CA certificate, leaf for ``ec_key`` issued by it)."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = seal_subject("1234563218", "Test CA")
    ca_cert = issue(name, ca_key.public_key(), ca_key, ca=True)
    leaf = issue(seal_subject(NIP), ec_key.public_key(), ca_key, issuer=name)
    return ca_cert, leaf
