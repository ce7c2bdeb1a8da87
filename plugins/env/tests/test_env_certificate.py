"""kind = "certificate": a certificate and its key from variables (PEM or base64 PKCS#12)."""

from __future__ import annotations

import base64
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    CredentialError,
    CredentialRequest,
    NotAvailable,
    SecretRef,
    WrongPassword,
)
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_env import EnvToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828", method="xades")
PASSWORD = "p12-password-that-must-not-leak"


@pytest.fixture(scope="module")
def seal() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    return new_seal()


def new_seal() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Seal"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "VATPL-5261040828"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def pem_of(seal: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> tuple[str, str]:
    key, certificate = seal
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    ).decode()
    return certificate.public_bytes(serialization.Encoding.PEM).decode(), key_pem


def p12_of(seal: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> bytes:
    key, certificate = seal
    return pkcs12.serialize_key_and_certificates(
        b"seal", key, certificate, None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )


class TestEnvCertificateContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, monkeypatch: pytest.MonkeyPatch, seal) -> EnvToken:  # type: ignore[no-untyped-def]
        certificate, key = pem_of(seal)
        monkeypatch.setenv("KSEF_TEST_CERTIFICATE", certificate + key)
        return EnvToken(var="KSEF_TEST_CERTIFICATE", kind="certificate")

    @pytest.fixture
    def unavailable_source(self, monkeypatch: pytest.MonkeyPatch) -> EnvToken:
        monkeypatch.delenv("KSEF_TEST_NO_CERT", raising=False)
        monkeypatch.delenv("KSEF_TEST_NO_CERT_FILE", raising=False)
        return EnvToken(var="KSEF_TEST_NO_CERT", kind="certificate")

    @pytest.fixture
    def rotate(self, monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
        return lambda: monkeypatch.setenv("KSEF_TEST_CERTIFICATE", "".join(pem_of(new_seal())))

    @pytest.fixture
    def keyed_source(self, monkeypatch: pytest.MonkeyPatch) -> EnvToken:
        for nip in NIPS[:2]:
            monkeypatch.setenv(f"KIT_CERTIFICATE_{nip}", "".join(pem_of(new_seal())))
        monkeypatch.delenv(f"KIT_CERTIFICATE_{NIPS[2]}", raising=False)
        monkeypatch.delenv(f"KIT_CERTIFICATE_{NIPS[2]}_FILE", raising=False)
        return EnvToken(var="KIT_CERTIFICATE_{nip}", kind="certificate")

    @pytest.fixture
    def failing_sources(self, monkeypatch: pytest.MonkeyPatch, seal) -> dict[str, EnvToken]:  # type: ignore[no-untyped-def]
        certificate, _ = pem_of(seal)
        monkeypatch.setenv("KIT_NO_KEY", certificate)
        monkeypatch.setenv("KIT_P12", base64.b64encode(p12_of(seal)).decode())
        monkeypatch.setenv("KIT_WRONG", PASSWORD + "-but-wrong")
        return {
            "certificate without its key": EnvToken(var="KIT_NO_KEY", kind="certificate"),
            "PKCS#12 with a wrong password": EnvToken(
                var="KIT_P12", kind="certificate", password=SecretRef.env("KIT_WRONG")
            ),
        }


def test_pem_pair_in_one_variable(monkeypatch: pytest.MonkeyPatch, seal) -> None:  # type: ignore[no-untyped-def]
    certificate, key = pem_of(seal)
    monkeypatch.setenv("KSEF2_CERTIFICATE", key + certificate)
    credential = EnvToken(kind="certificate").load(REQUEST)
    assert isinstance(credential, CertificateCredential)
    assert credential.certificate == seal[1]
    assert credential.source == "env:KSEF2_CERTIFICATE"


def test_certificate_and_key_in_two_variables(monkeypatch: pytest.MonkeyPatch, seal) -> None:  # type: ignore[no-untyped-def]
    certificate, key = pem_of(seal)
    monkeypatch.setenv("SHOP_CERT", certificate)
    monkeypatch.setenv("SHOP_KEY", key.replace("\n", "\\n"))  # as some platforms store it
    credential = EnvToken(var="SHOP_CERT", key_var="SHOP_KEY", kind="certificate").load(REQUEST)
    assert credential.certificate == seal[1]  # type: ignore[union-attr]


def test_base64_pkcs12_with_the_conventional_password(
    monkeypatch: pytest.MonkeyPatch,
    seal,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", base64.b64encode(p12_of(seal)).decode())
    monkeypatch.setenv("KSEF2_P12_PASSWORD", PASSWORD)
    credential = EnvToken(kind="certificate").load(REQUEST)
    assert credential.certificate == seal[1]  # type: ignore[union-attr]


def test_binary_pkcs12_from_name_file(
    monkeypatch: pytest.MonkeyPatch,
    tmp_path: Path,
    seal,  # type: ignore[no-untyped-def]
) -> None:
    path = tmp_path / "seal.p12"
    path.write_bytes(p12_of(seal))
    path.chmod(0o644)
    monkeypatch.delenv("SEAL", raising=False)
    monkeypatch.setenv("SEAL_FILE", str(path))
    with pytest.raises(CredentialError, match="open to other users .* chmod 600") as info:
        EnvToken(var="SEAL", kind="certificate").load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    path.chmod(0o600)
    monkeypatch.delenv("SEAL", raising=False)
    monkeypatch.setenv("SEAL_FILE", str(path))
    monkeypatch.setenv("SEAL_PASSWORD", PASSWORD)
    source = EnvToken(var="SEAL", kind="certificate", password=SecretRef.env("SEAL_PASSWORD"))
    assert source.load(REQUEST).certificate == seal[1]  # type: ignore[union-attr]


def test_per_context_variable(monkeypatch: pytest.MonkeyPatch, seal) -> None:  # type: ignore[no-untyped-def]
    certificate, key = pem_of(seal)
    monkeypatch.setenv("KSEF_CERT_5261040828", certificate + key)
    source = EnvToken(var="KSEF_CERT_{nip}", kind="certificate")
    assert source.load(REQUEST).source == "env:KSEF_CERT_5261040828"


def test_wrong_password_is_typed_and_never_shown(
    monkeypatch: pytest.MonkeyPatch,
    seal,  # type: ignore[no-untyped-def]
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", base64.b64encode(p12_of(seal)).decode())
    monkeypatch.setenv("WRONG", "wrong-password-value")
    source = EnvToken(kind="certificate", password=SecretRef.env("WRONG"))
    with pytest.raises(WrongPassword, match="environment variable KSEF2_CERTIFICATE") as info:
        source.load(REQUEST)
    assert "environment variable WRONG" in str(info.value)
    assert "wrong-password-value" not in str(info.value) and PASSWORD not in str(info.value)


def test_missing_key_variable_is_an_error_not_unavailable(
    monkeypatch: pytest.MonkeyPatch,
    seal,  # type: ignore[no-untyped-def]
) -> None:
    certificate, _ = pem_of(seal)
    monkeypatch.setenv("SHOP_CERT", certificate)
    monkeypatch.delenv("SHOP_KEY", raising=False)
    monkeypatch.delenv("SHOP_KEY_FILE", raising=False)
    source = EnvToken(var="SHOP_CERT", key_var="SHOP_KEY", kind="certificate")
    with pytest.raises(CredentialError, match="key variable SHOP_KEY is not") as info:
        source.load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("a KSeF token, not a certificate", "neither PEM text, nor base64"),
        (base64.b64encode(b"x" * 64).decode(), "not a PKCS#12 file"),
        ("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----", "no readable certificate"),
    ],
)
def test_malformed_values_name_the_variable(
    monkeypatch: pytest.MonkeyPatch, value: str, message: str
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", value)
    with pytest.raises(CertificateError, match=message) as info:
        EnvToken(kind="certificate").load(REQUEST)
    assert "KSEF2_CERTIFICATE" in str(info.value)
    assert value not in str(info.value)


def test_certificate_options_only_for_the_certificate_kind() -> None:
    with pytest.raises(ValueError, match="for kind = certificate only"):
        EnvToken(key_var="KEY")
    with pytest.raises(ValueError, match="key_var must be an environment variable name"):
        EnvToken(kind="certificate", key_var="not a name")
    with pytest.raises(TypeError, match="by reference"):
        EnvToken(kind="certificate", password="inline")  # type: ignore[arg-type]


def test_key_never_in_repr(monkeypatch: pytest.MonkeyPatch, seal) -> None:  # type: ignore[no-untyped-def]
    certificate, key = pem_of(seal)
    monkeypatch.setenv("KSEF2_CERTIFICATE", certificate + key)
    credential = EnvToken(kind="certificate").load(REQUEST)
    assert key.splitlines()[1] not in repr(credential) + str(credential)
