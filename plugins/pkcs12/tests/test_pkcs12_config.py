"""The pkcs12 source built from a strategy file: relative path, password by reference."""

from __future__ import annotations

from pathlib import Path

import pytest
from p12_support import PASSWORD, modern, write

import ksef_auth_pkcs12
from ksef_auth import ConfigError, CredentialRequest, PluginManager
from ksef_auth.config import load
from ksef_auth_pkcs12 import Pkcs12Source

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

xades = pytest.importorskip("ksef_auth_xades")
memory = pytest.importorskip("ksef_auth_memory")


@pytest.fixture
def manager() -> PluginManager:
    manager = PluginManager(autoload=False)
    manager.register(ksef_auth_pkcs12, name="pkcs12")
    manager.register(xades, name="xades")
    manager.register(memory, name="memory")
    return manager


def test_strategy_file(tmp_path: Path, manager, monkeypatch, rsa_key, rsa_cert) -> None:
    monkeypatch.setenv("SEAL_P12_PASSWORD", PASSWORD)
    write(tmp_path, "seal.p12", modern(rsa_key, rsa_cert))
    config = write(
        tmp_path,
        "ksef-auth.toml",
        b"""
[strategy.seal]
environment = "test"
context = { nip = "5265877635" }
credential = { use = "pkcs12", path = "seal.p12", password = { env = "SEAL_P12_PASSWORD" } }
signer = { use = "xades", namespace = "2.1", allowed_ips = ["10.0.0.0/8"] }
store = "memory"
""",
    )
    strategy = load(config, manager=manager).strategy("seal")
    assert isinstance(strategy.credential, Pkcs12Source)
    assert strategy.credential.path == tmp_path / "seal.p12"
    assert strategy.credential.load(REQUEST).certificate == rsa_cert
    assert strategy.signer.allowed_ips == ("10.0.0.0/8",)


def test_inline_password_refused_by_the_loader(tmp_path: Path, manager) -> None:
    data = {
        "strategy": {
            "seal": {
                "environment": "test",
                "context": "5265877635",
                "credential": {"use": "pkcs12", "path": "x.p12", "password": PASSWORD},
                "signer": "xades",
                "store": "memory",
            }
        }
    }
    with pytest.raises(ConfigError, match="never inline"):
        load(data, manager=manager)
