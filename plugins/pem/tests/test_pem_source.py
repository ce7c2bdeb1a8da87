"""The pem source: PEM and DER files, encrypted keys, PEM text from variables, bad inputs."""

from __future__ import annotations

import base64
import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from pem_support import DER, NIP, PASSWORD, cert_bytes, key_bytes, write

import ksef_auth_pem
from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    NotAvailable,
    PluginManager,
    SecretRef,
)
from ksef_auth.testing import CredentialSourceContract
from ksef_auth_pem import PemSource
from ksef_auth_testcert.builder import seal_subject, self_signed

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

TEST = Environment.of("test")
CONTEXT = ContextIdentifier.nip(NIP)


@pytest.fixture(autouse=True)
def no_default_password(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("KSEF2_KEY_PASSWORD", raising=False)


@pytest.fixture
def rsa_files(tmp_path: Path, rsa_key, rsa_cert) -> tuple[Path, Path]:
    return write(tmp_path, "cert.pem", cert_bytes(rsa_cert)), write(
        tmp_path, "key.pem", key_bytes(rsa_key)
    )


class TestContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, rsa_files) -> PemSource:
        return PemSource(certificate=rsa_files[0], key=rsa_files[1])

    @pytest.fixture
    def unavailable_source(self, tmp_path: Path) -> PemSource:
        return PemSource(certificate=tmp_path / "absent.pem", key=tmp_path / "absent.key")

    @pytest.fixture
    def secret_files(self, rsa_files) -> list[Path]:
        return [rsa_files[1]]

    @pytest.fixture
    def public_files(self, rsa_files) -> list[Path]:
        return [rsa_files[0]]

    @pytest.fixture
    def rotate(self, rsa_files) -> Callable[[], None]:
        def renew() -> None:  # a new key and certificate written over the old files
            key = ec.generate_private_key(ec.SECP256R1())
            write(
                rsa_files[0].parent,
                rsa_files[0].name,
                cert_bytes(self_signed(key, seal_subject(NIP))),
            )
            write(rsa_files[1].parent, rsa_files[1].name, key_bytes(key))

        return renew

    @pytest.fixture
    def keyed_source(self) -> None:
        """One certificate for every context: the signer checks its NIP against the login's."""
        return

    @pytest.fixture
    def failing_sources(
        self, tmp_path: Path, rsa_key, rsa_files, ec_key, monkeypatch
    ) -> dict[str, PemSource]:
        cert, key = rsa_files
        encrypted = write(tmp_path, "enc.pem", key_bytes(rsa_key, password=PASSWORD))
        other = write(tmp_path, "other.pem", key_bytes(ec_key))
        garbage = write(tmp_path, "garbage.pem", b"-----BEGIN PRIVATE KEY-----\nAAAA\n")
        monkeypatch.setenv("KIT_WRONG_PASSWORD", PASSWORD + " but wrong")
        return {
            "encrypted key, no password": PemSource(certificate=cert, key=encrypted),
            "wrong password": PemSource(
                certificate=cert, key=encrypted, password=SecretRef.env("KIT_WRONG_PASSWORD")
            ),
            "key of another certificate": PemSource(certificate=cert, key=other),
            "damaged key": PemSource(certificate=cert, key=garbage),
            "certificate as key": PemSource(certificate=cert, key=cert),
            "no key": PemSource(certificate=cert),
        }


# --- what loads -----------------------------------------------------------------------------------


def test_pem_rsa(rsa_files, rsa_cert) -> None:
    credential = PemSource(certificate=str(rsa_files[0]), key=str(rsa_files[1])).load(REQUEST)
    assert isinstance(credential, CertificateCredential)
    assert credential.certificate == rsa_cert
    assert credential.key.description == "RSA-2048"
    assert credential.source == f"pem:{rsa_files[0]}"
    assert credential.chain == ()


