"""The session manager over a failing store: the breaker, the lock-failure policy.

The store here is a memory store whose operations a test can make fail, as a hung Redis does
(each operation waits, then raises ``StoreError``), so what is counted is how many operations the
manager still sends to a failing store. The same behaviours against real redis-servers (killed,
SIGSTOPped) are in plugins/redis/tests.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

from ksef_auth import RefreshPolicy, SessionTokens, StoreError
from ksef_auth.breaker import StoreBreaker, breaker_for
from ksef_auth_memory import MemoryStore
from ksef_auth_simulator import RunningSimulator

from .test_flow_support import context_counts, make_strategy, new_nip, simulator_fixtures

_shared_sim, _sim = simulator_fixtures()


class FlakyStore:
    """A memory store that fails on demand: ``down`` makes every operation raise StoreError
    after ``hang`` seconds; ``lock_down`` only the lock; ``release_down`` only its release."""

    def __init__(self, hang: float = 0.0) -> None:
        self.inner = MemoryStore()
        self.hang = hang
        self.down = False
        self.lock_down = False
        self.release_down = False
        self.calls: list[str] = []
        self._guard = threading.Lock()

    def _op(self, name: str) -> None:
        with self._guard:
            self.calls.append(name)
        if self.down:
            time.sleep(self.hang)
            raise StoreError(f"Redis at 127.0.0.1:1 is unreachable (no answer to {name})")

    def get(self, key: str) -> SessionTokens | None:
        self._op("get")
        return self.inner.get(key)

    def put(self, key: str, tokens: SessionTokens) -> None:
        self._op("put")
        self.inner.put(key, tokens)

    def delete(self, key: str) -> None:
        self._op("delete")
        self.inner.delete(key)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        self._op("lock")
        if self.lock_down:
            raise StoreError("the lock script failed")
        with self.inner.lock(key, timeout) as held:
            yield held
            if self.release_down:
                raise StoreError("could not release the lock")

    def __repr__(self) -> str:
        return "FlakyStore()"


def test_a_hung_store_costs_one_operation_per_renewal_and_one_warning(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore(hang=0.2)
    store.down = True
    policy = RefreshPolicy(store_backoff=30)
    one = make_strategy(sim, store=store, policy=policy)
    two = make_strategy(sim, store=store, policy=policy)  # another context, the same store
    with caplog.at_level(logging.DEBUG, logger="ksef_auth.session"):
        assert one.token()
        assert two.token()
    # the first renewal tried one operation and tripped the breaker; the rest skipped the store
    assert store.calls == ["get"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, [r.getMessage() for r in warnings]
    message = warnings[0].getMessage()
    assert "session store FlakyStore() failed: Redis at 127.0.0.1:1 is unreachable" in message
    assert "skipping it for 30 s" in message
    assert context_counts(sim, one.context.value)["logins_completed"] == 1
    assert context_counts(sim, two.context.value)["logins_completed"] == 1


def test_after_the_backoff_the_store_is_tried_again_and_the_outage_ends(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    store = FlakyStore()
    store.down = True
    strategy = make_strategy(sim, store=store, policy=RefreshPolicy(store_backoff=0.3))
    strategy.token()
    assert store.calls == ["get"]
    store.down = False
    time.sleep(0.35)
    with caplog.at_level(logging.INFO, logger="ksef_auth.session"):
        strategy.session.refresh()
    assert "answers again after" in caplog.text
    assert store.calls[1:] == ["get", "lock", "get", "put", "put"]  # the session, then latest
    assert not breaker_for(store).down


def test_a_failing_lock_proceeds_by_default(sim: RunningSimulator) -> None:
    store = FlakyStore()
    store.lock_down = True
    strategy = make_strategy(sim, store=store)
    assert strategy.token()
    assert context_counts(sim, strategy.context.value)["logins_completed"] == 1


def test_a_failing_lock_fails_closed_when_asked(sim: RunningSimulator) -> None:
    store = FlakyStore()
    store.lock_down = True
    strategy = make_strategy(sim, store=store, policy=RefreshPolicy(lock_failure="fail"))
    with pytest.raises(StoreError) as info:
        strategy.token()
    assert "cannot take the session store's lock (the lock script failed)" in str(info.value)
    assert 'refresh.lock_failure = "fail"' in str(info.value)
    assert context_counts(sim, strategy.context.value).get("challenges", 0) == 0
    # while the breaker skips the store, the lock is not even asked for, and still refused
    store.lock_down = False
    with pytest.raises(StoreError, match="it failed a moment ago and is skipped"):
        strategy.token()
    assert store.calls.count("lock") == 1


def test_a_lock_whose_release_fails_does_not_reach_the_caller(sim: RunningSimulator) -> None:
    store = FlakyStore()
    store.release_down = True
    strategy = make_strategy(sim, store=store)
    assert strategy.token()
    assert breaker_for(store).skipping()


def test_lock_failure_is_validated() -> None:
    with pytest.raises(ValueError, match="lock_failure"):
        RefreshPolicy(lock_failure="maybe")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="store_backoff"):
        RefreshPolicy(store_backoff=0)


def test_one_breaker_per_store_object() -> None:
    a, b = FlakyStore(), FlakyStore()
    assert breaker_for(a) is breaker_for(a)
    assert breaker_for(a) is not breaker_for(b)
    breaker = breaker_for(a)
    breaker.failed(StoreError("x"), 60)
    assert breaker_for(a).skipping() and not breaker_for(b).skipping()
    assert "skipping" in repr(breaker)


def test_a_failure_reported_without_a_pause_keeps_the_managers_store_backoff(
    sim: RunningSimulator,
) -> None:
    """A store's own helper (the redis store's rate limiter) reports its failures without a
    pause: the store is then skipped for the refresh.store_backoff of the managers using it."""
    store = FlakyStore()
    breaker = breaker_for(store)
    assert breaker.pause == 10  # nobody has said otherwise yet: store_backoff's default
    assert make_strategy(sim, store=store, policy=RefreshPolicy(store_backoff=0.3)).session
    assert breaker.pause == 0.3
    breaker.failed(StoreError("the rate-limit script failed"))
    assert breaker.skipping()
    time.sleep(0.35)
    assert not breaker.skipping()


def test_a_store_without_weak_references_gets_a_breaker_anyway() -> None:
    class Slotted:
        __slots__ = ()

    assert isinstance(breaker_for(Slotted()), StoreBreaker)


def test_a_strategy_file_sets_the_policy() -> None:
    from ksef_auth.config import load

    config = load(
        {
            "strategy": {
                "s": {
                    "environment": "http://127.0.0.1:1/v2",
                    "context": new_nip(),
                    "credential": {"use": "env", "var": "NOT_SET_ANYWHERE"},
                    "signer": "ksef-token",
                    "refresh": {"store_backoff": 5, "lock_failure": "fail"},
                }
            }
        },
        check=False,
    )
    refresh = config.strategy().refresh
    assert (refresh.store_backoff, refresh.lock_failure) == (5, "fail")
