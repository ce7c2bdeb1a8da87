"""kind = "certificate" on every cloud source: PKCS#12 (binary or base64), PEM, JSON with PEM
fields; against moto's server for AWS and real variables for paas."""

from __future__ import annotations

import base64
import json
import logging
from collections.abc import Callable

import pytest
from cloud_support import P12_PASSWORD, Moto, Seal

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    CredentialError,
    CredentialRequest,
    NotAvailable,
    SecretRef,
    WrongPassword,
)
from ksef_auth_cloud import AwsSecretsManagerToken, AwsSsmToken, PaasToken

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828", method="xades")
Unique = Callable[[str], str]


@pytest.fixture(scope="module")
def seal() -> Seal:
    return Seal()


@pytest.fixture
def p12_password(monkeypatch: pytest.MonkeyPatch) -> SecretRef:
    monkeypatch.setenv("SEAL_P12_PASSWORD", P12_PASSWORD)
    return SecretRef.env("SEAL_P12_PASSWORD")


def assert_seal(credential: object, seal: Seal, source: str) -> None:
    assert isinstance(credential, CertificateCredential)
    assert credential.certificate == seal.certificate
    assert credential.key.public_key() == seal.key.public_key()
    assert credential.source == source


def assert_clean(message: str, seal: Seal) -> None:
    assert seal.key_line not in message and P12_PASSWORD not in message


# --- AWS Secrets Manager -----------------------------------------------------------------------


@pytest.fixture
def secret(moto: Moto, unique: Unique) -> Callable[..., str]:
    def create(**value: object) -> str:
        name = unique("ksef/seal")
        moto.client("secretsmanager").create_secret(Name=name, **value)
        return name

    return create


def secrets_manager(moto: Moto, secret_id: str, **options: object) -> AwsSecretsManagerToken:
    return AwsSecretsManagerToken(
        secret_id=secret_id,
        endpoint_url=moto.url,
        kind="certificate",
        **options,  # type: ignore[arg-type]
    )


def test_binary_pkcs12_secret(
    aws_env: None, moto: Moto, secret: Callable[..., str], seal: Seal, p12_password: SecretRef
) -> None:
    name = secret(SecretBinary=seal.p12)
    credential = secrets_manager(moto, name, password=p12_password).load(REQUEST)
    assert_seal(credential, seal, f"aws-secrets-manager:{name}")


def test_base64_pkcs12_string_secret(
    aws_env: None, moto: Moto, secret: Callable[..., str], seal: Seal, p12_password: SecretRef
) -> None:
    name = secret(SecretString=base64.b64encode(seal.p12).decode())
    credential = secrets_manager(moto, name, password=p12_password).load(REQUEST)
    assert_seal(credential, seal, f"aws-secrets-manager:{name}")


def test_json_secret_with_pem_fields(
    aws_env: None, moto: Moto, secret: Callable[..., str], seal: Seal
) -> None:
    value = {"certificate": seal.certificate_pem, "private_key": seal.key_pem, "nip": "5261040828"}
    name = secret(SecretString=json.dumps(value))
    assert_seal(secrets_manager(moto, name).load(REQUEST), seal, f"aws-secrets-manager:{name}")


def test_json_key_holding_pem(
    aws_env: None, moto: Moto, secret: Callable[..., str], seal: Seal
) -> None:
    name = secret(SecretString=json.dumps({"seal": seal.certificate_pem + seal.key_pem}))
    credential = secrets_manager(moto, name, json_key="seal").load(REQUEST)
    assert_seal(credential, seal, f"aws-secrets-manager:{name}#seal")


