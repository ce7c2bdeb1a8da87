"""Key handles make their own CSRs, and key stores register like any other component."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ksef_auth import CertificateError, KeySpec, KeyStore, Register, build_csr, hookimpl
from ksef_auth.keys import KEY_ALGORITHMS, LocalKey, generate_local_key
from ksef_auth.manager import PluginManager

SUBJECT = x509.Name(
    [
        x509.NameAttribute(NameOID.COMMON_NAME, "Firma Zażółć Sp. z o.o."),
        x509.NameAttribute(NameOID.ORGANIZATION_IDENTIFIER, "VATPL-5261040828"),
        x509.NameAttribute(NameOID.COUNTRY_NAME, "PL"),
    ]
)


@pytest.mark.parametrize("algorithm", KEY_ALGORITHMS)
@pytest.mark.parametrize("hash_name", ["sha256", "sha384"])
def test_csr_through_a_key_handle_verifies(algorithm: str, hash_name: str) -> None:
    key = generate_local_key(KeySpec(algorithm=algorithm, label="k"))  # type: ignore[arg-type]
    csr = build_csr(key, SUBJECT, hash_name=hash_name)  # type: ignore[arg-type]
    assert csr.is_signature_valid
    assert csr.subject == SUBJECT
    assert csr.signature_hash_algorithm is not None
    assert csr.signature_hash_algorithm.name == hash_name
    assert csr.public_key() == key.public_key()
    expected = ec.EllipticCurvePublicKey if algorithm == "ec-p256" else rsa.RSAPublicKey
    assert isinstance(csr.public_key(), expected)


OPENSSL = shutil.which("openssl")


@pytest.mark.skipif(OPENSSL is None, reason="no openssl command (Debian: apt-get install openssl)")
@pytest.mark.parametrize("algorithm", KEY_ALGORITHMS)
@pytest.mark.parametrize("hash_name", ["sha256", "sha384"])
def test_openssl_verifies_the_csr(algorithm: str, hash_name: str, tmp_path: Path) -> None:
    """``openssl req -verify``, not the code that built the DER, checks the request's signature
    and reads the subject back."""
    key = generate_local_key(KeySpec(algorithm=algorithm, label="k"))  # type: ignore[arg-type]
    csr = build_csr(key, SUBJECT, hash_name=hash_name)  # type: ignore[arg-type]
    (tmp_path / "request.der").write_bytes(csr.public_bytes(serialization.Encoding.DER))
    done = subprocess.run(
        [str(OPENSSL), "req", "-in", str(tmp_path / "request.der"), "-inform", "DER"]
        + ["-verify", "-noout", "-subject", "-nameopt", "RFC2253,-esc_msb"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert "verify OK" in done.stdout + done.stderr
    assert "CN=Firma Zażółć Sp. z o.o." in done.stdout
    assert "VATPL-5261040828" in done.stdout and "C=PL" in done.stdout


def test_a_lying_key_handle_is_caught() -> None:
    honest = LocalKey(ec.generate_private_key(ec.SECP256R1()))
    other = LocalKey(ec.generate_private_key(ec.SECP256R1()))

    class Lying:
        description = "EC-secp256r1"

        def public_key(self):  # type: ignore[no-untyped-def]
            return honest.public_key()

        def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
            return other.sign(data)

    with pytest.raises(CertificateError, match="does not verify"):
        build_csr(Lying(), SUBJECT)  # type: ignore[arg-type]


def test_key_spec_refuses_what_ksef_does_not_issue_for() -> None:
    with pytest.raises(ValueError):
        KeySpec(algorithm="ec-p384", label="k")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        KeySpec(label="")


class MemoryKeys:
    """A key store keeping keys in this process (the simplest one there can be)."""

    def __init__(self) -> None:
        self.kept: dict[str, x509.Certificate] = {}

    def generate(self, spec: KeySpec) -> LocalKey:
        return generate_local_key(spec)

    def keep(self, key, certificate, chain):  # type: ignore[no-untyped-def]
        self.kept[certificate.serial_number] = certificate
        return {"use": "memory-keys", "serial": str(certificate.serial_number)}


class KeyStorePlugin:
    @hookimpl
    def ksef_auth_register_key_stores(self, register: Register) -> None:
        register("memory-keys", MemoryKeys)


def test_key_store_hook_registers_a_key_store() -> None:
    pm = PluginManager(autoload=False)
    pm.register(KeyStorePlugin(), name="keys")
    registration = pm.get("key_store", "memory-keys")
    store = registration.factory()
    assert isinstance(store, KeyStore)
    assert [row["provides"] for row in pm.listing()] == [{"key store": ["memory-keys"]}]
