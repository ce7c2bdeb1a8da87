"""The pkcs12 source: modern and legacy files, chains, and every bad input."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs12
from p12_support import NIP, PASSWORD, legacy_3des, legacy_rc2, modern, write

import ksef_auth_pkcs12
from ksef_auth import (
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
from ksef_auth_pkcs12 import Pkcs12Source
from ksef_auth_testcert.builder import seal_subject, self_signed

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

TEST = Environment.of("test")
CONTEXT = ContextIdentifier.nip(NIP)


@pytest.fixture(autouse=True)
def password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_P12_PASSWORD", PASSWORD)


@pytest.fixture
def rsa_p12(tmp_path: Path, rsa_key, rsa_cert) -> Path:
    return write(tmp_path, "seal.p12", modern(rsa_key, rsa_cert))


class TestContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, rsa_p12: Path) -> Pkcs12Source:
        return Pkcs12Source(rsa_p12)

    @pytest.fixture
    def unavailable_source(self, tmp_path: Path) -> Pkcs12Source:
        return Pkcs12Source(tmp_path / "absent.p12")

    @pytest.fixture
    def secret_files(self, rsa_p12: Path) -> list[Path]:
        return [rsa_p12]

    @pytest.fixture
    def rotate(self, rsa_p12: Path) -> Callable[[], None]:
        def renew() -> None:  # a new key and certificate exported over the old file
            key = ec.generate_private_key(ec.SECP256R1())
            write(rsa_p12.parent, rsa_p12.name, modern(key, self_signed(key, seal_subject(NIP))))

        return renew

    @pytest.fixture
    def keyed_source(self) -> None:
        """One certificate for every context: the signer checks its NIP against the login's."""
        return

    @pytest.fixture
    def failing_sources(
        self, tmp_path: Path, rsa_key, rsa_cert, rsa_p12: Path, monkeypatch: pytest.MonkeyPatch
    ) -> dict[str, Pkcs12Source]:
        monkeypatch.setenv("KIT_WRONG_PASSWORD", PASSWORD + " but wrong")
        no_key = pkcs12.serialize_key_and_certificates(
            b"ksef", None, rsa_cert, None, serialization.BestAvailableEncryption(b"p12 password")
        )
        return {
            "wrong password": Pkcs12Source(rsa_p12, password=SecretRef.env("KIT_WRONG_PASSWORD")),
            "password unset": Pkcs12Source(rsa_p12, password=SecretRef.env("KIT_UNSET_PASSWORD")),
            "not PKCS#12": Pkcs12Source(write(tmp_path, "junk.p12", b"\x00\x01junk" * 10)),
            "a PEM file": Pkcs12Source(write(tmp_path, "cert.p12", b"-----BEGIN CERTIFICATE-----")),
            "no key inside": Pkcs12Source(write(tmp_path, "nokey.p12", no_key)),
        }


# --- what loads -----------------------------------------------------------------------------------


def test_modern_with_default_variable(rsa_p12: Path, rsa_cert) -> None:
    credential = Pkcs12Source(str(rsa_p12)).load(REQUEST)
    assert credential.certificate == rsa_cert
    assert credential.key.description == "RSA-2048"
    assert credential.source == f"pkcs12:{rsa_p12}"


def test_modern_with_file_reference(tmp_path: Path, rsa_p12: Path, monkeypatch) -> None:
    monkeypatch.delenv("KSEF2_P12_PASSWORD")
    secret = write(tmp_path, "pw", PASSWORD.encode())
    assert Pkcs12Source(rsa_p12, password=SecretRef.file(secret)).load(REQUEST)


def test_legacy_3des(tmp_path: Path, ec_key, ec_cert) -> None:
    path = write(tmp_path, "legacy.pfx", legacy_3des(ec_key, ec_cert))
    credential = Pkcs12Source(path).load(REQUEST)
    assert credential.certificate == ec_cert
    assert credential.key.description == "EC-secp256r1"


def test_legacy_rc2(tmp_path: Path, rsa_key, rsa_cert) -> None:
    data = legacy_rc2(tmp_path, rsa_key, rsa_cert)
    if data is None:
        pytest.skip("the openssl CLI (with -legacy) is needed to write an RC2 file")
    assert Pkcs12Source(write(tmp_path, "rc2.p12", data)).load(REQUEST).certificate == rsa_cert


def test_unencrypted_without_password(tmp_path: Path, ec_key, ec_cert, monkeypatch) -> None:
    monkeypatch.delenv("KSEF2_P12_PASSWORD")
    path = write(tmp_path, "open.p12", modern(ec_key, ec_cert, password=None))
    assert Pkcs12Source(path).load(REQUEST).certificate == ec_cert


def test_leaf_chosen_by_key_and_chain_kept(tmp_path: Path, ec_key, ca) -> None:
    ca_cert, leaf = ca
    credential = Pkcs12Source(write(tmp_path, "chain.p12", modern(ec_key, leaf, [ca_cert]))).load(
        REQUEST
    )
    assert credential.certificate == leaf
    assert credential.chain == (ca_cert,)
    # no certificate in the main slot: the leaf is found among the others by its key
    data = pkcs12.serialize_key_and_certificates(
        b"x", ec_key, None, [ca_cert, leaf], serialization.BestAvailableEncryption(b"pw")
    )
    credential = Pkcs12Source(
        write(tmp_path, "bag.p12", data), password=SecretRef.value("pw")
    ).load(REQUEST)
    assert credential.certificate == leaf
    assert credential.chain == (ca_cert,)


