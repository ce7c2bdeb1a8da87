"""Logins against the simulator (strict XAdES checking on): every shape the signer sends."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives import serialization
from xades_support import NIP, OTHER_NIP, PESEL, dated

from ksef_auth import (
    AuthenticationFailed,
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    Environment,
    LocalKey,
    Strategy,
)
from ksef_auth_memory import MemoryStore
from ksef_auth_testcert.builder import personal_subject, self_signed
from ksef_auth_xades import XadesSigner

pytest.importorskip("ksef_auth_simulator")


class Fixed:
    """A credential source that always returns one credential."""

    def __init__(self, credential: CertificateCredential) -> None:
        self.credential = credential

    def load(self, request: object) -> CertificateCredential:
        return self.credential


@pytest.fixture
def simulator(make_ksef_simulator):
    return make_ksef_simulator(require_xades=True)


def strategy(base_url: str, credential, context: str | ContextIdentifier = NIP, **options):
    if isinstance(context, str):
        context = ContextIdentifier.nip(context)
    return Strategy(
        name="t",
        environment=Environment.of(base_url),
        context=context,
        credential=Fixed(credential),
        signer=XadesSigner(**options),
        store=MemoryStore(),
    )


def last_operation(simulator):
    return list(simulator.sim.operations.values())[-1]


@pytest.mark.parametrize("namespace", ["2.0", "2.1"])
@pytest.mark.parametrize("fixture", ["rsa_seal", "ec_seal", "ec_personal"])
def test_login(fixture: str, namespace: str, simulator, request) -> None:
    credential = request.getfixturevalue(fixture)
    assert strategy(simulator.base_url, credential, namespace=namespace).token()
    assert last_operation(simulator).subject["subjectIdentifier"] == {"type": "Nip", "value": NIP}


def test_login_fetches_no_public_keys(simulator, ec_seal) -> None:
    """A signature encrypts nothing, so a XAdES login never asks for KSeF's key list (an extra
    request, and a login that would fail when that endpoint does)."""
    from ksef_auth.flow import forget_public_keys

    forget_public_keys()
    assert strategy(simulator.base_url, ec_seal).token()
    endpoints = simulator.sim.counters()["endpoints"]
    assert not any("public-key" in name for name in endpoints), endpoints
    assert any("xades-signature" in name for name in endpoints)


def test_login_with_pesel(simulator, ec_key) -> None:
    simulator.sim.link_pesel(NIP, PESEL)
    credential = CertificateCredential(
        self_signed(ec_key, personal_subject(pesel=PESEL)), LocalKey(ec_key)
    )
    assert strategy(simulator.base_url, credential).token()
    assert last_operation(simulator).subject["subjectIdentifier"]["type"] == "Pesel"


def test_login_by_fingerprint(simulator, rsa_seal) -> None:
    context = ContextIdentifier.nip(OTHER_NIP)
    simulator.sim.grant_fingerprint(OTHER_NIP, rsa_seal.fingerprint)
    signer = {"subject_identifier": "certificateFingerprint"}
    assert strategy(simulator.base_url, rsa_seal, context, **signer).token()
    subject = last_operation(simulator).subject["subjectIdentifier"]
    assert subject == {"type": "Fingerprint", "value": rsa_seal.fingerprint}


def test_other_context_without_permission_is_415(simulator, rsa_seal) -> None:
    login = strategy(simulator.base_url, rsa_seal, OTHER_NIP, allow_other_context=True)
    with pytest.raises(AuthenticationFailed) as info:
        login.token()
    assert info.value.code == 415


def test_internal_id_context(simulator, ec_seal) -> None:
    context = ContextIdentifier.internal_id(f"{NIP}-00001")
    assert strategy(simulator.base_url, ec_seal, context).token()


def test_allowed_ips_reach_the_server(simulator, ec_seal) -> None:
    ips = ["127.0.0.1", "10.0.0.0/8", "192.168.1.1-192.168.1.20"]
    assert strategy(simulator.base_url, ec_seal, allowed_ips=ips).token()
    allowed = last_operation(simulator).allowed_ips
    assert "127.0.0.1" in str(allowed) and "10.0.0.0/8" in str(allowed)


def test_chain_verification_with_trusted_ca(make_ksef_simulator, ca_issued) -> None:
    ca_pem = ca_issued.chain[0].public_bytes(serialization.Encoding.PEM)
    trusting = make_ksef_simulator(require_xades=True, trusted_ca_pems=[ca_pem])
    login = strategy(trusting.base_url, ca_issued, verify_certificate_chain=True)
    assert login.token()
    untrusting = make_ksef_simulator(require_xades=True)
    with pytest.raises(AuthenticationFailed) as info:
        strategy(untrusting.base_url, ca_issued, verify_certificate_chain=True).token()
    assert info.value.code == 460


# Preflight stops these before any request: the environment points at a closed port, so a
# request would fail with a transport error, not a CertificateError.
CLOSED = "http://127.0.0.1:9/v2"


def test_expired_stopped_before_network(ec_key) -> None:
    with pytest.raises(CertificateError, match="has expired"):
        strategy(CLOSED, dated(ec_key, -30, -1)).token()


def test_nip_mismatch_stopped_before_network(rsa_seal) -> None:
    with pytest.raises(CertificateError, match="context is NIP"):
        strategy(CLOSED, rsa_seal, OTHER_NIP).token()
