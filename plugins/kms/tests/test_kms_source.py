"""The aws-kms source against moto's KMS on loopback: RSA and EC keys that sign in KMS, the
certificate from a file, a variable or SSM, and every way it can go wrong."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding
from cryptography.hazmat.primitives.serialization import load_der_public_key
from kms_support import NIP, LocalCa, pem

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    CredentialError,
    CredentialRequest,
    NotAvailable,
)
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_cloud.testing import MotoServer, closed_port
from ksef_auth_kms import KmsKey, KmsSource

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP, method="xades")
MakeKey = Callable[..., dict[str, Any]]


def public_key(aws: MotoServer, key_id: str) -> Any:
    return load_der_public_key(aws.client("kms").get_public_key(KeyId=key_id)["PublicKey"])


@pytest.fixture
def seal(aws: MotoServer, kms_key: MakeKey, ca: LocalCa, tmp_path: Path) -> tuple[str, Path]:
    """A P-256 key in KMS and its certificate file (with the CA)."""
    metadata = kms_key("ECC_NIST_P256")
    path = tmp_path / "seal.pem"
    path.write_bytes(pem(ca.issue(public_key(aws, metadata["Arn"])), ca.certificate))
    return metadata["Arn"], path


def verify(credential: CertificateCredential, data: bytes, hash_name: str = "sha256") -> None:
    algorithm = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    signature = credential.key.sign(data, hash_name)  # type: ignore[arg-type]
    public = credential.certificate.public_key()
    if isinstance(public, ec.EllipticCurvePublicKey):
        public.verify(signature, data, ec.ECDSA(algorithm[hash_name]))  # DER, as KeyHandle says
    else:
        public.verify(signature, data, padding.PKCS1v15(), algorithm[hash_name])  # type: ignore[union-attr]


class TestKmsContract(CredentialSourceContract):
    @pytest.fixture
    def credential_request(self) -> CredentialRequest:
        return REQUEST

    @pytest.fixture
    def source(self, aws: MotoServer, seal: tuple[str, Path]) -> KmsSource:
        return KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=aws.url)

    @pytest.fixture
    def unavailable_source(self, aws: MotoServer, tmp_path: Path) -> KmsSource:
        return KmsSource(
            key_id="alias/not-there", certificate=tmp_path / "none.pem", endpoint_url=aws.url
        )

    @pytest.fixture
    def public_files(self, seal: tuple[str, Path]) -> list[Path]:
        return [seal[1]]  # a certificate: nothing secret

    @pytest.fixture
    def rotate(self, aws: MotoServer, seal: tuple[str, Path], ca: LocalCa) -> Callable[[], None]:
        """A renewed certificate for the same key written over the file."""
        return lambda: seal[1].write_bytes(pem(ca.issue(public_key(aws, seal[0]))))

    @pytest.fixture
    def keyed_source(
        self, aws: MotoServer, kms_key: MakeKey, ca: LocalCa, monkeypatch: pytest.MonkeyPatch
    ) -> KmsSource:
        """Keys by alias and certificates by variable, each named by the NIP."""
        run = uuid.uuid4().hex[:8]
        for nip in NIPS[:2]:
            metadata = kms_key("ECC_NIST_P256")
            aws.client("kms").create_alias(
                AliasName=f"alias/kit-{run}-{nip}", TargetKeyId=metadata["KeyId"]
            )
            certificate = pem(ca.issue(public_key(aws, metadata["Arn"])))
            monkeypatch.setenv(f"KIT_CERT_{run}_{nip}", certificate.decode())
        return KmsSource(
            key_id=f"alias/kit-{run}-{{nip}}",
            certificate_var=f"KIT_CERT_{run}_{{nip}}",
            endpoint_url=aws.url,
        )

    @pytest.fixture
    def failing_sources(
        self, aws: MotoServer, kms_key: MakeKey, seal: tuple[str, Path], ca: LocalCa, tmp_path: Path
    ) -> dict[str, KmsSource]:
        symmetric = kms_key("SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT")
        other = tmp_path / "other.pem"
        other.write_bytes(pem(ca.issue(public_key(aws, kms_key("ECC_NIST_P256")["Arn"]))))
        return {
            "certificate of another key": KmsSource(
                key_id=seal[0], certificate=other, endpoint_url=aws.url
            ),
            "a symmetric key": KmsSource(
                key_id=symmetric["Arn"], certificate=seal[1], endpoint_url=aws.url
            ),
        }


@pytest.mark.parametrize("spec", ["ECC_NIST_P256", "ECC_NIST_P384", "RSA_2048", "RSA_3072"])
def test_keys_sign_in_kms(
    aws: MotoServer, kms_key: MakeKey, ca: LocalCa, tmp_path: Path, spec: str
) -> None:
    metadata = kms_key(spec)
    path = tmp_path / "seal.pem"
    path.write_bytes(pem(ca.issue(public_key(aws, metadata["Arn"])), ca.certificate))
    credential = KmsSource(key_id=metadata["Arn"], certificate=path, endpoint_url=aws.url).load(
        REQUEST
    )
    assert isinstance(credential.key, KmsKey)
    assert list(credential.chain) == [ca.certificate]
    assert credential.key.description.endswith("in AWS KMS")
    hash_name = {"ECC_NIST_P384": "sha384"}.get(spec, "sha256")
    verify(credential, b"<ds:SignedInfo>...</ds:SignedInfo>", hash_name)


def test_rsa_with_other_hashes(
    aws: MotoServer, kms_key: MakeKey, ca: LocalCa, tmp_path: Path
) -> None:
    metadata = kms_key("RSA_2048")
    path = tmp_path / "seal.pem"
    path.write_bytes(pem(ca.issue(public_key(aws, metadata["Arn"]))))
    credential = KmsSource(key_id=metadata["Arn"], certificate=path, endpoint_url=aws.url).load(
        REQUEST
    )
    verify(credential, b"data", "sha384")
    verify(credential, b"data", "sha512")


def test_a_hash_the_key_does_not_sign_with(aws: MotoServer, seal: tuple[str, Path]) -> None:
    credential = KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)
    with pytest.raises(CredentialError, match="signs with ECDSA_SHA_256, not ECDSA_SHA_384"):
        credential.key.sign(b"data", "sha384")


def test_key_by_alias_and_certificate_from_a_variable(
    aws: MotoServer, seal: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    aws.client("kms").create_alias(AliasName=f"alias/ksef-{NIP}", TargetKeyId=seal[0])
    monkeypatch.setenv(f"SEAL_CERT_{NIP}", seal[1].read_text())
    source = KmsSource(
        key_id="alias/ksef-{nip}", certificate_var="SEAL_CERT_{nip}", endpoint_url=aws.url
    )
    credential = source.load(REQUEST)
    assert credential.source == f"aws-kms:alias/ksef-{NIP}"
    # AWS answers with the key's ARN, moto with its id: either names this key
    assert seal[0].endswith(credential.key.key_id.rsplit("/", 1)[-1])  # type: ignore[attr-defined]
    verify(credential, b"data")


def test_certificate_from_an_ssm_parameter(aws: MotoServer, seal: tuple[str, Path]) -> None:
    aws.client("ssm").put_parameter(
        Name=f"/ksef/{NIP}/certificate", Value=seal[1].read_text(), Type="String", Overwrite=True
    )
    source = KmsSource(
        key_id=seal[0], certificate_parameter="/ksef/{nip}/certificate", endpoint_url=aws.url
    )
    verify(source.load(REQUEST), b"data")


def test_the_region_of_the_arn_is_used(
    aws: MotoServer, seal: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    assert KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)


def test_sixteen_threads_sign_through_one_key(aws: MotoServer, seal: tuple[str, Path]) -> None:
    credential = KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)
    failures: list[BaseException] = []

    def work(n: int) -> None:
        try:
            for i in range(5):
                verify(credential, f"{n}/{i}".encode())
        except BaseException as exc:  # noqa: BLE001 (reported below)
            failures.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert not failures, failures


# --- what goes wrong --------------------------------------------------------------------------


def test_a_key_that_does_not_exist_is_not_available(
    aws: MotoServer, seal: tuple[str, Path]
) -> None:
    source = KmsSource(key_id="alias/nowhere", certificate=seal[1], endpoint_url=aws.url)
    with pytest.raises(NotAvailable, match="AWS KMS: key alias/nowhere does not exist"):
        source.load(REQUEST)


def test_a_symmetric_key_is_refused(
    aws: MotoServer, kms_key: MakeKey, seal: tuple[str, Path]
) -> None:
    key = kms_key("SYMMETRIC_DEFAULT", usage="ENCRYPT_DECRYPT")
    with pytest.raises(CredentialError, match="not SIGN_VERIFY") as info:
        KmsSource(key_id=key["Arn"], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_a_curve_ksef_does_not_take(
    aws: MotoServer, kms_key: MakeKey, seal: tuple[str, Path]
) -> None:
    key = kms_key("ECC_SECG_P256K1")
    with pytest.raises(CertificateError, match="ECC_SECG_P256K1: KSeF accepts RSA"):
        KmsSource(key_id=key["Arn"], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)


def test_a_certificate_of_another_key(
    aws: MotoServer, kms_key: MakeKey, seal: tuple[str, Path]
) -> None:
    other = kms_key("ECC_NIST_P256")
    with pytest.raises(CertificateError, match="is not for AWS KMS key"):
        KmsSource(key_id=other["Arn"], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)


def test_a_refused_signature_is_a_clear_error(
    moto: MotoServer, aws: MotoServer, seal: tuple[str, Path]
) -> None:
    """KMS refusing Sign (here: the credentials stop being valid once IAM is enforced) is a
    CredentialError naming the key, the AWS error code and what to do.

    (moto signs with a disabled key; real KMS answers DisabledException, whose hint says to
    enable the key.)"""
    credential = KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)
    moto.enforce_iam(after=0)
    try:
        with pytest.raises(
            CredentialError, match="AWS KMS refused Sign for key .* InvalidClientTokenId"
        ) as info:
            credential.key.sign(b"data")
    finally:
        moto.enforce_iam(after=float("inf"))
    assert not isinstance(info.value, NotAvailable)
    assert "<" not in str(info.value)  # no XML body repeated


def test_access_denied_names_the_permission(
    moto: MotoServer, seal: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    iam = moto.client("iam")
    user = f"no-rights-{seal[0][-8:]}"
    iam.create_user(UserName=user)
    access = iam.create_access_key(UserName=user)["AccessKey"]
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", access["AccessKeyId"])
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", access["SecretAccessKey"])
    moto.enforce_iam(after=0)
    try:
        with pytest.raises(CredentialError, match="kms:GetPublicKey") as info:
            KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=moto.url).load(REQUEST)
    finally:
        moto.enforce_iam(after=float("inf"))
    assert "AccessDenied" in str(info.value) and access["SecretAccessKey"] not in str(info.value)


def test_an_unreachable_endpoint(aws: MotoServer, seal: tuple[str, Path]) -> None:
    url = f"http://127.0.0.1:{closed_port()}"
    with pytest.raises(CredentialError, match="could not reach AWS KMS") as info:
        KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=url).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)


def test_no_aws_credentials_is_not_available(
    moto: MotoServer, seal: tuple[str, Path], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from ksef_auth_cloud.testing import isolate_aws

    isolate_aws(monkeypatch, tmp_path)
    source = KmsSource(
        key_id=seal[0], certificate=seal[1], endpoint_url=moto.url, metadata_timeout=0
    )
    with pytest.raises(NotAvailable, match="no AWS credentials here"):
        source.load(REQUEST)


def test_an_unset_certificate_variable_is_not_available(
    aws: MotoServer, seal: tuple[str, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("NO_SUCH_CERT", raising=False)
    with pytest.raises(NotAvailable, match="NO_SUCH_CERT is not set"):
        KmsSource(key_id=seal[0], certificate_var="NO_SUCH_CERT", endpoint_url=aws.url).load(
            REQUEST
        )


def test_options() -> None:
    with pytest.raises(ValueError, match="exactly one of certificate"):
        KmsSource(key_id="alias/x")
    with pytest.raises(ValueError, match="exactly one of certificate"):
        KmsSource(key_id="alias/x", certificate="a.pem", certificate_var="X")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="KMS key id"):
        KmsSource(key_id=" ", certificate="a.pem")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="plain http to another host"):
        KmsSource(key_id="k", certificate="a.pem", endpoint_url="http://kms.example.com")  # type: ignore[arg-type]


def test_the_key_handle_is_never_pickled(aws: MotoServer, seal: tuple[str, Path]) -> None:
    import pickle

    credential = KmsSource(key_id=seal[0], certificate=seal[1], endpoint_url=aws.url).load(REQUEST)
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(credential.key)
