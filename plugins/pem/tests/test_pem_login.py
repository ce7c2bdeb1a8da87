"""Logins against the simulator with PEM files: RSA, EC, an encrypted key."""

from __future__ import annotations

from pathlib import Path

import pytest
from pem_support import NIP, PASSWORD, cert_bytes, key_bytes, write

from ksef_auth import ContextIdentifier, Environment, SecretRef, Strategy
from ksef_auth_memory import MemoryStore
from ksef_auth_pem import PemSource

pytest.importorskip("ksef_auth_simulator")
xades = pytest.importorskip("ksef_auth_xades")


def login(base_url: str, source: PemSource) -> str:
    strategy = Strategy(
        name="pem",
        environment=Environment.of(base_url),
        context=ContextIdentifier.nip(NIP),
        credential=source,
        signer=xades.XadesSigner(),
        store=MemoryStore(),
    )
    return strategy.token()


def test_pem_rsa(ksef_simulator, tmp_path: Path, rsa_key, rsa_cert) -> None:
    cert = write(tmp_path, "cert.pem", cert_bytes(rsa_cert))
    key = write(tmp_path, "key.pem", key_bytes(rsa_key))
    assert login(ksef_simulator.base_url, PemSource(certificate=cert, key=key))


def test_pem_ec(ksef_simulator, tmp_path: Path, ec_key, ec_cert) -> None:
    cert = write(tmp_path, "cert.pem", cert_bytes(ec_cert))
    key = write(tmp_path, "key.pem", key_bytes(ec_key))
    assert login(ksef_simulator.base_url, PemSource(certificate=cert, key=key))


def test_encrypted_pem(ksef_simulator, tmp_path: Path, monkeypatch, ec_key, ec_cert) -> None:
    monkeypatch.setenv("MY_KEY_PASSWORD", PASSWORD)
    cert = write(tmp_path, "cert.pem", cert_bytes(ec_cert))
    key = write(tmp_path, "key.pem", key_bytes(ec_key, password=PASSWORD))
    source = PemSource(certificate=cert, key=key, password=SecretRef.env("MY_KEY_PASSWORD"))
    assert login(ksef_simulator.base_url, source)
