"""Bulk login (ksef_auth.bulk) against the simulator over real HTTP: results per context, reuse
(a second run makes no login), typed errors that stop nobody else, pacing under the published
limits, Retry-After, interruption and resumption, the async twin, sessions and logout."""

from __future__ import annotations

import asyncio
import os
import threading
import types
from collections.abc import Callable, Iterator
from typing import Any

import pytest

import ksef_auth
from ksef_auth import AuthenticationFailed, ConfigError, NotAvailable, Register, hookimpl
from ksef_auth.bulk import BulkResult, alogin_many, login_many, logout_many, sessions_many
from ksef_auth.config import Config
from ksef_auth.manager import PluginManager
from ksef_auth.nip import example_nips
from ksef_auth_memory import MemoryStore
from ksef_auth_simulator import FaultRule, RunningSimulator

from .test_flow_support import simulator_fixtures

_shared_sim, _sim = simulator_fixtures()
_start = iter(range(10_000, 10**6, 500))


class SharedMemory:
    """One MemoryStore for every strategy file loaded in a test (a second run in a second
    Config, as a second process would with a file store)."""

    store = MemoryStore()


@pytest.fixture
def plugins() -> Iterator[PluginManager]:
    plugin = types.ModuleType("shared-memory")

    @hookimpl
    def ksef_auth_register_session_stores(register: Register) -> None:
        register("shared-memory", lambda: SharedMemory.store, options=())

    plugin.ksef_auth_register_session_stores = ksef_auth_register_session_stores  # type: ignore[attr-defined]
    pm = PluginManager(only="env,token")
    pm.register(plugin, name="shared-memory")
    SharedMemory.store = MemoryStore()
    yield pm


@pytest.fixture
def nips() -> Callable[[int], list[str]]:
    """Fresh NIPs for each call (the module's simulator is shared)."""
    return lambda count: example_nips(count, start=next(_start))


def firm(
    sim: RunningSimulator, plugins: PluginManager, contexts: list[Any], **extra: Any
) -> Config:
    return ksef_auth.load(
        {
            "strategy": {
                "firm": {
                    "environment": sim.base_url,
                    "contexts": contexts,
                    "credential": {"use": "env", "var": "KSEF_TOKEN_{nip}"},
                    "signer": "ksef-token",
                    "store": "shared-memory",
                    **extra,
                }
            }
        },
        manager=plugins,
        check=False,
    )


def tokens_for(sim: RunningSimulator, nips: list[str], monkeypatch: pytest.MonkeyPatch) -> None:
    for nip, token in sim.sim.issue_ksef_tokens(nips).items():
        monkeypatch.setenv(f"KSEF_TOKEN_{nip}", token)


def logins(sim: RunningSimulator, nips: list[str]) -> int:
    return sum(sim.sim.counters(context=nip)["events"].get("logins_completed", 0) for nip in nips)


