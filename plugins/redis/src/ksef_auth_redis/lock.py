"""The holder's side of the Redis lock: short TTLs, extended while the work goes on.

A lock is ``SET NX PX lock_ttl`` (redis-py's ``Lock``): it lives ``lock_ttl`` seconds (10 by
default) unless its holder extends it. While this process holds locks, one daemon thread
re-arms each of them every ``lock_ttl / 3`` seconds (``Lock.reacquire``, a script that checks
the token first), for at most ``lock_timeout`` seconds per lock. So a holder that dies, is
killed or hangs frees the lock within ``lock_ttl``, while a slow login keeps it.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

__all__ = ["LockKeeper"]

log = logging.getLogger("ksef_auth.store.redis")


class LockKeeper:
    """Extends every lock handed to :meth:`hold` until :meth:`drop` (or ``max_hold`` passes)."""

    def __init__(self, ttl: float, max_hold: float) -> None:
        self.ttl = ttl
        self.max_hold = max_hold
        self._held: dict[int, tuple[Any, float, str]] = {}
        self._mutex = threading.Lock()
        self._thread: threading.Thread | None = None

    def hold(self, lock: Any, name: str) -> None:
        with self._mutex:
            self._held[id(lock)] = (lock, time.monotonic() + self.max_hold, name)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ksef-auth-redis-locks", daemon=True
                )
                self._thread.start()

    def drop(self, lock: Any) -> None:
        with self._mutex:
            self._held.pop(id(lock), None)

    def holding(self) -> int:
        """How many locks are being extended now."""
        return len(self._held)

    def _run(self) -> None:
        while True:
            time.sleep(self.ttl / 3)
            with self._mutex:
                if not self._held:
                    self._thread = None
                    return
                held = list(self._held.items())
            for ident, (lock, until, name) in held:
                try:
                    self._extend(ident, lock, until, name)
                except Exception as exc:  # this thread must outlive any one failure
                    log.debug("could not extend the lock %s: %s", name, type(exc).__name__)

    def _extend(self, ident: int, lock: Any, until: float, name: str) -> None:
        from redis.exceptions import LockError, LockNotOwnedError, RedisClusterException, RedisError

        if time.monotonic() >= until:
            self._forget(ident, lock)
            log.warning(
                "the lock %s has been held for %g s (lock_timeout) and is no longer extended; it"
                " expires within %g s",
                name,
                self.max_hold,
                self.ttl,
            )
            return
        try:
            lock.reacquire()
        except LockNotOwnedError:
            self._forget(ident, lock)
            log.warning(
                "the lock %s expired before it was extended (this process was paused or Redis"
                " did not answer for %g s, lock_ttl); another process may be renewing too",
                name,
                self.ttl,
            )
        except LockError:
            self._forget(ident, lock)  # released meanwhile
        except (RedisError, RedisClusterException, OSError) as exc:
            # the store is failing (on a cluster, redis-py may say so with a
            # RedisClusterException, which is no RedisError): the lock runs out on its own
            log.debug("could not extend the lock %s: %s", name, type(exc).__name__)

    def _forget(self, ident: int, lock: Any) -> None:
        with self._mutex:
            if ident in self._held and self._held[ident][0] is lock:
                del self._held[ident]