def test_der_files(tmp_path: Path, ec_key, ec_cert) -> None:
    cert = write(tmp_path, "cert.der", cert_bytes(ec_cert, DER))
    key = write(tmp_path, "key.der", key_bytes(ec_key, DER))
    assert PemSource(certificate=cert, key=key).load(REQUEST).certificate == ec_cert


def test_der_file_named_pem_is_read_by_content(tmp_path: Path, ec_key, ec_cert) -> None:
    cert = write(tmp_path, "cert.pem", cert_bytes(ec_cert, DER))
    key = write(tmp_path, "key.pem", key_bytes(ec_key, DER))
    assert PemSource(certificate=cert, key=key).load(REQUEST).certificate == ec_cert


def test_traditional_openssl_key(tmp_path: Path, rsa_key, rsa_cert, rsa_files) -> None:
    key = write(
        tmp_path,
        "rsa.key",
        key_bytes(rsa_key, fmt=serialization.PrivateFormat.TraditionalOpenSSL, password=PASSWORD),
    )
    source = PemSource(certificate=rsa_files[0], key=key, password=SecretRef.value(PASSWORD))
    assert source.load(REQUEST).certificate == rsa_cert


def test_key_in_the_certificate_file(tmp_path: Path, ec_key, ec_cert) -> None:
    both = write(tmp_path, "both.pem", cert_bytes(ec_cert) + key_bytes(ec_key))
    assert PemSource(certificate=both).load(REQUEST).certificate == ec_cert


def test_bundle_picks_the_leaf_by_key(tmp_path: Path, ec_key, ca) -> None:
    ca_cert, leaf = ca
    bundle = write(tmp_path, "bundle.pem", cert_bytes(ca_cert) + cert_bytes(leaf))
    key = write(tmp_path, "key.pem", key_bytes(ec_key))
    credential = PemSource(certificate=bundle, key=key).load(REQUEST)
    assert credential.certificate == leaf
    assert credential.chain == (ca_cert,)


def test_chain_files(tmp_path: Path, ec_key, ca) -> None:
    ca_cert, leaf = ca
    cert = write(tmp_path, "leaf.pem", cert_bytes(leaf))
    key = write(tmp_path, "key.pem", key_bytes(ec_key))
    chain = write(tmp_path, "ca.der", cert_bytes(ca_cert, DER))
    credential = PemSource(certificate=cert, key=key, chain=[chain]).load(REQUEST)
    assert credential.chain == (ca_cert,)
    assert PemSource(certificate=cert, key=key, chain=str(chain)).load(REQUEST).chain == (ca_cert,)


# --- encrypted keys -------------------------------------------------------------------------------


@pytest.fixture
def encrypted(tmp_path: Path, rsa_key, rsa_files) -> tuple[Path, Path]:
    return rsa_files[0], write(tmp_path, "enc.pem", key_bytes(rsa_key, password=PASSWORD))