def test_wrong_password_is_typed_and_shows_no_secret(
    aws_env: None,
    moto: Moto,
    secret: Callable[..., str],
    seal: Seal,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    name = secret(SecretBinary=seal.p12)
    monkeypatch.setenv("WRONG_PASSWORD", "wrong-password-value")
    source = secrets_manager(moto, name, password=SecretRef.env("WRONG_PASSWORD"))
    with pytest.raises(WrongPassword, match=f"wrong password for secret {name}") as info:
        source.load(REQUEST)
    assert "environment variable WRONG_PASSWORD" in str(info.value)
    assert "wrong-password-value" not in str(info.value)
    assert_clean(str(info.value), seal)


def test_pkcs12_without_a_password_set(
    aws_env: None, moto: Moto, secret: Callable[..., str], seal: Seal
) -> None:
    name = secret(SecretBinary=seal.p12)
    with pytest.raises(WrongPassword, match="password-protected and no password is set"):
        secrets_manager(moto, name).load(REQUEST)


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ({"SecretString": "20251010-EC-1DCE3E3000|nip-5261040828|ab12"}, "neither PEM text"),
        (
            {"SecretString": json.dumps({"token": "abc", "nip": "5261040828"})},
            r"without a certificate \(its keys: nip, token\)",
        ),
        ({"SecretString": json.dumps({"certificate": 5})}, "is a JSON int"),
        ({"SecretString": '{"certificate": "-----BEGIN'}, "starts like JSON but is not"),
        ({"SecretBinary": b"\x30\x82\x01\x00" + b"\x00" * 64}, "is not a PKCS#12 file"),
    ],
)
def test_malformed_secrets_are_clear_errors(
    aws_env: None,
    moto: Moto,
    secret: Callable[..., str],
    value: dict[str, object],
    message: str,
) -> None:
    name = secret(**value)
    with pytest.raises(CertificateError, match=message) as info:
        secrets_manager(moto, name).load(REQUEST)
    assert f"secret {name}" in str(info.value)
    assert "abc" not in str(info.value)


def test_a_key_of_another_certificate(
    aws_env: None, moto: Moto, secret: Callable[..., str], seal: Seal
) -> None:
    other = Seal()
    value = {"certificate": seal.certificate_pem, "private_key": other.key_pem}
    name = secret(SecretString=json.dumps(value))
    with pytest.raises(CertificateError, match="does not belong to the certificate") as info:
        secrets_manager(moto, name).load(REQUEST)
    assert other.key_line not in str(info.value)


def test_certificate_never_in_the_logs(
    aws_env: None,
    moto: Moto,
    secret: Callable[..., str],
    seal: Seal,
    caplog: pytest.LogCaptureFixture,
) -> None:
    value = {"certificate": seal.certificate_pem, "private_key": seal.key_pem}
    name = secret(SecretString=json.dumps(value))
    caplog.set_level(logging.DEBUG)  # after the set-up, which logs its own request
    credential = secrets_manager(moto, name).load(REQUEST)
    logging.getLogger("test").info("loaded %s %r", credential, credential)
    assert "Sending http request" in caplog.text
    assert seal.key_line not in caplog.text


def test_password_is_for_certificates_only() -> None:
    with pytest.raises(ValueError, match="for kind = certificate only"):
        AwsSecretsManagerToken(secret_id="x", password=SecretRef.env("X"))
    with pytest.raises(TypeError, match="by reference"):
        AwsSecretsManagerToken(secret_id="x", kind="certificate", password="inline")  # type: ignore[arg-type]


# --- AWS SSM Parameter Store ---------------------------------------------------------------------


@pytest.fixture
def parameter(moto: Moto, unique: Unique) -> Callable[[str], str]:
    def create(value: str) -> str:
        name = "/" + unique("ksef/seal")
        moto.client("ssm").put_parameter(Name=name, Value=value, Type="SecureString")
        return name

    return create


def test_ssm_json_with_pem_fields(
    aws_env: None, moto: Moto, parameter: Callable[[str], str], seal: Seal
) -> None:
    name = parameter(json.dumps({"certificate": seal.certificate_pem, "key": seal.key_pem}))
    source = AwsSsmToken(name=name, endpoint_url=moto.url, kind="certificate")
    assert_seal(source.load(REQUEST), seal, f"aws-ssm:{name}")


