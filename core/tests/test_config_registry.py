"""One session manager per (strategy, context) across ``config.strategy`` calls (issue 16.2):
the manager checks its components once, keeps its near cache and its rejection memory."""

from __future__ import annotations

import types
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest

from ksef_auth import AuthenticationFailed, CredentialRejected, Register, SessionTokens, hookimpl
from ksef_auth.config import load
from ksef_auth.manager import PluginManager
from ksef_auth.nip import example_nips
from ksef_auth_simulator import RunningSimulator

from .test_flow_support import EndpointDelta, context_counts, simulator_fixtures

_shared_sim, _sim = simulator_fixtures()


class CountingStore:
    """A dict store that counts its checks and reads (to see what a repeat call costs)."""

    instances: list[CountingStore] = []

    def __init__(self) -> None:
        self.data: dict[str, SessionTokens] = {}
        self.checks = 0
        self.reads = 0
        CountingStore.instances.append(self)

    def check(self, environment: object, context: object) -> None:
        self.checks += 1

    def get(self, key: str) -> SessionTokens | None:
        self.reads += 1
        return self.data.get(key)

    def put(self, key: str, tokens: SessionTokens) -> None:
        self.data[key] = tokens

    def delete(self, key: str) -> None:
        self.data.pop(key, None)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        yield True


@pytest.fixture
def plugins() -> PluginManager:
    plugin = types.ModuleType("counting")

    @hookimpl
    def ksef_auth_register_session_stores(register: Register) -> None:
        register("counting", CountingStore, options=())

    plugin.ksef_auth_register_session_stores = ksef_auth_register_session_stores  # type: ignore[attr-defined]
    pm = PluginManager(only="env,token")
    pm.register(plugin, name="counting")
    CountingStore.instances.clear()
    return pm


def firm(sim: RunningSimulator, plugins: PluginManager, nips: list[str]) -> Any:
    return load(
        {
            "strategy": {
                "firm": {
                    "environment": sim.base_url,
                    "contexts": nips,
                    "credential": {"use": "env", "var": "KSEF_TOKEN_{nip}"},
                    "signer": "ksef-token",
                    "store": "counting",
                }
            }
        },
        manager=plugins,
        check=False,
    )


def test_one_manager_per_strategy_and_context_across_calls(
    sim: RunningSimulator, plugins: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    nips = example_nips(5, start=1000)
    for nip in nips:
        monkeypatch.setenv(f"KSEF_TOKEN_{nip}", sim.sim.issue_ksef_token(nip))
    config = firm(sim, plugins, nips)
    [store] = CountingStore.instances
    tokens = {nip: config.strategy("firm", context=nip).token() for nip in nips}
    checks, reads = store.checks, store.reads
    assert checks == 1  # the store, shared by every context, is checked once
    for _ in range(3):
        for nip in nips:
            strategy = config.strategy("firm", context=nip)
            assert strategy.session is config.strategy("firm", context=nip).session
            assert strategy.token() == tokens[nip]
    assert (store.checks, store.reads) == (checks, reads)  # from the near cache: no store call
    for nip in nips:
        assert context_counts(sim, nip)["logins_completed"] == 1


def test_fail_fast_survives_config_strategy_calls(
    sim: RunningSimulator, plugins: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    [nip] = example_nips(1, start=2000)
    token = sim.sim.issue_ksef_token(nip)
    sim.sim.revoke_ksef_token(token)
    monkeypatch.setenv(f"KSEF_TOKEN_{nip}", token)
    config = firm(sim, plugins, [nip])
    delta = EndpointDelta(sim)
    with pytest.raises(AuthenticationFailed) as first:
        config.strategy("firm", context=nip).token()
    assert first.value.code == 450
    for _ in range(3):
        with pytest.raises(CredentialRejected):
            config.strategy("firm", context=nip).token()
    assert delta("POST /auth/ksef-token") == 1  # one submission, then refused locally
    assert delta("POST /auth/challenge") == 1
