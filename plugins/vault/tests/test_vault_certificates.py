"""Certificates with their keys in the vault: stored from objects, PKCS#12 and PEM, read back as
credentials, sealed like every entry; the vault key store; logins through xades."""

from __future__ import annotations

import json
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
from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ConfigError,
    CredentialError,
    KeySpec,
    Secret,
    SecretRef,
    WrongPassword,
    build_csr,
)
from ksef_auth_vault import PendingKey, Vault, VaultKeyStore, VaultSource

NIP = "5261040828"
P12_PASSWORD = "p12-password-never-shown"


def seal_subject(nip: str = NIP) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, "Firma Testowa"),
            x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, f"VATPL-{nip}"),
            x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
        ]
    )


def issue(
    subject: x509.Name, public_key: Any, issuer_key: Any, issuer: x509.Name
) -> x509.Certificate:
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=30))
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def ca() -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    key = ec.generate_private_key(ec.SECP384R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Test CA")])
    return key, issue(name, key.public_key(), key, name)


@pytest.fixture(scope="module")
def seal(ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    certificate = issue(seal_subject(), key.public_key(), ca[0], ca[1].subject)
    return {"key": key, "certificate": certificate, "chain": [ca[1]]}


@pytest.fixture
def vault(vault_path: Path, key: str, monkeypatch: pytest.MonkeyPatch) -> Vault:
    monkeypatch.setenv("SEAL_VAULT_KEY", key)
    return Vault(vault_path, SecretRef.env("SEAL_VAULT_KEY"))


def key_line(key: Any) -> str:
    """A line from inside the private key's PEM: it may appear in no file and no message."""
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    return pem.decode().splitlines()[1]


def test_set_certificate_round_trips(vault: Vault, seal: dict[str, Any]) -> None:
    assert vault.set_certificate("seal", seal["certificate"], seal["key"], seal["chain"]) is False
    credential = vault.load("seal")
    assert isinstance(credential, CertificateCredential)
    assert credential.certificate == seal["certificate"]
    assert list(credential.chain) == seal["chain"]
    assert credential.key.public_key() == seal["key"].public_key()
    assert credential.source == "vault:seal"
    assert vault.set_certificate("seal", seal["certificate"], seal["key"]) is True


def test_the_file_holds_no_key_material(vault: Vault, seal: dict[str, Any]) -> None:
    vault.set_certificate("seal", seal["certificate"], seal["key"], seal["chain"])
    text = vault.path.read_text()
    assert key_line(seal["key"]) not in text
    assert "BEGIN" not in text and "Firma" not in text
    assert json.loads(text)["entries"]["seal"]["kind"] == "certificate"
    assert vault.path.stat().st_mode & 0o777 == 0o600


def test_set_pkcs12(vault: Vault, seal: dict[str, Any]) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"seal",
        seal["key"],
        seal["certificate"],
        seal["chain"],
        serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
    )
    vault.set_pkcs12("seal", data, Secret(P12_PASSWORD), where="PKCS#12 file seal.p12")
    credential = vault.load("seal")
    assert credential.certificate == seal["certificate"]  # type: ignore[union-attr]
    assert list(credential.chain) == seal["chain"]  # type: ignore[union-attr]


def test_wrong_pkcs12_password_stores_nothing(vault: Vault, seal: dict[str, Any]) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"seal",
        seal["key"],
        seal["certificate"],
        None,
        serialization.BestAvailableEncryption(P12_PASSWORD.encode()),
    )
    with pytest.raises(WrongPassword, match="wrong password for PKCS#12 file seal.p12") as info:
        vault.set_pkcs12("seal", data, Secret("wrong-one"), where="PKCS#12 file seal.p12")
    assert "wrong-one" not in str(info.value) and P12_PASSWORD not in str(info.value)
    with pytest.raises(WrongPassword, match="no password is set: give its password"):
        vault.set_pkcs12("seal", data, None, where="PKCS#12 file seal.p12")
    assert vault.entries() == []


def test_pkcs12_without_a_key(vault: Vault, seal: dict[str, Any]) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"seal", None, seal["certificate"], None, serialization.NoEncryption()
    )
    with pytest.raises(CertificateError, match="holds no private key"):
        vault.set_pkcs12("seal", data, None, where="PKCS#12 file seal.p12")


def test_set_pem_and_a_mismatched_key(vault: Vault, seal: dict[str, Any]) -> None:
    certificate = seal["certificate"].public_bytes(serialization.Encoding.PEM)
    key = seal["key"].private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"key-pass"),
    )
    vault.set_pem("seal", certificate, key, Secret("key-pass"), where="certificate file c.pem")
    assert vault.load("seal").certificate == seal["certificate"]  # type: ignore[union-attr]
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(CertificateError, match="does not belong to the certificate"):
        vault.set_certificate("other", seal["certificate"], other)
    other_pem = other.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(CertificateError, match="does not belong to the certificate"):
        vault.set_pem("other", certificate, other_pem, None, where="certificate file c.pem")


