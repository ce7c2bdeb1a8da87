"""A KSeF certificate kept in AWS Secrets Manager (moto's server on loopback): enrolled into a
secret, logged in with, renewed in place; the key encrypted inside the secret with a password;
malformed and unreadable secrets as typed errors without their values."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from conftest import NIP, PASSWORD, PASSWORD_ENV, seal_strategy

import ksef_auth
from ksef_auth import CredentialError, CredentialRequest, SecretRef
from ksef_auth_ksefcert import CertificatesClient, enroll
from ksef_auth_ksefcert.aws_secret import AwsSecret, AwsSecretKeyStore
from ksef_auth_ksefcert.records import serial_of

pytest.importorskip("moto.server", reason="moto[server] is not installed")
from ksef_auth_cloud.testing import REGION, MotoServer, isolate_aws, use_test_credentials  # noqa: E402


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer.running() as server:
        yield server


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    isolate_aws(monkeypatch, tmp_path)
    use_test_credentials(monkeypatch)
    return moto


def secret_value(aws: MotoServer, name: str) -> Any:
    return json.loads(aws.client("secretsmanager").get_secret_value(SecretId=name)["SecretString"])


def store(aws: MotoServer, name: str, **options: Any) -> AwsSecretKeyStore:
    return AwsSecretKeyStore(name, region=REGION, endpoint_url=aws.url, **options)


def test_enroll_into_a_secret_log_in_and_renew_in_place(
    aws: MotoServer, simulator: Any, password: str, tmp_path: Path
) -> None:
    client = CertificatesClient(seal_strategy(simulator.base_url))
    made = enroll(client, store(aws, "ksef/erp"), name="Serwer ERP")
    assert made.credential == {
        "use": "aws-secrets-manager",
        "secret_id": "ksef/erp",
        "kind": "certificate",
        "region": REGION,
        "endpoint_url": aws.url,
    }
    value = secret_value(aws, "ksef/erp")
    assert set(value) == {"certificate", "private_key", "chain"}
    credential = {
        "use": "ksef-certificate",
        "aws_secret": "ksef/erp",
        "aws_region": REGION,
        "aws_endpoint_url": aws.url,
    }
    table = {"environment": simulator.base_url, "context": NIP, "signer": "xades"}
    config = ksef_auth.load({"strategy": {"server": {**table, "credential": credential}}})
    server = config.strategy("server")
    server.token()
    assert list(simulator.sim.operations.values())[-1].method == "InternalCertificate"
    server.credential.renewal.join(20)  # type: ignore[attr-defined]
    outcome = server.credential.renew_now(server, force=True)  # type: ignore[attr-defined]
    assert outcome.action == "renewed" and outcome.successor is not None
    renewed = server.load_credential()
    assert serial_of(renewed.certificate) == outcome.successor.serial != made.serial  # type: ignore[union-attr]
    server.session.login()
    assert list(simulator.sim.ksef_certificates.logins.values())[-1] == outcome.successor.serial


def test_with_a_password_the_key_is_encrypted_inside_the_secret(
    aws: MotoServer, simulator: Any, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    client = CertificatesClient(seal_strategy(simulator.base_url))
    made = enroll(
        client, store(aws, "ksef/locked", password=SecretRef.env(PASSWORD_ENV)), name="Serwer"
    )
    assert made.credential["password"] == {"env": PASSWORD_ENV}
    value = secret_value(aws, "ksef/locked")
    assert set(value) == {"pkcs12"} and "PRIVATE KEY" not in json.dumps(value)
    secret = AwsSecret("ksef/locked", REGION, aws.url, SecretRef.env(PASSWORD_ENV))
    request = CredentialRequest.for_login(simulator.base_url, NIP)
    assert secret.load(request).certificate == made.certificate
    monkeypatch.setenv(PASSWORD_ENV, "wrong-password-here")
    with pytest.raises(CredentialError) as caught:
        secret.load(request)
    message = str(caught.value)
    assert "ksef/locked" in message and PASSWORD_ENV in message
    assert "wrong-password-here" not in message and PASSWORD not in message


def test_malformed_and_missing_secrets(aws: MotoServer, simulator: Any) -> None:
    aws.client("secretsmanager").create_secret(
        Name="ksef/broken", SecretString='{"certificate": "not a certificate", "key": "x"}'
    )
    request = CredentialRequest.for_login(simulator.base_url, NIP)
    with pytest.raises(CredentialError) as caught:
        AwsSecret("ksef/broken", REGION, aws.url).load(request)
    assert "ksef/broken" in str(caught.value) and "not a certificate" not in str(caught.value)
    from ksef_auth import NotAvailable

    with pytest.raises(NotAvailable, match="does not exist"):
        AwsSecret("ksef/absent", REGION, aws.url).load(request)


@pytest.mark.parametrize(
    ("option", "value", "words"),
    [
        ("aws_endpoint_url", "http://secrets.example.com", "aws_endpoint_url .* plain http"),
        ("aws_region", "EU", "aws_region must be an AWS region"),
    ],
)
def test_aws_options_are_checked_when_the_strategy_loads(
    option: str, value: str, words: str
) -> None:
    """Before any login or AWS call: a plain-http endpoint off loopback would carry the key."""
    from ksef_auth import ConfigError

    credential = {"use": "ksef-certificate", "aws_secret": "ksef/erp", option: value}
    table = {"environment": "test", "context": NIP, "credential": credential, "signer": "xades"}
    with pytest.raises(ConfigError, match=words) as caught:
        ksef_auth.load({"strategy": {"server": table}}).strategy("server")
    assert "strategy.server.credential" in str(caught.value)


def test_an_unreachable_endpoint_is_a_typed_error(
    aws: MotoServer, simulator: Any, password: str
) -> None:
    from ksef_auth_cloud.testing import closed_port

    client = CertificatesClient(seal_strategy(simulator.base_url))
    nowhere = AwsSecretKeyStore(
        "ksef/x", region=REGION, endpoint_url=f"http://127.0.0.1:{closed_port()}"
    )
    with pytest.raises(CredentialError) as caught:
        enroll(client, nowhere, name="Serwer")
    assert "was issued but could not be kept" in str(caught.value)
    assert "ksef-auth cert revoke" in str(caught.value)


def test_cert_enroll_into_a_secret_offers_a_renewing_profile(
    aws: MotoServer, cli: Any, tmp_path: Path, simulator: Any
) -> None:
    output = cli(
        "cert", "enroll", "--profile", "seal", "--name", "Serwer ERP", "--key-store",
        "aws-secrets-manager", "-O", "secret_id=ksef/cli", "-O", f"region={REGION}",
        "-O", f"endpoint_url={aws.url}", "--make-profile", "server", "--json",
    )  # fmt: skip
    made = json.loads(output[output.index("{") :])
    assert made["keptIn"] == "key store aws-secrets-manager"
    profiles = (tmp_path / "profiles.toml").read_text()
    assert 'aws_secret = "ksef/cli"' in profiles and 'use = "ksef-certificate"' in profiles
    cli("login", "--profile", "server")
    assert list(simulator.sim.operations.values())[-1].method == "InternalCertificate"
    renewed = cli("cert", "renew", "--profile", "server", "--force")
    assert "AWS Secrets Manager secret ksef/cli" in renewed
