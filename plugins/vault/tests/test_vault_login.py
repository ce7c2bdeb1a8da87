"""End to end: a strategy whose token comes from the vault logs in to the simulator."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import ksef_auth
from ksef_auth import ConfigError, Secret, SecretRef
from ksef_auth.sealing import generate_key
from ksef_auth_vault import Vault

pytest.importorskip("ksef_auth_token")
pytest.importorskip("ksef_auth_memory")
pytest.importorskip("ksef_auth_simulator")

NIP = "5261040828"


def config(base_url: str, credential: dict[str, Any]) -> dict[str, Any]:
    return {
        "strategy": {
            "shop": {
                "environment": base_url,
                "context": NIP,
                "credential": credential,
                "signer": "ksef-token",
                "store": "memory",
            }
        }
    }


def test_login_with_a_token_from_the_vault(
    ksef_simulator: Any, vault_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", key)
    Vault(vault_path).set("shop", Secret(token))
    credential = {"use": "vault", "name": "shop", "path": str(vault_path)}
    strategy = ksef_auth.load(config(ksef_simulator.base_url, credential)).strategy("shop")
    assert strategy.token()
    current = strategy.session.current()
    assert current is not None and current.method == "ksef-token"
    assert token not in repr(strategy) and key not in repr(strategy)


def test_key_by_reference_and_a_chain(
    ksef_simulator: Any, vault_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    monkeypatch.setenv("SHOP_VAULT_KEY", key)
    Vault(vault_path, SecretRef.env("SHOP_VAULT_KEY")).set("shop", Secret(token))
    chain = [
        {
            "use": "vault",
            "name": "absent",
            "path": str(vault_path),
            "key": {"env": "SHOP_VAULT_KEY"},
        },
        {"use": "vault", "name": "shop", "path": str(vault_path), "key": {"env": "SHOP_VAULT_KEY"}},
    ]
    assert ksef_auth.load(config(ksef_simulator.base_url, chain)).strategy("shop").token()


def test_a_changed_key_is_reported_when_the_strategy_loads(
    ksef_simulator: Any, vault_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    Vault(vault_path, SecretRef.value(key)).set("shop", Secret(token))
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", generate_key())  # the deployment key changed
    credential = {"use": "vault", "name": "shop", "path": str(vault_path)}
    with pytest.raises(ConfigError) as info:
        ksef_auth.load(config(ksef_simulator.base_url, credential))
    message = str(info.value)
    assert "strategy.shop.credential" in message
    assert "cannot be decrypted with the configured key (was the key changed?)" in message
    assert "ksef-auth vault set shop" in message
    assert token not in message and key not in message


def test_a_relative_path_is_taken_from_the_strategy_file(
    ksef_simulator: Any, tmp_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", key)
    Vault(tmp_path / "conf" / "vault.json").set("shop", Secret(token))
    strategy_file = tmp_path / "conf" / "ksef-auth.toml"
    strategy_file.write_text(
        f"""
[strategy.shop]
environment = "{ksef_simulator.base_url}"
context = "{NIP}"
credential = {{ use = "vault", name = "shop", path = "vault.json" }}
signer = "ksef-token"
store = "memory"
"""
    )
    assert ksef_auth.load(strategy_file).strategy("shop").token()
