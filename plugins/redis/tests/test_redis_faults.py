"""Faults on real servers: a lock holder killed, Redis paused (SIGSTOP), a master killed in a
Cluster and behind Sentinel, while session managers log in to the simulator over loopback.

Timing bounds here only prove that a wait did not happen (the whole ``lock_timeout``, one
socket timeout per store operation); nothing asserts speed.
"""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from ksef_auth import (
    ContextIdentifier,
    Environment,
    KsefToken,
    RefreshPolicy,
    SecretRef,
    SessionTokens,
    StoreError,
    Strategy,
)
from ksef_auth.breaker import breaker_for
from ksef_auth.manager import PluginManager
from ksef_auth.sealing import generate_key
from ksef_auth_redis import RedisStore
from ksef_auth_redis.testing import RedisCluster, RedisSentinel, require, run_redis_server

pytestmark = pytest.mark.redis

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")

from ksef_auth_token import KsefTokenSigner  # noqa: E402

KEY = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"
NIPS = ["5261040828", "1234563218", "7010002139", "9542751368"]


class Source:
    def __init__(self, token: str) -> None:
        self.token = token

    def load(self, request: object) -> KsefToken:
        return KsefToken(self.token)


def strategy(running: Any, nip: str, store: RedisStore, **policy: Any) -> Strategy:
    return Strategy(
        name=f"fault-{nip}",
        environment=Environment.of(running.base_url),
        context=ContextIdentifier.nip(nip),
        credential=Source(running.sim.issue_ksef_token(nip)),
        signer=KsefTokenSigner(),
        store=store,
        refresh=RefreshPolicy(**policy),
        manager=PluginManager(autoload=False),
    )


def logins(running: Any, nip: str) -> int:
    return int(running.sim.counters()["contexts"].get(nip, {}).get("logins_completed", 0))


# --- a lock holder that dies --------------------------------------------------------------------


def test_a_dead_lock_holder_frees_the_lock_within_its_ttl(
    any_redis: Any, store_for: Callable[..., RedisStore], tmp_path: Path
) -> None:
    """Issue 12 item 6: a holder killed mid-login blocked everyone for the whole lock_timeout.
    Now its lock lives lock_ttl (1 s here) unless extended, and only a live holder extends."""
    store = store_for(any_redis, lock_ttl=1, lock_timeout=120)
    ready = tmp_path / "ready"
    code = f"""
        import pathlib, time
        from ksef_auth import SecretRef
        from ksef_auth_redis import RedisStore
        store = RedisStore(url={any_redis.url!r}, key=SecretRef.value({generate_key()!r}),
                           prefix={store.prefix!r}, lock_ttl=1, lock_timeout=120)
        with store.lock({KEY!r}, timeout=5) as held:
            assert held
            time.sleep(2.5)   # extended meanwhile: still held
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(600)
        """
    holder = subprocess.Popen([sys.executable, "-c", textwrap.dedent(code)])
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert holder.poll() is None and time.monotonic() < deadline
            time.sleep(0.02)
        with store.lock(KEY, timeout=0) as held:
            assert held is False  # a live holder keeps it past its 1 s TTL
        holder.kill()
        holder.wait(timeout=10)
        killed = time.monotonic()
        with store.lock(KEY, timeout=60) as held:
            assert held is True
            assert time.monotonic() - killed < 30  # within the TTL, not the 120 s lock_timeout
    finally:
        if holder.poll() is None:
            holder.kill()
            holder.wait()


# --- a hung Redis -------------------------------------------------------------------------------