# --- bad inputs -----------------------------------------------------------------------------------


def test_wrong_password(rsa_p12: Path, monkeypatch) -> None:
    monkeypatch.setenv("KSEF2_P12_PASSWORD", "not it")
    with pytest.raises(CredentialError, match="wrong password for PKCS#12 file") as info:
        Pkcs12Source(rsa_p12).load(REQUEST)
    assert "environment variable KSEF2_P12_PASSWORD" in str(info.value)
    assert "not it" not in str(info.value)


def test_password_needed_but_variable_unset(rsa_p12: Path, monkeypatch) -> None:
    monkeypatch.delenv("KSEF2_P12_PASSWORD")
    with pytest.raises(CredentialError, match="password-protected and no password is set"):
        Pkcs12Source(rsa_p12).load(REQUEST)


def test_explicit_password_variable_missing(rsa_p12: Path) -> None:
    source = Pkcs12Source(rsa_p12, password=SecretRef.env("KSEF_TEST_UNSET_P12"))
    with pytest.raises(CredentialError, match="KSEF_TEST_UNSET_P12 is not set"):
        source.load(REQUEST)
    with pytest.raises(CredentialError, match="password: environment variable"):
        source.check(TEST, CONTEXT)


def test_inline_password_refused(rsa_p12: Path) -> None:
    with pytest.raises(TypeError, match="by reference"):
        Pkcs12Source(rsa_p12, password=PASSWORD)  # type: ignore[arg-type]


def test_no_private_key(tmp_path: Path, rsa_cert) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"x", None, rsa_cert, None, serialization.BestAvailableEncryption(PASSWORD.encode())
    )
    with pytest.raises(CertificateError, match="holds no private key") as info:
        Pkcs12Source(write(tmp_path, "nokey.p12", data)).load(REQUEST)
    assert "VATPL-5265877635" in str(info.value)


def test_key_belongs_to_no_certificate(tmp_path: Path, ec_key, rsa_cert) -> None:
    # cryptography refuses to pair a key with a foreign certificate, so put the certificate
    # of another key in the additional bag
    key_only = pkcs12.serialize_key_and_certificates(
        b"x", ec_key, None, [rsa_cert], serialization.BestAvailableEncryption(PASSWORD.encode())
    )
    with pytest.raises(CertificateError, match="belongs to none of its certificates"):
        Pkcs12Source(write(tmp_path, "mismatch.p12", key_only)).load(REQUEST)


def test_pem_file_given(tmp_path: Path, rsa_cert) -> None:
    path = write(tmp_path, "cert.p12", rsa_cert.public_bytes(serialization.Encoding.PEM))
    with pytest.raises(CredentialError, match="is a PEM file, not PKCS#12: use the pem"):
        Pkcs12Source(path).load(REQUEST)


def test_der_certificate_given(tmp_path: Path, rsa_cert) -> None:
    path = write(tmp_path, "cert.p12", rsa_cert.public_bytes(serialization.Encoding.DER))
    with pytest.raises(CredentialError, match="is not a PKCS#12 file"):
        Pkcs12Source(path).load(REQUEST)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="is empty"):
        Pkcs12Source(write(tmp_path, "empty.p12", b"")).load(REQUEST)


def test_directory(tmp_path: Path) -> None:
    with pytest.raises(CredentialError, match="is a directory"):
        Pkcs12Source(tmp_path).load(REQUEST)
    with pytest.raises(CredentialError, match="is not a file"):
        Pkcs12Source(tmp_path).check(TEST, CONTEXT)


def test_missing_file_is_not_available(tmp_path: Path) -> None:
    with pytest.raises(NotAvailable, match="does not exist"):
        Pkcs12Source(tmp_path / "nope.p12").load(REQUEST)
    with pytest.raises(NotAvailable):
        Pkcs12Source(tmp_path / "nope.p12").check(TEST, CONTEXT)


def test_unreadable_file_message(rsa_p12: Path, monkeypatch) -> None:
    real_access = os.access
    monkeypatch.setattr(
        os, "access", lambda p, m, *a, **k: False if Path(p) == rsa_p12 else real_access(p, m)
    )
    with pytest.raises(CredentialError, match="is not readable by this user"):
        Pkcs12Source(rsa_p12).load(REQUEST)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_for_real(rsa_p12: Path) -> None:
    rsa_p12.chmod(0)
    with pytest.raises(CredentialError, match="is not readable"):
        Pkcs12Source(rsa_p12).load(REQUEST)


def test_registered_with_documented_options() -> None:
    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_pkcs12, name="pkcs12")
    registration = manager.get("credential_source", "pkcs12")
    options = {o.name: o for o in registration.options}
    assert list(options) == ["path", "password"]
    assert options["path"].required and not options["password"].required
    assert options["password"].secret
    assert all(o.help for o in options.values())
