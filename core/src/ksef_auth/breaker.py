"""The session store's circuit breaker: a failing store is skipped for a while, and said so once.

A session store that times out or cannot be reached would otherwise cost every store operation
of every renewal its full socket timeout (a hung Redis: read, lock, read again, write, release,
five timeouts for one ``token()``). The session manager therefore asks the store's breaker
before each operation: after a :class:`~ksef_auth.errors.StoreError` the store is skipped for
``refresh.store_backoff`` seconds (10 by default), so one renewal pays at most one timeout, and
sessions stay in the process meanwhile (see ``refresh.lock_failure`` for the lock). Then the
next operation tries the store again; the first success ends the outage.

One breaker per store object, shared by every session manager using it (the 3,000 contexts of
one strategy trip it once, not 3,000 times). An outage is logged once, as a warning, when it
starts, and once, at info level, when the store answers again.
"""

from __future__ import annotations

import logging
import threading
import time
import weakref
from typing import Any

from ksef_auth.errors import StoreError

__all__ = ["StoreBreaker", "breaker_for"]

log = logging.getLogger("ksef_auth.session")


class StoreBreaker:
    """Open (skipping the store) for a while after a failure; closed again after a success."""

    __slots__ = ("__weakref__", "_down_since", "_lock", "_ref", "_until", "name", "pause")

    def __init__(self, name: str) -> None:
        self.name = name
        self.pause = 10.0
        """Seconds a failure reported without a pause skips the store: the
        ``refresh.store_backoff`` of the session managers using the store (each sets it)."""
        self._until = 0.0  # monotonic time until which the store is skipped
        self._down_since: float | None = None
        self._lock = threading.Lock()
        self._ref: weakref.ref[Any] | None = None

    def skipping(self) -> bool:
        """Whether the store is being skipped now."""
        return time.monotonic() < self._until

    @property
    def down(self) -> bool:
        """Whether the last operation on the store failed (an outage is going on)."""
        return self._down_since is not None

    def failed(self, error: StoreError, pause: float | None = None) -> None:
        """A store operation failed: skip the store for ``pause`` seconds. Without one (a
        store's own helper that knows no refresh policy, such as its rate limiter):
        :attr:`pause`, the session managers' ``refresh.store_backoff``."""
        if pause is None:
            pause = self.pause
        with self._lock:
            now = time.monotonic()
            if now < self._until:
                return  # another caller tripped it meanwhile
            self._until = now + pause
            first = self._down_since is None
            if first:
                self._down_since = now
        if first:
            log.warning(
                "session store %s failed: %s; skipping it for %g s at a time until it answers"
                " (sessions stay in this process meanwhile)",
                self.name,
                error,
                pause,
            )
        else:
            log.debug("session store %s still failing: %s", self.name, error)

    def succeeded(self) -> None:
        """A store operation worked: the outage, if any, is over."""
        if self._down_since is None:
            return
        with self._lock:
            since, self._down_since = self._down_since, None
            self._until = 0.0
        if since is not None:
            log.info(
                "session store %s answers again after %.1f s", self.name, time.monotonic() - since
            )

    def __repr__(self) -> str:
        state = "skipping" if self.skipping() else "down" if self.down else "ok"
        return f"StoreBreaker({self.name}, {state})"


_BREAKERS: dict[int, StoreBreaker] = {}
_REGISTRY_LOCK = threading.Lock()


def breaker_for(store: object) -> StoreBreaker:
    """The breaker of ``store``, shared by everyone who uses that store object.

    A store that cannot be weakly referenced gets a breaker of its own at each call (keep it)."""
    found = _BREAKERS.get(id(store))
    if found is not None and found._ref is not None and found._ref() is store:
        return found
    with _REGISTRY_LOCK:
        found = _BREAKERS.get(id(store))
        if found is not None and found._ref is not None and found._ref() is store:
            return found
        breaker = StoreBreaker(_name(store))
        ident = id(store)
        try:
            breaker._ref = weakref.ref(store, lambda _ref: _BREAKERS.pop(ident, None))
        except TypeError:
            return breaker
        _BREAKERS[ident] = breaker
        return breaker


def _name(store: object) -> str:
    try:
        return repr(store)
    except Exception:  # a repr must never break the session manager
        return type(store).__name__
