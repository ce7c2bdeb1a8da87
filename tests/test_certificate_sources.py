"""Every source that holds certificates logs in through xades: env and paas variables, AWS
Secrets Manager and SSM (on moto's server), each against the simulator checking the signature."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

import ksef_auth

pytest.importorskip("ksef_auth_xades")
pytest.importorskip("ksef_auth_cloud")
pytest.importorskip("moto.server")

from ksef_auth_cloud.testing import MotoServer, isolate_aws, use_test_credentials  # noqa: E402

NIP = "5261040828"
PASSWORD = "seal-p12-password"


def seal(algorithm: str) -> tuple[Any, x509.Certificate]:
    key: Any = (
        ec.generate_private_key(ec.SECP256R1())
        if algorithm == "ec"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Firma Testowa"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{NIP}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def pem(key: Any, certificate: x509.Certificate) -> str:
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return (certificate.public_bytes(serialization.Encoding.PEM) + key_pem).decode()


def p12(key: Any, certificate: x509.Certificate) -> bytes:
    return pkcs12.serialize_key_and_certificates(
        b"seal", key, certificate, None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )


@pytest.fixture(scope="module")
def moto() -> Iterator[MotoServer]:
    with MotoServer.running() as server:
        yield server


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    isolate_aws(monkeypatch, tmp_path)
    use_test_credentials(monkeypatch)
    return moto


def login(base_url: str, credential: dict[str, Any]) -> ksef_auth.Strategy:
    config = {
        "strategy": {
            "seal": {
                "environment": base_url,
                "context": NIP,
                "credential": credential,
                "signer": "xades",
                "store": "memory",
            }
        }
    }
    strategy = ksef_auth.load(config).strategy("seal")
    assert strategy.token()
    current = strategy.session.current()
    assert current is not None and current.method == "xades"
    return strategy


@pytest.fixture
def simulator(make_ksef_simulator: Any) -> Any:
    return make_ksef_simulator(require_xades=True)


@pytest.mark.parametrize("algorithm", ["ec", "rsa"])
def test_env_pem_and_base64_pkcs12(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, algorithm: str
) -> None:
    key, certificate = seal(algorithm)
    monkeypatch.setenv("SEAL_PEM", pem(key, certificate))
    login(simulator.base_url, {"use": "env", "kind": "certificate", "var": "SEAL_PEM"})
    monkeypatch.setenv("SEAL_P12", base64.b64encode(p12(key, certificate)).decode())
    monkeypatch.setenv("SEAL_PASSWORD", PASSWORD)
    credential = {
        "use": "env",
        "kind": "certificate",
        "var": "SEAL_P12",
        "password": {"env": "SEAL_PASSWORD"},
    }
    login(simulator.base_url, credential)


def test_paas_platform_variables(simulator: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    key, certificate = seal("ec")
    variables = {"env:KSEF2_CERTIFICATE": pem(key, certificate)}
    monkeypatch.delenv("KSEF2_CERTIFICATE", raising=False)
    monkeypatch.setenv(
        "PLATFORM_VARIABLES", base64.b64encode(json.dumps(variables).encode()).decode()
    )
    login(simulator.base_url, {"use": "paas", "kind": "certificate"})


def test_aws_secrets_manager_binary_pkcs12(
    simulator: Any, aws: MotoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    key, certificate = seal("ec")
    aws.client("secretsmanager").create_secret(
        Name="ksef/seal-bin", SecretBinary=p12(key, certificate)
    )
    monkeypatch.setenv("SEAL_PASSWORD", PASSWORD)
    credential = {
        "use": "aws-secrets-manager",
        "secret_id": "ksef/seal-bin",
        "endpoint_url": aws.url,
        "kind": "certificate",
        "password": {"env": "SEAL_PASSWORD"},
    }
    login(simulator.base_url, credential)


def test_aws_secrets_manager_json_with_pem_fields_per_context(
    simulator: Any, aws: MotoServer
) -> None:
    key, certificate = seal("rsa")
    key_pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    value = {
        "certificate": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "private_key": key_pem.decode(),
    }
    aws.client("secretsmanager").create_secret(Name=f"ksef/{NIP}", SecretString=json.dumps(value))
    credential = {
        "use": "aws-secrets-manager",
        "secret_id": "ksef/{nip}",
        "endpoint_url": aws.url,
        "kind": "certificate",
    }
    login(simulator.base_url, credential)


def test_aws_ssm_securestring(simulator: Any, aws: MotoServer) -> None:
    key, certificate = seal("ec")
    aws.client("ssm").put_parameter(
        Name="/ksef/seal", Value=pem(key, certificate), Type="SecureString"
    )
    credential = {
        "use": "aws-ssm",
        "name": "/ksef/seal",
        "endpoint_url": aws.url,
        "kind": "certificate",
    }
    login(simulator.base_url, credential)
