"""Logins against the simulator with test certificates: seal and personal, RSA and EC."""

from __future__ import annotations

import pytest

from ksef_auth import ConfigError, ContextIdentifier, Environment, Strategy
from ksef_auth_memory import MemoryStore
from ksef_auth_testcert import TestCertificateSource

pytest.importorskip("ksef_auth_simulator")
xades = pytest.importorskip("ksef_auth_xades")

NIP = "5265877635"
PESEL = "44051401359"


def strategy(environment: str, source: TestCertificateSource) -> Strategy:
    return Strategy(
        name="testcert",
        environment=Environment.of(environment),
        context=ContextIdentifier.nip(NIP),
        credential=source,
        signer=xades.XadesSigner(),
        store=MemoryStore(),
    )


@pytest.mark.parametrize("key_type", ["rsa", "ec"])
@pytest.mark.parametrize("kind", ["seal", "personal"])
def test_login(ksef_simulator, kind: str, key_type: str) -> None:
    # no nip: the certificate takes the NIP of the login's context
    source = TestCertificateSource(kind=kind, key_type=key_type)  # type: ignore[arg-type]
    assert strategy(ksef_simulator.base_url, source).token()
    assert source.nip is None  # nothing is remembered from one context for another


def test_one_source_serves_many_contexts(ksef_simulator) -> None:
    """Each context gets a certificate with its own NIP from one source."""
    source = TestCertificateSource(kind="seal", key_type="ec")
    first = strategy(ksef_simulator.base_url, source)
    other = first.with_context("1234563218")
    assert first.token() and other.token()
    mine = source.load(first.credential_request).certificate.subject.rfc4514_string()
    theirs = source.load(other.credential_request).certificate.subject.rfc4514_string()
    assert f"VATPL-{NIP}" in mine and "VATPL-1234563218" in theirs


def test_login_personal_pesel(ksef_simulator) -> None:
    ksef_simulator.sim.link_pesel(NIP, PESEL)
    source = TestCertificateSource(pesel=PESEL, kind="personal", key_type="ec")
    assert strategy(ksef_simulator.base_url, source).token()


def test_production_refused_before_login() -> None:
    with pytest.raises(ConfigError, match="accepted only on TEST"):
        strategy("production", TestCertificateSource(key_type="ec")).token()
