"""XAdES logins signed in moto's KMS against the simulator (which verifies each signature), and
the key store: keys created in KMS, CSRs signed there, certificates kept in a folder or SSM,
the enrollment with ksefcert end to end."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from kms_support import NIP, LocalCa, pem, seal_subject

import ksef_auth
from ksef_auth import CertificateError, CredentialError, KeySpec, LocalKey, build_csr
from ksef_auth_cloud.testing import MotoServer
from ksef_auth_kms import KmsKey, KmsKeyStore

pytest.importorskip("ksef_auth_xades")
pytest.importorskip("ksef_auth_simulator")

MakeKey = Callable[..., dict[str, Any]]


@pytest.fixture
def simulator(make_ksef_simulator: Any, ca: LocalCa) -> Any:
    return make_ksef_simulator(require_xades=True, trusted_ca_pems=[ca.pem])


def strategy(base_url: str, credential: dict[str, Any], **signer: Any) -> ksef_auth.Strategy:
    config = {
        "strategy": {
            "seal": {
                "environment": base_url,
                "context": NIP,
                "credential": credential,
                "signer": {"use": "xades", **signer},
                "store": "memory",
            }
        }
    }
    return ksef_auth.load(config).strategy("seal")


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "RSA_2048"])
def test_xades_login_signed_in_kms(
    simulator: Any, aws: MotoServer, kms_key: MakeKey, ca: LocalCa, tmp_path: Path, spec: str
) -> None:
    metadata = kms_key(spec)
    public = serialization.load_der_public_key(
        aws.client("kms").get_public_key(KeyId=metadata["Arn"])["PublicKey"]
    )
    path = tmp_path / "seal.pem"
    path.write_bytes(pem(ca.issue(public), ca.certificate))
    credential = {
        "use": "aws-kms",
        "key_id": metadata["Arn"],
        "certificate": str(path),
        "endpoint_url": aws.url,
    }
    login = strategy(simulator.base_url, credential, verify_certificate_chain=True)
    assert login.token()
    operation = list(simulator.sim.operations.values())[-1]
    assert operation.subject["subjectIdentifier"] == {"type": "Nip", "value": NIP}


# --- the key store -----------------------------------------------------------------------------


@pytest.fixture
def folder_store(aws: MotoServer, tmp_path: Path) -> KmsKeyStore:
    return KmsKeyStore(certificate_dir=tmp_path / "certificates", endpoint_url=aws.url)


@pytest.mark.parametrize("algorithm", ["ec-p256", "rsa-2048"])
def test_a_key_made_in_kms_signs_its_own_csr(
    folder_store: KmsKeyStore, aws: MotoServer, algorithm: str
) -> None:
    key = folder_store.generate(KeySpec(algorithm=algorithm, label="ksef-server"))  # type: ignore[arg-type]
    assert isinstance(key, KmsKey)
    csr = build_csr(key, seal_subject())
    assert csr.is_signature_valid  # cryptography's own verification
    assert csr.public_key() == key.public_key()
    der = csr.public_bytes(serialization.Encoding.DER)
    assert x509.load_der_x509_csr(der).is_signature_valid


def test_the_key_never_leaves_kms(folder_store: KmsKeyStore, aws: MotoServer) -> None:
    """A KMS key made by the store is KMS's own (Origin AWS_KMS), a signing key, and no KMS
    operation returns the private half of an existing key."""
    key = folder_store.generate(KeySpec(label="sealed"))
    client = aws.client("kms")
    metadata = client.describe_key(KeyId=key.key_id.rsplit("/", 1)[-1])["KeyMetadata"]
    assert metadata["Origin"] == "AWS_KMS" and metadata["KeyUsage"] == "SIGN_VERIFY"
    assert metadata["KeyManager"] == "CUSTOMER" and metadata["KeySpec"] == "ECC_NIST_P256"
    model = client.meta.service_model
    returns_private = [
        name
        for name in model.operation_names
        if model.operation_model(name).output_shape is not None
        and any("Private" in member for member in model.operation_model(name).output_shape.members)
    ]
    # only the data-key-pair operations return private keys: new pairs, never an existing key
    assert set(returns_private) <= {"GenerateDataKeyPair", "GenerateDataKeyPairWithoutPlaintext"}
    for name in returns_private:
        assert "KeyPairSpec" in model.operation_model(name).input_shape.members


def test_keep_in_a_folder_then_log_in(
    simulator: Any, folder_store: KmsKeyStore, aws: MotoServer, ca: LocalCa
) -> None:
    key = folder_store.generate(KeySpec(label="Serwer ERP"))
    csr = build_csr(key, seal_subject())
    table = dict(folder_store.keep(key, ca.issue(csr.public_key(), csr.subject), [ca.certificate]))
    assert table["use"] == "aws-kms" and table["key_id"] == key.key_id
    assert Path(table["certificate"]).is_file()
    assert strategy(simulator.base_url, table).token()
    aliases = aws.client("kms").list_aliases()["Aliases"]
    assert any(a["AliasName"] == "alias/ksef-auth/Serwer-ERP" for a in aliases)


def test_keep_in_ssm_then_log_in(simulator: Any, aws: MotoServer, ca: LocalCa) -> None:
    store = KmsKeyStore(certificate_parameter_prefix="/ksef/certificates/", endpoint_url=aws.url)
    key = store.generate(KeySpec(algorithm="rsa-2048", label="ksef-rsa"))
    csr = build_csr(key, seal_subject())
    table = dict(store.keep(key, ca.issue(csr.public_key(), csr.subject), [ca.certificate]))
    assert table["certificate_parameter"].startswith("/ksef/certificates/")
    parameter = aws.client("ssm").get_parameter(Name=table["certificate_parameter"])
    assert parameter["Parameter"]["Value"].startswith("-----BEGIN CERTIFICATE-----")
    assert strategy(simulator.base_url, table).token()


def test_a_renewal_moves_the_alias(folder_store: KmsKeyStore, aws: MotoServer, ca: LocalCa) -> None:
    first = folder_store.generate(KeySpec(label="renewed"))
    folder_store.keep(first, ca.issue(first.public_key()), [])
    second = folder_store.generate(KeySpec(label="renewed"))
    folder_store.keep(second, ca.issue(second.public_key()), [])
    aliases = {
        a["AliasName"]: a["TargetKeyId"] for a in aws.client("kms").list_aliases()["Aliases"]
    }
    assert second.key_id.endswith(aliases["alias/ksef-auth/renewed"])


def test_keep_refuses_other_keys_and_certificates(folder_store: KmsKeyStore, ca: LocalCa) -> None:
    key = folder_store.generate(KeySpec(label="mine"))
    with pytest.raises(CertificateError, match="nothing was kept"):
        folder_store.keep(key, ca.issue(ec.generate_private_key(ec.SECP256R1()).public_key()), [])
    local = LocalKey(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CredentialError, match="keeps certificates for KMS keys it created"):
        folder_store.keep(local, ca.issue(local.public_key()), [])


def test_key_store_options() -> None:
    with pytest.raises(ValueError, match="exactly one of certificate_dir"):
        KmsKeyStore()
    with pytest.raises(ValueError, match="must start with /"):
        KmsKeyStore(certificate_parameter_prefix="ksef/")


def test_registered_for_enrollment() -> None:
    from ksef_auth.manager import PluginManager

    manager = PluginManager(only="kms")
    assert manager.get("key_store", "aws-kms").factory is KmsKeyStore
    assert manager.get("credential_source", "aws-kms").plugin == "kms"


# --- enrollment with ksefcert --------------------------------------------------------------------


def test_enroll_a_ksef_certificate_whose_key_is_in_kms(
    make_ksef_simulator: Any, aws: MotoServer, tmp_path: Path
) -> None:
    pytest.importorskip("ksef_auth_ksefcert")
    pytest.importorskip("ksef_auth_testcert")
    from ksef_auth_ksefcert import CertificatesClient, enroll
    from ksef_auth_simulator.ksef_certificates import CertificateSettings

    simulator = make_ksef_simulator(certificates=CertificateSettings(enrollment_delay=0.05))
    seal = strategy(simulator.base_url, {"use": "test-certificate", "nip": NIP})
    store = KmsKeyStore(certificate_dir=tmp_path, endpoint_url=aws.url)
    enrolled = enroll(CertificatesClient(seal), store, name="Serwer KMS")
    assert enrolled.credential["use"] == "aws-kms"
    server = strategy(simulator.base_url, dict(enrolled.credential))
    assert server.token()
    assert list(simulator.sim.operations.values())[-1].method == "InternalCertificate"