def test_a_paused_redis_costs_a_renewal_one_socket_timeout(
    make_ksef_simulator: Callable[..., Any], caplog: pytest.LogCaptureFixture, fault_seconds: float
) -> None:
    """Issue 12 item 6: a SIGSTOPped Redis made one token() call take 40 s (a 5 s timeout on
    each store operation, and retries). Now the first operation's timeout trips the store's
    breaker: the renewal skips the store from there on, and so does the next."""
    running = make_ksef_simulator()
    timeout = 1.0
    with run_redis_server(require()) as server:
        store = RedisStore(
            url=server.url, key=SecretRef.value(generate_key()), socket_timeout=timeout
        )
        one = strategy(running, NIPS[0], store, store_backoff=30)
        two = strategy(running, NIPS[1], store, store_backoff=30)
        one.token()
        started = time.monotonic()
        one.session.refresh()
        healthy = time.monotonic() - started  # a renewal with Redis answering

        server.pause()
        try:
            with caplog.at_level(logging.WARNING):
                started = time.monotonic()
                one.session.refresh()
                first = time.monotonic() - started
                started = time.monotonic()
                two.token()  # another context's first login, same store: skipped at once
                second = time.monotonic() - started
            remaining = fault_seconds - (time.monotonic() - started)
            if remaining > 0:
                time.sleep(remaining)
        finally:
            server.resume()
    assert first < healthy + 2 * timeout, "more than one socket timeout in one renewal"
    assert second < timeout, "the breaker did not skip the paused store"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len([w for w in warnings if "failed" in w]) == 1, warnings
    assert "no answer within 1 s" in warnings[0] and "skipping it for 30 s" in warnings[0]
    assert logins(running, NIPS[0]) == 1 and logins(running, NIPS[1]) == 1


def test_after_a_pause_the_store_is_used_again(
    make_ksef_simulator: Callable[..., Any], caplog: pytest.LogCaptureFixture
) -> None:
    running = make_ksef_simulator()
    with run_redis_server(require()) as server:
        store = RedisStore(url=server.url, key=SecretRef.value(generate_key()), socket_timeout=1)
        one = strategy(running, NIPS[2], store, store_backoff=0.5)
        one.token()
        server.pause()
        try:
            one.session.refresh()  # times out once, then goes on without the store
        finally:
            server.resume()
        time.sleep(0.6)
        with caplog.at_level(logging.INFO, logger="ksef_auth.session"):
            fresh = one.session.refresh()
        assert "answers again" in caplog.text
        key = one.session.key_for(fresh.credential_fingerprint)
        stored = store.get(key)
        assert stored is not None and stored.access_token == fresh.access_token


# --- a master killed: Cluster failover, Sentinel failover ---------------------------------------
#
# Short versions (CI, plugin(redis)): one renewal meets the dead master, the deployment fails
# over (waited for with a deadline, however long a busy machine takes), and the first renewal
# after store_backoff uses the store again, on the new master. The long versions (callers in
# threads through the whole failover) run in nox -s redis_fleet.

FLEET = pytest.mark.skipif(
    os.environ.get("KSEF_AUTH_REDIS_FLEET") != "1",
    reason="a long failover scenario: runs in nox -s redis_fleet (KSEF_AUTH_REDIS_FLEET=1)",
)


def wait_until(condition: Callable[[], bool], within: float, what: str) -> None:
    deadline = time.monotonic() + within
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not within {within} s"
        time.sleep(0.05)


def stored(store: RedisStore, chosen: Strategy) -> SessionTokens | None:
    current = chosen.session.current()
    assert current is not None
    return store.get(chosen.session.key_for(current.credential_fingerprint))


@pytest.mark.slow
@pytest.mark.parametrize("kind", ["cluster", "sentinel"])
def test_after_a_failover_the_store_is_used_again_on_the_new_master(
    kind: str,
    request: pytest.FixtureRequest,
    make_ksef_simulator: Callable[..., Any],
    store_for: Callable[..., RedisStore],
) -> None:
    """What the fleet guide promises: a renewal that meets the dead master goes on without the
    store; once the deployment has failed over, the first renewal after store_backoff uses the
    store again, on the new master, at its first try. (Before, on a cluster, it went to the dead
    master once more, because redis-py had learnt the slots while the cluster still named it,
    and tripped the breaker again.)"""
    deployment = request.getfixturevalue(f"fresh_{kind}")
    running = make_ksef_simulator()
    store = store_for(deployment, socket_timeout=1)
    chosen = strategy(running, NIPS[3], store, store_backoff=0.5)
    chosen.token()
    breaker = breaker_for(store)
    if kind == "cluster":  # the master that holds this session (and its lock)
        current = chosen.session.current()
        assert current is not None
        name = store._session_key(chosen.session.key_for(current.credential_fingerprint))
        victim = store.client().get_node_from_key(name).port
    else:
        victim = deployment.master_port

    deployment.kill(victim)
    before = chosen.session.current()
    fresh = chosen.session.refresh()  # meets the dead master: goes on without the store
    assert before is not None and fresh.access_token != before.access_token
    assert breaker.down

    if kind == "cluster":
        deployment.wait_ok()  # every slot on a live master, as every node sees it
        assert victim not in deployment.masters()
    else:
        assert deployment.wait_failover(victim) != victim
    wait_until(lambda: not breaker.skipping(), 30, "the breaker's store_backoff")

    renewed = chosen.session.refresh()
    assert not breaker.down, "the first renewal after the failover did not reach the store"
    found = stored(store, chosen)
    assert found is not None and found.access_token == renewed.access_token
    assert logins(running, NIPS[3]) == 1  # refreshed throughout, never logged in again


