"""A plugin's tests against the simulator: log in, ask the simulator who the token speaks for,
count what reached it. (The documentation's tests run this file with pytest.)"""

from __future__ import annotations

import pytest

import ksef_auth
from ksef_auth_simulator import FaultRule

NIP = "5261040828"


@pytest.fixture
def strategy(ksef_simulator, monkeypatch):
    """A strategy logging in to the simulator with a KSeF token from a variable: replace the
    credential with your source (or the signer with yours, the store with yours)."""
    monkeypatch.setenv("MY_KSEF_TOKEN", ksef_simulator.sim.issue_ksef_token(NIP))
    config = ksef_auth.load(
        {
            "strategy": {
                "mine": {
                    "environment": ksef_simulator.base_url,
                    "context": NIP,
                    "credential": {"use": "env", "var": "MY_KSEF_TOKEN"},
                    "signer": "ksef-token",
                    "store": "memory",
                }
            }
        }
    )
    return config.strategy("mine")


def test_logs_in_for_its_context(strategy, ksef_simulator):
    who = ksef_simulator.sim.whoami(strategy.token())
    assert who["context"] == {"type": "Nip", "value": NIP}
    assert who["authenticationMethod"] == "Token"
    mine = ksef_simulator.sim.counters(context=NIP)
    assert mine["events"]["logins_completed"] == 1


def test_reuses_the_session(strategy, ksef_simulator):
    assert strategy.token() == strategy.token()
    assert ksef_simulator.sim.counters()["events"]["logins_started"] == 1


def test_survives_a_transient_503(strategy, ksef_simulator):
    ksef_simulator.sim.add_fault(FaultRule(endpoint="POST /auth/challenge", status=503, times=1))
    strategy.token()
    counts = ksef_simulator.sim.counters()["endpoints"]["POST /auth/challenge"]
    assert counts == {"calls": 2, "503": 1, "200": 1}


def test_a_token_of_another_context_is_refused(make_ksef_simulator, monkeypatch):
    """make_ksef_simulator(**SimulatorConfig fields): another simulator, other settings."""
    other = make_ksef_simulator(auth_delay=0.0)
    token = other.sim.issue_ksef_token("5265877635")  # KSeF's format names the context
    monkeypatch.setenv("MY_KSEF_TOKEN", token)
    strategy = ksef_auth.load(
        {
            "strategy": {
                "mine": {
                    "environment": other.base_url,
                    "context": NIP,
                    "credential": {"use": "env", "var": "MY_KSEF_TOKEN"},
                    "signer": "ksef-token",
                    "store": "memory",
                }
            }
        }
    ).strategy("mine")
    with pytest.raises(ksef_auth.KsefAuthError):
        strategy.token()
    assert "logins_completed" not in other.sim.counters()["events"]