def test_encrypted_with_env_reference(encrypted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY_PASSWORD", PASSWORD)
    source = PemSource(*encrypted, password=SecretRef.env("MY_KEY_PASSWORD"))
    assert source.load(REQUEST).key.description == "RSA-2048"


def test_encrypted_with_file_reference(encrypted, tmp_path: Path) -> None:
    secret = write(tmp_path, "password.txt", PASSWORD.encode() + b"\n")
    assert PemSource(*encrypted, password=SecretRef.file(secret)).load(REQUEST)


def test_encrypted_with_default_variable(encrypted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_KEY_PASSWORD", PASSWORD)
    assert PemSource(*encrypted).load(REQUEST)


def test_default_variable_ignored_for_plain_key(rsa_files, monkeypatch) -> None:
    monkeypatch.setenv("KSEF2_KEY_PASSWORD", "unrelated")
    assert PemSource(*rsa_files).load(REQUEST)


def test_encrypted_without_password(encrypted) -> None:
    with pytest.raises(CredentialError, match="is encrypted and no password is set.*KSEF2_KEY"):
        PemSource(*encrypted).load(REQUEST)


def test_wrong_password(encrypted, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("MY_KEY_PASSWORD", "not the password")
    source = PemSource(*encrypted, password=SecretRef.env("MY_KEY_PASSWORD"))
    with pytest.raises(CredentialError, match="wrong password for key file .*enc.pem") as info:
        source.load(REQUEST)
    assert "environment variable MY_KEY_PASSWORD" in str(info.value)
    assert "not the password" not in str(info.value)


def test_missing_password_variable(encrypted) -> None:
    source = PemSource(*encrypted, password=SecretRef.env("KSEF_TEST_UNSET_VARIABLE"))
    with pytest.raises(CredentialError, match="KSEF_TEST_UNSET_VARIABLE is not set"):
        source.load(REQUEST)
    with pytest.raises(CredentialError, match="password: environment variable"):
        source.check(TEST, CONTEXT)


def test_inline_password_refused(encrypted) -> None:
    with pytest.raises(TypeError, match="by reference"):
        PemSource(*encrypted, password=PASSWORD)  # type: ignore[arg-type]


# --- PEM text from variables ----------------------------------------------------------------------


def test_pem_text_from_variables(monkeypatch, ec_key, ec_cert) -> None:
    monkeypatch.setenv("CERT_PEM", cert_bytes(ec_cert).decode())
    # one-line form with literal \n, as some platforms store multi-line values
    monkeypatch.setenv("KEY_PEM", key_bytes(ec_key).decode().replace("\n", "\\n"))
    source = PemSource(certificate_pem=SecretRef.env("CERT_PEM"), key_pem=SecretRef.env("KEY_PEM"))
    credential = source.load(REQUEST)
    assert credential.certificate == ec_cert
    assert credential.source == "pem:certificate_pem (environment variable CERT_PEM)"


def test_base64_der_from_variables(monkeypatch, ec_key, ec_cert) -> None:
    monkeypatch.setenv("CERT_B64", base64.b64encode(cert_bytes(ec_cert, DER)).decode())
    monkeypatch.setenv("KEY_B64", base64.b64encode(key_bytes(ec_key, DER)).decode())
    source = PemSource(certificate_pem=SecretRef.env("CERT_B64"), key_pem=SecretRef.env("KEY_B64"))
    assert source.load(REQUEST).certificate == ec_cert


def test_unset_pem_variable_is_not_available(monkeypatch) -> None:
    source = PemSource(
        certificate_pem=SecretRef.env("KSEF_TEST_NO_CERT"), key_pem=SecretRef.env("KSEF_TEST_NO")
    )
    with pytest.raises(NotAvailable, match="KSEF_TEST_NO_CERT is not set"):
        source.load(REQUEST)
    with pytest.raises(NotAvailable):
        source.check(TEST, CONTEXT)


def test_garbage_variable(monkeypatch, rsa_files) -> None:
    monkeypatch.setenv("KEY_PEM", "this is not a key!")
    source = PemSource(certificate=rsa_files[0], key_pem=SecretRef.env("KEY_PEM"))
    with pytest.raises(CredentialError, match="key_pem is neither PEM text nor base64"):
        source.load(REQUEST)


# --- bad inputs -----------------------------------------------------------------------------------


def test_key_certificate_mismatch(tmp_path: Path, rsa_cert, ec_key) -> None:
    cert = write(tmp_path, "cert.pem", cert_bytes(rsa_cert))
    key = write(tmp_path, "key.pem", key_bytes(ec_key))
    with pytest.raises(CertificateError, match="does not belong to the certificate") as info:
        PemSource(certificate=cert, key=key).load(REQUEST)
    assert "VATPL-5265877635" in str(info.value) and " to " in str(info.value)


def test_empty_file(tmp_path: Path, rsa_files) -> None:
    empty = write(tmp_path, "empty.pem", b"")
    with pytest.raises(CredentialError, match=r"certificate file .*empty.pem is empty"):
        PemSource(certificate=empty, key=rsa_files[1]).load(REQUEST)
    with pytest.raises(CredentialError, match=r"key file .*empty.pem is empty"):
        PemSource(certificate=rsa_files[0], key=empty).load(REQUEST)


def test_directory_instead_of_file(tmp_path: Path, rsa_files) -> None:
    with pytest.raises(CredentialError, match="is a directory"):
        PemSource(certificate=tmp_path, key=rsa_files[1]).load(REQUEST)
    with pytest.raises(CredentialError, match="is not a file"):
        PemSource(certificate=tmp_path, key=rsa_files[1]).check(TEST, CONTEXT)


def test_missing_file_is_not_available(tmp_path: Path, rsa_files) -> None:
    source = PemSource(certificate=tmp_path / "nope.pem", key=rsa_files[1])
    with pytest.raises(NotAvailable, match=r"certificate file .*nope.pem does not exist"):
        source.load(REQUEST)
    with pytest.raises(NotAvailable):
        source.check(TEST, CONTEXT)


def test_unreadable_file_message(rsa_files, monkeypatch: pytest.MonkeyPatch) -> None:
    real_access = os.access

    def access(path, mode, *args, **kwargs):  # what os.access says to a non-root user
        if Path(path) == rsa_files[1]:
            return False
        return real_access(path, mode, *args, **kwargs)

    monkeypatch.setattr(os, "access", access)
    with pytest.raises(CredentialError, match=r"key file .*key.pem is not readable by this user"):
        PemSource(*rsa_files).load(REQUEST)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_for_real(rsa_files) -> None:
    rsa_files[1].chmod(0)
    with pytest.raises(CredentialError, match="is not readable"):
        PemSource(*rsa_files).load(REQUEST)


def test_garbage_certificate(tmp_path: Path, rsa_files) -> None:
    junk = write(tmp_path, "cert.pem", b"\x00\x01 definitely not a certificate")
    with pytest.raises(CertificateError, match="holds no readable certificate"):
        PemSource(certificate=junk, key=rsa_files[1]).load(REQUEST)


def test_files_swapped(rsa_files) -> None:
    cert, key = rsa_files
    with pytest.raises(CertificateError, match="holds no readable certificate"):
        PemSource(certificate=key, key=cert).load(REQUEST)


def test_certificate_given_as_key(rsa_files) -> None:
    with pytest.raises(CertificateError, match="holds no readable private key"):
        PemSource(certificate=rsa_files[0], key=rsa_files[0]).load(REQUEST)


def test_no_key_anywhere(rsa_files) -> None:
    with pytest.raises(CredentialError, match="no private key.*set key"):
        PemSource(certificate=rsa_files[0]).load(REQUEST)


def test_ed25519_rejected(tmp_path: Path) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    cert = write(tmp_path, "cert.pem", cert_bytes(self_signed(key, seal_subject(NIP))))
    key_file = write(tmp_path, "key.pem", key_bytes(key))
    with pytest.raises(CertificateError, match="Ed25519.*only RSA .* and ECDSA"):
        PemSource(certificate=cert, key=key_file).load(REQUEST)


def test_option_errors(rsa_files) -> None:
    with pytest.raises(ValueError, match="exactly one of certificate"):
        PemSource(key=rsa_files[1])
    with pytest.raises(ValueError, match="at most one of key"):
        PemSource(certificate=rsa_files[0], key=rsa_files[1], key_pem=SecretRef.env("X"))


def test_registered_with_documented_options() -> None:
    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_pem, name="pem")
    registration = manager.get("credential_source", "pem")
    options = {o.name: o for o in registration.options}
    assert list(options) == [
        "certificate",
        "key",
        "password",
        "chain",
        "certificate_pem",
        "key_pem",
    ]
    assert all(o.help for o in options.values())
    assert {n for n, o in options.items() if o.secret} == {"password", "certificate_pem", "key_pem"}
