"""The test-certificate source: subjects, environment guard, caching, persistence."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

import ksef_auth_testcert
from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    PluginManager,
    SecretRef,
)
from ksef_auth.testing import CredentialSourceContract
from ksef_auth_testcert import REFUSAL, TestCertificateSource

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

NIP = "5265877635"
PESEL = "44051401359"
LOCAL = Environment.of("http://127.0.0.1:8765/v2")


def attributes(certificate, oid) -> list[str]:
    return [str(a.value) for a in certificate.subject.get_attributes_for_oid(oid)]


class TestContract(CredentialSourceContract):
    @pytest.fixture
    def source(self) -> TestCertificateSource:
        return TestCertificateSource(nip=NIP, key_type="ec")

    @pytest.fixture
    def unavailable_source(self, tmp_path: Path) -> TestCertificateSource:
        pytest.skip("a test certificate is always available once it has a NIP")

    @pytest.fixture
    def rotate(self) -> None:
        """The source makes its certificate itself and keeps it for the process: no secret
        can change under it."""

    @pytest.fixture
    def keyed_source(self) -> TestCertificateSource:
        return TestCertificateSource(key_type="ec")  # no nip: one certificate per context

    def test_a_context_without_a_credential_is_not_available(self) -> None:  # type: ignore[override]
        pytest.skip("the source makes a certificate for any NIP")


def test_seal_subject() -> None:
    credential = TestCertificateSource(nip=NIP, key_type="ec").load(REQUEST)
    certificate = credential.certificate
    assert attributes(certificate, NameOID.ORGANIZATION_IDENTIFIER) == [f"VATPL-{NIP}"]
    assert attributes(certificate, NameOID.COUNTRY_NAME) == ["PL"]
    assert attributes(certificate, NameOID.ORGANIZATION_NAME)
    assert attributes(certificate, NameOID.COMMON_NAME)
    assert not attributes(certificate, NameOID.GIVEN_NAME)
    assert not attributes(certificate, NameOID.SURNAME)
    assert certificate.issuer == certificate.subject
    assert isinstance(certificate.public_key(), ec.EllipticCurvePublicKey)
    assert credential.source == f"test-certificate:seal:VATPL-{NIP}"


def test_personal_subjects() -> None:
    by_nip = (
        TestCertificateSource(nip=NIP, kind="personal", key_type="ec").load(REQUEST).certificate
    )
    assert attributes(by_nip, NameOID.SERIAL_NUMBER) == [f"TINPL-{NIP}"]
    assert attributes(by_nip, NameOID.GIVEN_NAME) and attributes(by_nip, NameOID.SURNAME)
    by_pesel = TestCertificateSource(pesel=PESEL, kind="personal", key_type="ec").load(REQUEST)
    assert attributes(by_pesel.certificate, NameOID.SERIAL_NUMBER) == [f"PNOPL-{PESEL}"]


def test_rsa_2048_and_validity() -> None:
    certificate = TestCertificateSource(nip=NIP).load(REQUEST).certificate
    assert certificate.public_key().key_size == 2048
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert 730 * 86400 < lifetime.total_seconds() < 731 * 86400


def test_made_once_per_instance() -> None:
    source = TestCertificateSource(nip=NIP, key_type="ec")
    assert source.load(REQUEST) is source.load(REQUEST)
    assert TestCertificateSource(nip=NIP, key_type="ec").load(REQUEST) != source.load(REQUEST)


@pytest.mark.parametrize("name", ["demo", "production"])
def test_refused_on_demo_and_production(name: str) -> None:
    source = TestCertificateSource(nip=NIP, key_type="ec")
    with pytest.raises(ConfigError, match="accepted only on TEST or a local simulator") as info:
        source.check(Environment.of(name), ContextIdentifier.nip(NIP))
    assert REFUSAL in str(info.value) and "pem or pkcs12" in str(info.value)


def test_allowed_on_test_and_local() -> None:
    for environment in (Environment.of("test"), LOCAL):
        TestCertificateSource(nip=NIP, key_type="ec").check(environment, ContextIdentifier.nip(NIP))


def test_nip_taken_from_the_requests_context() -> None:
    source = TestCertificateSource(key_type="ec")
    internal = CredentialRequest(
        environment=LOCAL, context=ContextIdentifier.internal_id(f"{NIP}-00001")
    )
    certificate = source.load(internal).certificate
    assert attributes(certificate, NameOID.ORGANIZATION_IDENTIFIER) == [f"VATPL-{NIP}"]
    other = CredentialRequest(environment=LOCAL, context=ContextIdentifier.nip("1234563218"))
    certificate = source.load(other).certificate
    assert attributes(certificate, NameOID.ORGANIZATION_IDENTIFIER) == ["VATPL-1234563218"]
    assert source.nip is None
    peppol = CredentialRequest(environment=LOCAL, context=ContextIdentifier.peppol_id("PPL123456"))
    with pytest.raises(CredentialError, match="has no NIP"):
        source.load(peppol)


def test_peppol_context_needs_a_nip() -> None:
    with pytest.raises(ConfigError, match="has no NIP"):
        TestCertificateSource().check(LOCAL, ContextIdentifier.peppol_id("PPL123456"))


def test_bad_options() -> None:
    with pytest.raises(ValueError, match="NIP"):
        TestCertificateSource(nip="1234567890")
    with pytest.raises(ValueError, match="PESEL"):
        TestCertificateSource(pesel="123", kind="personal")
    with pytest.raises(ValueError, match="seal certificate carries no PESEL"):
        TestCertificateSource(pesel=PESEL)
    with pytest.raises(ValueError, match="kind"):
        TestCertificateSource(nip=NIP, kind="company")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key_type"):
        TestCertificateSource(nip=NIP, key_type="dsa")  # type: ignore[arg-type]


KEEP = SecretRef.value("keep-it-safe")


def test_persisted_in_a_directory_with_the_key_encrypted(tmp_path: Path) -> None:
    directory = tmp_path / "certs"
    first = TestCertificateSource(
        nip=NIP, key_type="ec", directory=str(directory), password=KEEP
    ).load(REQUEST)
    files = sorted(directory.iterdir())
    assert [f.name for f in files] == [
        f"seal-VATPL-{NIP}-ec.cert.pem",
        f"seal-VATPL-{NIP}-ec.key.pem",
    ]
    assert stat.S_IMODE(files[1].stat().st_mode) == 0o600
    assert files[1].read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert stat.S_IMODE(directory.stat().st_mode) == 0o700
    again = TestCertificateSource(nip=NIP, key_type="ec", directory=directory, password=KEEP).load(
        REQUEST
    )
    assert again.fingerprint == first.fingerprint


def test_without_a_password_one_is_generated_beside_the_key(tmp_path: Path) -> None:
    first = TestCertificateSource(nip=NIP, key_type="ec", directory=tmp_path).load(REQUEST)
    secret = tmp_path / "key.secret"
    assert stat.S_IMODE(secret.stat().st_mode) == 0o600
    key_file = tmp_path / f"seal-VATPL-{NIP}-ec.key.pem"
    assert key_file.read_text().startswith("-----BEGIN ENCRYPTED PRIVATE KEY-----")
    again = TestCertificateSource(nip=NIP, key_type="ec", directory=tmp_path).load(REQUEST)
    assert again.fingerprint == first.fingerprint


def test_damaged_files_are_replaced(tmp_path: Path) -> None:
    source = TestCertificateSource(nip=NIP, key_type="ec", directory=tmp_path, password=KEEP)
    first = source.load(REQUEST)
    (tmp_path / f"seal-VATPL-{NIP}-ec.key.pem").write_text("garbage")
    second = TestCertificateSource(nip=NIP, key_type="ec", directory=tmp_path, password=KEEP).load(
        REQUEST
    )
    assert second.fingerprint != first.fingerprint


def test_registered_with_documented_options() -> None:
    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_testcert, name="testcert")
    registration = manager.get("credential_source", "test-certificate")
    options = {o.name: o for o in registration.options}
    assert list(options) == ["nip", "pesel", "kind", "key_type", "directory", "password"]
    assert options["password"].secret
    assert all(o.help for o in options.values())
    assert not any(o.required for o in options.values())