def run_callers(
    strategies: list[Strategy], seconds: float, fault: Callable[[], None], at: float
) -> list[BaseException]:
    """Threads calling token() on every strategy until ``seconds`` pass; ``fault`` at ``at``."""
    errors: list[BaseException] = []
    stop = threading.Event()

    def call(chosen: Strategy) -> None:
        while not stop.is_set():
            try:
                assert chosen.token()
            except BaseException as exc:  # every caller error counts
                errors.append(exc)
            time.sleep(0.01)

    threads = [threading.Thread(target=call, args=(s,)) for s in strategies for _ in range(4)]
    for thread in threads:
        thread.start()
    try:
        time.sleep(at)
        fault()
        time.sleep(max(0.0, seconds - at))
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    return errors


def stored_again(store: RedisStore, strategies: list[Strategy], within: float = 60) -> bool:
    """Whether every strategy's current session reaches the store within ``within`` seconds
    (a deadline: the breaker may still be skipping the store, and a slot map learnt while the
    failover was going on may send one more operation to the dead node)."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        done = True
        for each in strategies:
            current = each.session.refresh()
            try:
                found = stored(store, each)
            except StoreError:
                found = None
            done = done and found is not None and found.access_token == current.access_token
        if done:
            return True
        time.sleep(0.5)
    return False


@FLEET
@pytest.mark.slow
def test_a_cluster_master_killed_mid_run(
    fresh_cluster: RedisCluster,
    make_ksef_simulator: Callable[..., Any],
    store_for: Callable[..., RedisStore],
) -> None:
    running = make_ksef_simulator(access_token_ttl=2.0001)
    store = store_for(fresh_cluster, socket_timeout=1)
    strategies = [strategy(running, nip, store, store_backoff=1) for nip in NIPS]
    for each in strategies:
        each.token()
    victim = fresh_cluster.masters()[0]
    errors = run_callers(strategies, 8.0, lambda: fresh_cluster.kill(victim), at=2.0)
    assert errors == []
    fresh_cluster.wait_ok()  # the failover, however long it took
    assert victim not in fresh_cluster.masters()
    assert stored_again(store, strategies)
    assert not breaker_for(store).down
    for nip in NIPS:
        assert logins(running, nip) == 1  # refreshed throughout, never logged in again


@FLEET
@pytest.mark.slow
def test_a_sentinel_master_killed_mid_run(
    fresh_sentinel: RedisSentinel,
    make_ksef_simulator: Callable[..., Any],
    store_for: Callable[..., RedisStore],
) -> None:
    running = make_ksef_simulator(access_token_ttl=2.0001)
    store = store_for(fresh_sentinel, socket_timeout=1)
    strategies = [strategy(running, nip, store, store_backoff=1) for nip in NIPS]
    for each in strategies:
        each.token()
    old = fresh_sentinel.master_port
    errors = run_callers(strategies, 8.0, lambda: fresh_sentinel.kill(old), at=2.0)
    assert errors == []
    new = fresh_sentinel.wait_failover(old)
    assert new != old
    assert stored_again(store, strategies)
    assert not breaker_for(store).down
    for nip in NIPS:
        assert logins(running, nip) == 1
