"""ksef-auth-memory: a session store in this process's memory.

Thread-safe, bounded (least recently used entries go first, with a warning: an evicted session
costs a login when it is next needed), and entries disappear when their last token has expired.
Sessions are shared by every strategy of the process that uses the same store, not across
processes: for that, use a shared store (Redis, an encrypted file). ``rate_limiter()`` is this
process's :class:`~ksef_auth.pacing.LocalRateLimiter`, one for every memory store (KSeF counts
per client IP, and the process is one client).
"""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager
from typing import ClassVar

import attrs

from ksef_auth import Register, SessionTokens, hookimpl
from ksef_auth.pacing import LocalRateLimiter

__all__ = ["MemoryStore"]

log = logging.getLogger("ksef_auth.store.memory")

_WARN_EVERY = 60.0  # seconds between eviction warnings of one store
_PROCESS_LIMITER = LocalRateLimiter()


def _expiry(tokens: SessionTokens) -> float:
    last = tokens.refresh_token or tokens.access_token
    return max(last.valid_until.timestamp(), tokens.access_token.valid_until.timestamp())


def _at_least_one(instance: object, attribute: attrs.Attribute[int], value: int) -> None:
    if value < 1:
        raise ValueError(f"max_entries must be at least 1, got {value}")


@attrs.define
class MemoryStore:
    """Sessions in this process's memory: thread-safe, bounded, expiring with their tokens."""

    leaves_process: ClassVar[bool] = False

    max_entries: int = attrs.field(
        default=10_000,
        validator=_at_least_one,
        metadata={"help": "Most sessions kept; the least recently used go first."},
    )
    _entries: OrderedDict[str, tuple[float, SessionTokens]] = attrs.field(
        init=False, factory=OrderedDict, repr=False
    )
    _mutex: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _locks: dict[str, threading.Lock] = attrs.field(init=False, factory=dict, repr=False)
    _evicted: int = attrs.field(init=False, default=0, repr=False)
    _warned_at: float | None = attrs.field(init=False, default=None, repr=False)

    def get(self, key: str) -> SessionTokens | None:
        with self._mutex:
            entry = self._entries.get(key)
            if entry is None:
                return None
            if entry[0] <= time.time():
                del self._entries[key]
                return None
            self._entries.move_to_end(key)
            return entry[1]

    def put(self, key: str, tokens: SessionTokens) -> None:
        with self._mutex:
            self._entries[key] = (_expiry(tokens), tokens)
            self._entries.move_to_end(key)
            if len(self._entries) <= self.max_entries:
                return
            while len(self._entries) > self.max_entries:
                self._entries.popitem(last=False)
                self._evicted += 1
            now = time.monotonic()
            if self._warned_at is not None and now - self._warned_at < _WARN_EVERY:
                return
            self._warned_at, evicted, self._evicted = now, self._evicted, 0
        log.warning(
            "memory session store is full (max_entries = %d): evicted %d least recently used"
            " session(s), each costs a new login when next needed; raise max_entries or use a"
            " shared store",
            self.max_entries,
            evicted,
        )

    def delete(self, key: str) -> None:
        with self._mutex:
            self._entries.pop(key, None)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        """A per-key lock shared by every user of this store in this process."""
        with self._mutex:
            lock = self._locks.setdefault(key, threading.Lock())
        acquired = lock.acquire(timeout=timeout)
        try:
            yield acquired
        finally:
            if acquired:
                lock.release()

    def rate_limiter(self) -> LocalRateLimiter:
        """This process's rate limiter, shared by every memory store (not by other processes)."""
        return _PROCESS_LIMITER

    def __len__(self) -> int:
        with self._mutex:
            return len(self._entries)


@hookimpl
def ksef_auth_register_session_stores(register: Register) -> None:
    register("memory", MemoryStore)