def test_every_context_logs_in_once_and_a_second_run_reuses(
    sim: RunningSimulator,
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = nips(20)
    tokens_for(sim, clients, monkeypatch)
    config = firm(sim, plugins, clients)
    seen: list[BulkResult] = []
    report = login_many(config.strategy("firm"), config.entries("firm"), on_result=seen.append)
    assert report.counts() == {"ok": 20, "reused": 0, "error": 0} and report.ok
    assert [r.context.value for r in report.results] == clients  # type: ignore[union-attr]
    assert sorted(r.context.value for r in seen) == sorted(clients)  # type: ignore[union-attr]
    assert report.results[3].where == "<dict>:strategy.firm.contexts[3]"
    assert logins(sim, clients) == 20
    line = report.results[0].to_json()
    assert line["status"] == "ok" and line["nip"] == clients[0] and line["reference_number"]
    assert not any(str(v).startswith("eyJ") for v in line.values())  # never a token
    # a second run, as another process with the same store would make it: nothing to log in
    again = firm(sim, plugins, clients)
    second = login_many(again.strategy("firm"), again.contexts("firm"))
    assert second.counts() == {"ok": 0, "reused": 20, "error": 0}
    assert logins(sim, clients) == 20
    forced = login_many(again.strategy("firm"), clients[:2], force=True)
    assert forced.counts()["ok"] == 2 and logins(sim, clients) == 22


def test_a_failing_context_is_typed_and_stops_nobody(
    sim: RunningSimulator,
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    good, revoked, unset = nips(3)[0], *nips(2)
    tokens_for(sim, [good, revoked], monkeypatch)
    sim.sim.revoke_ksef_token(os.environ[f"KSEF_TOKEN_{revoked}"])
    config = firm(sim, plugins, [good, revoked, unset, "5261040827"])
    report = login_many(
        config.strategy("firm"), config.entries("firm"), problems=config.context_problems("firm")
    )
    by = {r.context.value if r.context else r.where: r for r in report.results}
    assert by[good].status == "ok"
    assert isinstance(by[revoked].error, AuthenticationFailed) and by[revoked].error.code == 450
    assert by[revoked].to_json()["code"] == 450
    assert isinstance(by[unset].error, NotAvailable)
    bad = by["<dict>:strategy.firm.contexts[3]"]
    assert bad.context is None and isinstance(bad.error, ConfigError)
    assert bad.to_json()["error"] == "ConfigError" and "check digit" in bad.to_json()["message"]
    assert report.counts() == {"ok": 1, "reused": 0, "error": 3} and not report.ok


def test_paced_under_the_published_limits(
    make_ksef_simulator: Callable[..., RunningSimulator],
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    scale = 0.2  # 12 requests/s for each authentication operation
    limited = make_ksef_simulator(rate_limits=True, rate_limit_scale=scale, auth_delay=0.0)
    clients = nips(40)
    tokens_for(limited, clients, monkeypatch)
    config = firm(limited, plugins, clients)
    report = login_many(config.strategy("firm"), config.contexts("firm"), rate_limit_scale=scale)
    assert report.counts()["ok"] == 40
    counters = limited.sim.counters()
    assert counters["events"].get("rate_limited", 0) == 0 and report.rate_limited == 0
    # 40 challenges under 11 per second (12 x 0.95) take more than three seconds: pacing waited
    assert report.seconds > 3.0


def test_retry_after_is_honoured_and_counted(
    sim: RunningSimulator,
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = nips(6)
    tokens_for(sim, clients, monkeypatch)
    sim.sim.add_fault(
        FaultRule(endpoint="POST /auth/challenge", status=429, retry_after=1, times=1)
    )
    config = firm(sim, plugins, clients)
    report = login_many(config.strategy("firm"), config.contexts("firm"), concurrency=3)
    assert report.counts()["ok"] == 6
    assert report.rate_limited == 1
    assert report.seconds >= 1.0  # everyone held back for the Retry-After


def test_an_interrupted_run_resumes(
    sim: RunningSimulator,
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = nips(30)
    tokens_for(sim, clients, monkeypatch)
    config = firm(sim, plugins, clients)
    stop = threading.Event()

    def stop_after_ten(result: BulkResult) -> None:
        if len(done) == 9:
            stop.set()
        done.append(result)

    done: list[BulkResult] = []
    first = login_many(
        config.strategy("firm"),
        config.contexts("firm"),
        concurrency=2,
        on_result=stop_after_ten,
        stop=stop,
    )
    assert first.interrupted and first.not_started > 0
    assert len(first.results) + first.not_started == 30
    assert first.summary()["interrupted"] is True
    second = login_many(config.strategy("firm"), config.contexts("firm"))
    counts = second.counts()
    assert counts == {"ok": first.not_started, "reused": len(first.results), "error": 0}
    assert logins(sim, clients) == 30


async def test_the_async_twin(
    sim: RunningSimulator,
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = nips(8)
    tokens_for(sim, clients, monkeypatch)
    config = firm(sim, plugins, clients)
    loop = asyncio.get_running_loop()
    on_loop: list[bool] = []
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    beat = asyncio.create_task(ticker())
    report = await alogin_many(
        config.strategy("firm"),
        config.contexts("firm"),
        on_result=lambda r: on_loop.append(asyncio.get_running_loop() is loop),
    )
    await asyncio.sleep(0)
    beat.cancel()
    assert report.counts()["ok"] == 8
    assert on_loop == [True] * 8
    assert ticks > 1  # the loop kept running while the logins were made


def test_sessions_and_logout_of_every_context(
    sim: RunningSimulator,
    plugins: PluginManager,
    nips: Callable[[int], list[str]],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    clients = nips(3)
    tokens_for(sim, clients, monkeypatch)
    config = firm(sim, plugins, clients)
    strategy = config.strategy("firm")
    login_many(strategy, clients)
    login_many(strategy, clients[:1], force=True)  # a second session for the first client
    listed = sessions_many(strategy, clients)
    assert listed.counts() == {"ok": 0, "reused": 3, "error": 0}
    assert [len(r.value) for r in listed.results] == [2, 1, 1]
    out = logout_many(strategy, clients)
    assert out.counts()["ok"] == 3
    assert [len(r.value) for r in out.results] == [2, 1, 1]
    for nip in clients:
        events = sim.sim.counters(context=nip)["events"]
        assert events.get("sessions_revoked", 0) == (2 if nip == clients[0] else 1)