def test_ssm_base64_pkcs12(
    aws_env: None,
    moto: Moto,
    parameter: Callable[[str], str],
    seal: Seal,
    p12_password: SecretRef,
) -> None:
    name = parameter(base64.b64encode(seal.p12).decode())
    source = AwsSsmToken(
        name=name, endpoint_url=moto.url, kind="certificate", password=p12_password
    )
    assert_seal(source.load(REQUEST), seal, f"aws-ssm:{name}")


def test_ssm_malformed_value(aws_env: None, moto: Moto, parameter: Callable[[str], str]) -> None:
    name = parameter("certainly-not-a-certificate")
    source = AwsSsmToken(name=name, endpoint_url=moto.url, kind="certificate")
    with pytest.raises(CertificateError, match=f"parameter {name} is neither PEM") as info:
        source.load(REQUEST)
    assert "certainly-not" not in str(info.value)


# --- paas ---------------------------------------------------------------------------------------


@pytest.fixture
def no_platform(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("KSEF2_CERTIFICATE", "SEAL_KEY", "PLATFORM_VARIABLES", "MAGENTO_CLOUD_VARIABLES"):
        monkeypatch.delenv(name, raising=False)


def test_paas_pem_in_the_default_variable(
    no_platform: None, monkeypatch: pytest.MonkeyPatch, seal: Seal
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", seal.certificate_pem + seal.key_pem)
    credential = PaasToken(kind="certificate").load(REQUEST)
    assert_seal(credential, seal, "paas:KSEF2_CERTIFICATE")


def test_paas_base64_pkcs12_in_platform_variables(
    no_platform: None, monkeypatch: pytest.MonkeyPatch, seal: Seal, p12_password: SecretRef
) -> None:
    variables = {"env:KSEF2_CERTIFICATE": base64.b64encode(seal.p12).decode()}
    blob = base64.b64encode(json.dumps(variables).encode()).decode()
    monkeypatch.setenv("PLATFORM_VARIABLES", blob)
    credential = PaasToken(kind="certificate", password=p12_password).load(REQUEST)
    assert_seal(credential, seal, "paas:PLATFORM_VARIABLES[env:KSEF2_CERTIFICATE]")


def test_paas_key_in_its_own_variable(
    no_platform: None, monkeypatch: pytest.MonkeyPatch, seal: Seal
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", seal.certificate_pem)
    monkeypatch.setenv("SEAL_KEY", seal.key_pem)
    credential = PaasToken(kind="certificate", key_names="SEAL_KEY").load(REQUEST)
    assert_seal(credential, seal, "paas:KSEF2_CERTIFICATE")


def test_paas_missing_key_variable(
    no_platform: None, monkeypatch: pytest.MonkeyPatch, seal: Seal
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", seal.certificate_pem)
    with pytest.raises(CredentialError, match="its key is not: SEAL_KEY not set") as info:
        PaasToken(kind="certificate", key_names="SEAL_KEY").load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_paas_nothing_set_is_not_available(no_platform: None) -> None:
    with pytest.raises(NotAvailable, match="KSEF2_CERTIFICATE not set"):
        PaasToken(kind="certificate").load(REQUEST)


def test_paas_malformed_value(
    no_platform: None, monkeypatch: pytest.MonkeyPatch, seal: Seal
) -> None:
    monkeypatch.setenv("KSEF2_CERTIFICATE", seal.key_pem)  # the key alone
    with pytest.raises(CertificateError, match="variable KSEF2_CERTIFICATE holds no readable"):
        PaasToken(kind="certificate").load(REQUEST)


def test_paas_key_names_only_for_certificates() -> None:
    with pytest.raises(ValueError, match="key_names is for kind = certificate only"):
        PaasToken(key_names="X")
