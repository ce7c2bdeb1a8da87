"""Logins against the simulator with PKCS#12 files: modern, legacy 3DES, legacy RC2."""

from __future__ import annotations

from pathlib import Path

import pytest
from p12_support import NIP, PASSWORD, legacy_3des, legacy_rc2, modern, write

from ksef_auth import ContextIdentifier, Environment, Strategy
from ksef_auth_memory import MemoryStore
from ksef_auth_pkcs12 import Pkcs12Source

pytest.importorskip("ksef_auth_simulator")
xades = pytest.importorskip("ksef_auth_xades")


@pytest.fixture(autouse=True)
def password_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF2_P12_PASSWORD", PASSWORD)


def login(base_url: str, path: Path) -> str:
    strategy = Strategy(
        name="p12",
        environment=Environment.of(base_url),
        context=ContextIdentifier.nip(NIP),
        credential=Pkcs12Source(path),
        signer=xades.XadesSigner(),
        store=MemoryStore(),
    )
    return strategy.token()


def test_modern(ksef_simulator, tmp_path: Path, rsa_key, rsa_cert) -> None:
    assert login(ksef_simulator.base_url, write(tmp_path, "a.p12", modern(rsa_key, rsa_cert)))


def test_legacy_3des(ksef_simulator, tmp_path: Path, ec_key, ec_cert) -> None:
    path = write(tmp_path, "b.pfx", legacy_3des(ec_key, ec_cert))
    assert login(ksef_simulator.base_url, path)


def test_legacy_rc2(ksef_simulator, tmp_path: Path, rsa_key, rsa_cert) -> None:
    data = legacy_rc2(tmp_path, rsa_key, rsa_cert)
    if data is None:
        pytest.skip("the openssl CLI (with -legacy) is needed to write an RC2 file")
    assert login(ksef_simulator.base_url, write(tmp_path, "c.p12", data))