def test_list_describes_certificates(vault: Vault, seal: dict[str, Any]) -> None:
    vault.set_certificate("seal", seal["certificate"], seal["key"])
    vault.set("shop", Secret("20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "ab" * 32))
    infos = {info.name: info for info in vault.entries(with_status=True)}
    assert infos["seal"].kind == "certificate" and infos["seal"].status == "ok"
    assert infos["seal"].certificate is not None and "VATPL-5261040828" in infos["seal"].certificate
    assert infos["shop"].certificate is None
    assert vault.entries()[0].certificate is None  # nothing is opened without with_status


def test_a_certificate_entry_renamed_or_relabelled_does_not_open(
    vault: Vault, seal: dict[str, Any]
) -> None:
    vault.set_certificate("seal", seal["certificate"], seal["key"])
    document = json.loads(vault.path.read_text())
    document["entries"]["copy"] = dict(document["entries"]["seal"])
    document["entries"]["token"] = dict(document["entries"]["seal"], kind="ksef-token")
    vault.path.write_text(json.dumps(document))
    for name in ("copy", "token"):
        with pytest.raises(CredentialError, match="does not authenticate"):
            vault.load(name)


def test_rekey_keeps_certificates(
    vault_path: Path, key: str, seal: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksef_auth.sealing import generate_key

    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", key)
    Vault(vault_path).set_certificate("seal", seal["certificate"], seal["key"])
    new = generate_key()
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", f"{new},{key}")
    assert Vault(vault_path).rekey() == 1
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", new)
    assert Vault(vault_path).load("seal").certificate == seal["certificate"]  # type: ignore[union-attr]


def test_set_refuses_the_certificate_kind_for_text(vault: Vault) -> None:
    with pytest.raises(ConfigError, match="set_certificate or set_pkcs12"):
        vault.set("seal", Secret("x"), "certificate")


def test_rsa_certificates_too(vault: Vault) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = issue(seal_subject(), key.public_key(), key, seal_subject())
    vault.set_certificate("rsa", certificate, key)
    assert vault.load("rsa").key.description == "RSA-2048"  # type: ignore[union-attr]


# --- the key store -------------------------------------------------------------------------------


def test_key_store_generates_builds_a_csr_and_keeps(
    vault: Vault, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
) -> None:
    store = VaultKeyStore(path=vault.path, key=vault.key)
    handle = store.generate(KeySpec(algorithm="ec-p256", label="ksef-5261040828"))
    assert isinstance(handle, PendingKey) and handle.description == "EC-secp256r1"
    csr = build_csr(handle, seal_subject())
    assert csr.is_signature_valid
    certificate = issue(csr.subject, csr.public_key(), ca[0], ca[1].subject)
    table = store.keep(handle, certificate, [ca[1]])
    assert table == {
        "use": "vault",
        "name": "ksef-5261040828",
        "path": str(vault.path),
        "key": {"env": "SEAL_VAULT_KEY"},
    }
    source = VaultSource(name="ksef-5261040828", path=vault.path, key=vault.key)
    request = ksef_auth.CredentialRequest.for_login("http://127.0.0.1:1/v2", NIP)
    credential = source.load(request)
    assert credential.certificate == certificate  # type: ignore[union-attr]
    assert repr(handle) == "PendingKey('ksef-5261040828', EC-secp256r1)"


def test_key_store_refuses_keys_it_did_not_make(vault: Vault, seal: dict[str, Any]) -> None:
    store = VaultKeyStore(path=vault.path, key=vault.key)
    with pytest.raises(CredentialError, match="keeps keys it made itself"):
        store.keep(ksef_auth.LocalKey(seal["key"]), seal["certificate"], [])


def test_key_store_checks_the_label_before_generating(vault: Vault) -> None:
    store = VaultKeyStore(path=vault.path, key=vault.key)
    with pytest.raises(CredentialError, match="vault entry name"):
        store.generate(KeySpec(label="no spaces allowed"))


def test_pending_keys_are_never_pickled(vault: Vault) -> None:
    import pickle

    handle = VaultKeyStore(path=vault.path, key=vault.key).generate(KeySpec(label="k"))
    with pytest.raises(TypeError, match="cannot be pickled"):
        pickle.dumps(handle)


def test_the_key_store_is_registered() -> None:
    from ksef_auth.manager import PluginManager

    assert PluginManager(only="vault").get("key_store", "vault").factory is VaultKeyStore


# --- logins -------------------------------------------------------------------------------------


def strategy_config(base_url: str, credential: dict[str, Any]) -> dict[str, Any]:
    return {
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


@pytest.fixture
def trusting_simulator(make_ksef_simulator: Any, ca: tuple[Any, x509.Certificate]) -> Any:
    pytest.importorskip("ksef_auth_xades")
    pem = ca[1].public_bytes(serialization.Encoding.PEM)
    return make_ksef_simulator(require_xades=True, trusted_ca_pems=[pem])


def test_xades_login_with_a_certificate_from_the_vault(
    trusting_simulator: Any, vault: Vault, seal: dict[str, Any]
) -> None:
    vault.set_certificate("seal", seal["certificate"], seal["key"], seal["chain"])
    credential = {
        "use": "vault",
        "name": "seal",
        "path": str(vault.path),
        "key": {"env": "SEAL_VAULT_KEY"},
    }
    strategy = ksef_auth.load(strategy_config(trusting_simulator.base_url, credential)).strategy(
        "seal"
    )
    assert strategy.token()
    current = strategy.session.current()
    assert current is not None and current.method == "xades"


def test_xades_login_with_a_key_the_vault_key_store_made(
    trusting_simulator: Any, vault: Vault, ca: tuple[ec.EllipticCurvePrivateKey, x509.Certificate]
) -> None:
    store = VaultKeyStore(path=vault.path, key=vault.key)
    handle = store.generate(KeySpec(algorithm="rsa-2048", label="enrolled"))
    csr = build_csr(handle, seal_subject())
    table = store.keep(handle, issue(csr.subject, csr.public_key(), ca[0], ca[1].subject), [ca[1]])
    strategy = ksef_auth.load(strategy_config(trusting_simulator.base_url, dict(table))).strategy(
        "seal"
    )
    assert strategy.token()
