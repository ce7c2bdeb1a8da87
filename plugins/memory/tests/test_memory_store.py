from __future__ import annotations

import logging
import threading

import pytest

from ksef_auth.pacing import LocalRateLimiter
from ksef_auth.testing import RateLimiterContract, SessionStoreContract, make_tokens
from ksef_auth_memory import MemoryStore


class TestMemoryStoreContract(SessionStoreContract):
    @pytest.fixture
    def store(self) -> MemoryStore:
        return MemoryStore()


class TestMemoryRateLimiterContract(RateLimiterContract):
    @pytest.fixture
    def limiter(self) -> LocalRateLimiter:
        return MemoryStore().rate_limiter()

    @pytest.fixture
    def other_limiter(self) -> LocalRateLimiter:
        return MemoryStore().rate_limiter()


def test_the_limiter_is_the_process_s_own() -> None:
    store = MemoryStore()
    assert isinstance(store.rate_limiter(), LocalRateLimiter)
    assert store.rate_limiter() is MemoryStore(max_entries=5).rate_limiter()


def test_eviction_is_said_once_a_minute_with_a_count(caplog: pytest.LogCaptureFixture) -> None:
    store = MemoryStore(max_entries=2)
    with caplog.at_level(logging.WARNING, logger="ksef_auth.store.memory"):
        for i in range(2):
            store.put(f"k{i}", make_tokens())
        assert not caplog.records  # full, nothing evicted yet
        for i in range(2, 6):
            store.put(f"k{i}", make_tokens())
    assert len(caplog.records) == 1  # the first eviction says so; the next ones wait a minute
    message = caplog.records[0].getMessage()
    assert "memory session store is full (max_entries = 2): evicted 1" in message
    assert "raise max_entries" in message
    for record in caplog.records:
        assert "access-" not in record.getMessage()


def test_bounded_drops_least_recently_used() -> None:
    store = MemoryStore(max_entries=3)
    for i in range(3):
        store.put(f"k{i}", make_tokens())
    store.get("k0")  # k0 is now the most recently used
    store.put("k3", make_tokens())
    assert store.get("k1") is None
    assert store.get("k0") is not None
    assert len(store) == 3


def test_max_entries_must_be_positive() -> None:
    with pytest.raises(ValueError, match="max_entries must be at least 1"):
        MemoryStore(max_entries=0)


def test_concurrent_threads_never_see_a_torn_or_foreign_entry() -> None:
    store = MemoryStore(max_entries=64)
    errors: list[str] = []

    def worker(n: int) -> None:
        key = f"key-{n % 16}"
        for _ in range(500):
            tokens = make_tokens()
            store.put(key, tokens)
            got = store.get(key)
            if got is None:
                errors.append("vanished")
            elif (
                got.access_token.value.reveal().split("-")[1]
                != (
                    got.refresh_token.value.reveal().split("-")[1]  # type: ignore[union-attr]
                )
            ):
                errors.append("torn")

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(32)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    assert len(store) == 16


def test_registered_through_the_entry_point() -> None:
    from ksef_auth.manager import PluginManager

    registration = PluginManager(only="memory").get("session_store", "memory")
    assert registration.factory is MemoryStore
    assert [o.name for o in registration.options] == ["max_entries"]
