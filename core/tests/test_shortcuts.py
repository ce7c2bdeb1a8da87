"""The one-liners: ``ksef_auth.strategy(...)`` and ``ksef_auth.strategy_from_env()``."""

from __future__ import annotations

from pathlib import Path

import pytest

import ksef_auth
from ksef_auth import ConfigError, SecretRef
from ksef_auth.profiles import Profile, ProfileStore
from ksef_auth.shortcuts import credential_table, environment_table
from ksef_auth_simulator import RunningSimulator

NIP = "5261040828"


def test_strategy_with_a_token_logs_in(
    ksef_simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHOP_TOKEN", ksef_simulator.sim.issue_ksef_token(NIP))
    strategy = ksef_auth.strategy(
        env=ksef_simulator.base_url, nip="526-104-08-28", token=SecretRef.env("SHOP_TOKEN")
    )
    assert isinstance(strategy, ksef_auth.Strategy)
    assert strategy.context.value == NIP and strategy.signer.method == "ksef-token"
    token = strategy.token()
    assert strategy.token() == token


def test_strategy_from_env_reads_the_ksef2_variables(
    ksef_simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KSEF2_PROFILE", raising=False)
    monkeypatch.setenv("KSEF2_ENV", ksef_simulator.base_url)
    monkeypatch.setenv("KSEF2_NIP", NIP)
    monkeypatch.setenv("KSEF2_TOKEN", ksef_simulator.sim.issue_ksef_token(NIP))
    strategy = ksef_auth.strategy_from_env()
    assert strategy.name == "env"
    assert strategy.token().startswith("eyJ")


def test_strategy_from_env_prefers_a_named_profile(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "profiles.toml"
    ProfileStore(path).save("shop", Profile.token("demo", NIP, store="memory"))
    monkeypatch.setenv("KSEF2_TOKEN", "x|y|z")
    strategy = ksef_auth.strategy_from_env(
        {"KSEF2_PROFILE": "shop", "KSEF2_CONFIG": str(path), "KSEF2_NIP": "1234563218"}
    )
    assert strategy.name == "shop" and strategy.environment.name == "demo"
    assert strategy.context.value == NIP


def test_certificates_and_test_certificates_make_tables() -> None:
    p12, signer = credential_table(certificate="seal.p12", password=SecretRef.env("P12_PASS"))
    assert signer == "xades"
    assert p12 == {"use": "pkcs12", "path": "seal.p12", "password": {"env": "P12_PASS"}}
    pem, _ = credential_table(
        certificate="cert.pem", key="key.pem", password=SecretRef.file("/run/secrets/pw")
    )
    assert pem == {
        "use": "pem",
        "certificate": "cert.pem",
        "key": "key.pem",
        "password": {"file": "/run/secrets/pw"},
    }
    assert credential_table(test_certificate=True) == ({"use": "test-certificate"}, "xades")


def test_mistakes_are_config_errors_that_never_hold_the_secret() -> None:
    secret = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|abc"
    with pytest.raises(ConfigError, match="never the token itself") as info:
        ksef_auth.strategy(env="test", nip=NIP, token=secret)  # type: ignore[arg-type]
    assert secret not in str(info.value)
    with pytest.raises(ConfigError, match="exactly one of"):
        ksef_auth.strategy(env="test", nip=NIP)
    with pytest.raises(ConfigError, match="never the secret itself"):
        credential_table(certificate="a.p12", password="hunter2")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="KSEF2_NIP is not set"):
        environment_table({})
    with pytest.raises(ConfigError, match="no credential is"):
        environment_table({"KSEF2_NIP": NIP})
    with pytest.raises(ConfigError, match="KSEF2_KEY_PATH"):
        environment_table({"KSEF2_NIP": NIP, "KSEF2_CERT_PATH": "c.pem"})


def test_environment_table_conventions() -> None:
    table = environment_table({"KSEF2_NIP": NIP, "KSEF2_TOKEN": "x"})
    assert table["environment"] == "test"  # the default, as in ksef2's own examples
    assert table["credential"] == {"use": "env", "var": "KSEF2_TOKEN"}
    p12 = environment_table(
        {"KSEF2_NIP": NIP, "KSEF2_ENV": "production", "KSEF2_P12_PATH": "/s.p12",
         "KSEF2_P12_PASSWORD": "pw"}
    )  # fmt: skip
    assert p12["environment"] == "production"
    assert p12["credential"] == {
        "use": "pkcs12",
        "path": "/s.p12",
        "password": {"env": "KSEF2_P12_PASSWORD"},
    }


def test_the_same_arguments_give_the_same_strategy_and_one_login(
    ksef_simulator: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A request handler calling the one-liner each time logs in once, not per request."""
    monkeypatch.setenv("SHOP_TOKEN", ksef_simulator.sim.issue_ksef_token(NIP))

    def handler() -> str:
        return ksef_auth.strategy(
            env=ksef_simulator.base_url, nip=NIP, token=SecretRef.env("SHOP_TOKEN")
        ).token()

    before = ksef_simulator.sim.counters()["events"].get("logins_completed", 0)
    tokens = {handler() for _ in range(3)}
    assert len(tokens) == 1
    assert ksef_simulator.sim.counters()["events"]["logins_completed"] == before + 1
    other = ksef_auth.strategy(env=ksef_simulator.base_url, nip="5265877635",
                               token=SecretRef.env("SHOP_TOKEN"), check=False)  # fmt: skip
    assert other is not ksef_auth.strategy(
        env=ksef_simulator.base_url, nip=NIP, token=SecretRef.env("SHOP_TOKEN")
    )
