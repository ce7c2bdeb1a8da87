"""End to end: a strategy with a paas -> aws-secrets-manager chain logs in to the KSeF simulator,
the token coming from moto's Secrets Manager because no platform variable is set."""

from __future__ import annotations

import json
from collections.abc import Callable

import pytest
from cloud_support import Moto

import ksef_auth
from ksef_auth import CredentialChainError, KsefToken
from ksef_auth.manager import PluginManager

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")
pytest.importorskip("ksef_auth_memory")

from ksef_auth_simulator import RunningSimulator  # noqa: E402

NIP = "5261040828"


@pytest.fixture
def no_platform_variables(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "KSEFPL_API_TOKEN",
        "KSEF2_TOKEN",
        "PLATFORM_VARIABLES",
        "MAGENTO_CLOUD_VARIABLES",
    ):
        monkeypatch.delenv(name, raising=False)


def shop_strategy(base_url: str, secret_id: str, endpoint_url: str) -> ksef_auth.Strategy:
    """The README's recipe (without its env fallback), loaded from a dict through the installed
    entry points: cloud, token and memory."""
    config = ksef_auth.load(
        {
            "strategy": {
                "shop": {
                    "environment": base_url,
                    "context": {"nip": NIP},
                    "credential": [
                        {"use": "paas"},
                        {
                            "use": "aws-secrets-manager",
                            "secret_id": secret_id,
                            "json_key": "ksef_token",
                            "endpoint_url": endpoint_url,
                        },
                    ],
                    "signer": "ksef-token",
                    "store": "memory",
                }
            }
        },
        manager=PluginManager(),
    )
    return config.strategy("shop")


def test_chain_moves_past_paas_and_logs_in_with_the_token_from_secrets_manager(
    aws_env: None,
    moto: Moto,
    unique: Callable[[str], str],
    ksef_simulator: RunningSimulator,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in (
        "KSEFPL_API_TOKEN",
        "KSEF2_TOKEN",
        "PLATFORM_VARIABLES",
        "MAGENTO_CLOUD_VARIABLES",
    ):
        monkeypatch.delenv(name, raising=False)
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    secret_id = unique("shop/ksef")
    moto.client("secretsmanager").create_secret(
        Name=secret_id, SecretString=json.dumps({"ksef_token": token, "nip": NIP})
    )
    strategy = shop_strategy(ksef_simulator.base_url, secret_id, moto.url)
    before = ksef_simulator.sim.counters()

    assert strategy.token()

    current = strategy.session.current()
    assert current is not None and current.method == "ksef-token"
    assert current.credential_fingerprint == KsefToken(token).fingerprint
    events = ksef_simulator.sim.counters()["events"]
    assert events.get("logins_completed", 0) - before["events"].get("logins_completed", 0) == 1
    assert not events.get("logins_failed")
    with strategy.client() as client:
        assert client.get("/auth/sessions").status_code == 200
    assert token not in repr(strategy) and token not in repr(strategy.credential)


def test_when_no_source_has_a_token_the_report_names_each(
    aws_env: None,
    moto: Moto,
    unique: Callable[[str], str],
    ksef_simulator: RunningSimulator,
    no_platform_variables: None,
) -> None:
    secret_id = unique("shop/absent")
    strategy = shop_strategy(ksef_simulator.base_url, secret_id, moto.url)
    with pytest.raises(CredentialChainError) as info:
        strategy.token()
    report = str(info.value)
    assert "paas: not available: KSEFPL_API_TOKEN and KSEF2_TOKEN not set" in report
    assert f"aws-secrets-manager: not available: AWS Secrets Manager: secret {secret_id}" in report
    assert not ksef_simulator.sim.counters()["events"].get("logins_started")
