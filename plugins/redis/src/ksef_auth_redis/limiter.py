"""``RedisRateLimiter``: KSeF's rate limits shared by every process that shares the Redis.

The semantics of :class:`ksef_auth.pacing.LocalRateLimiter` (a sliding log of booked send times
per key, every window kept, first come first served, ``penalize``), in one Lua script that runs
atomically on the server with the server's clock (``TIME``), so 40 workers on 5 machines book
from one budget and agree on time. A key's log (a sorted set of send times) and its hold (until
when nobody sends) share a hash tag, hence a cluster slot; they expire on their own once their
longest window has passed. Key names are an HMAC of the limit key under the store's encryption
key (plain SHA-256 with ``encrypt = false``), so they reveal no NIP.

A limiter never fails a login: while Redis fails (the store's breaker, shared with the session
manager, is open) it books in this process's :class:`~ksef_auth.pacing.LocalRateLimiter`.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import math
import uuid
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ksef_auth import StoreError
from ksef_auth.breaker import breaker_for
from ksef_auth.pacing import LocalRateLimiter, Rate

if TYPE_CHECKING:
    from ksef_auth_redis.store import RedisStore

__all__ = ["SCRIPT", "RedisRateLimiter"]

log = logging.getLogger("ksef_auth.store.redis")

SCRIPT = """
-- KEYS[1]: the log (sorted set of booked send times); KEYS[2]: the hold (no send before it)
-- reserve:  ARGV = 'reserve', margin, max_wait, member, limit1, per1, limit2, per2, ...
-- penalize: ARGV = 'penalize', seconds
if redis.replicate_commands then pcall(redis.replicate_commands) end
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
if ARGV[1] == 'penalize' then
  local seconds = tonumber(ARGV[2])
  local held = tonumber(redis.call('GET', KEYS[2]) or '0')
  if now + seconds > held then
    redis.call('SET', KEYS[2], string.format('%.6f', now + seconds),
               'PX', math.ceil(seconds * 1000) + 1000)
  end
  return '0'
end
local margin = tonumber(ARGV[2])
local max_wait = tonumber(ARGV[3])
local longest = 0
for i = 5, #ARGV, 2 do
  local per = tonumber(ARGV[i + 1])
  if per > longest then longest = per end
end
longest = longest + margin
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now - longest)
local send = now
local last = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if last[2] then send = math.max(send, tonumber(last[2])) end
local held = redis.call('GET', KEYS[2])
if held then send = math.max(send, tonumber(held)) end
local count = redis.call('ZCARD', KEYS[1])
for i = 5, #ARGV, 2 do
  local limit = tonumber(ARGV[i])
  if count >= limit then
    local booked = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
    send = math.max(send, tonumber(booked[2]) + tonumber(ARGV[i + 1]) + margin)
  end
end
local wait = send - now
if wait > max_wait then return false end
redis.call('ZADD', KEYS[1], send, ARGV[4])
redis.call('PEXPIRE', KEYS[1], math.ceil((wait + longest) * 1000) + 1000)
return string.format('%.6f', wait)
"""


class RedisRateLimiter:
    """A :class:`~ksef_auth.pacing.RateLimiter` for everyone sharing ``store``'s Redis."""

    def __init__(self, store: RedisStore, *, margin: float = 0.02) -> None:
        self.store = store
        self.margin = margin
        self._fallback = LocalRateLimiter(margin=margin)
        self._script: Any = None

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        if not rates:
            return 0.0
        limit_wait = max_wait if math.isfinite(max_wait) else 1e18
        args: list[Any] = ["reserve", self.margin, max(0.0, limit_wait), uuid.uuid4().hex]
        for rate in rates:
            args += [rate.limit, rate.per]
        try:
            answer = self._run(key, args)
        except StoreError:
            return self._fallback.reserve(key, rates, max_wait)
        return None if answer is None else float(answer)

    def penalize(self, key: str, seconds: float) -> None:
        self._fallback.penalize(key, seconds)
        try:
            self._run(key, ["penalize", max(0.0, seconds)])
        except StoreError:
            pass

    def keys_for(self, key: str) -> tuple[str, str]:
        """The Redis keys of a limit key: its log and its hold (one hash tag)."""
        ring = self.store.key_ring() if self.store.encrypt else None
        if ring is not None:
            secret = hashlib.sha256(b"ksef-auth rate-limit names\x00" + ring.keys[0]).digest()
            tag = hmac.new(secret, key.encode("utf-8"), hashlib.sha256).hexdigest()[:32]
        else:
            tag = hashlib.sha256(key.encode("utf-8")).hexdigest()[:32]
        base = f"{self.store.prefix}rate:{{{tag}}}"
        return base, base + ":hold"

    def _run(self, key: str, args: list[Any]) -> Any:
        breaker = breaker_for(self.store)
        if breaker.skipping():
            raise StoreError("skipped")
        try:
            with self.store.errors("book a request in"):
                client = self.store.client()
                if self._script is None:
                    self._script = client.register_script(SCRIPT)
                answer = self._script(keys=list(self.keys_for(key)), args=args, client=client)
        except StoreError as exc:
            breaker.failed(exc)  # skipped as long as the session managers' store_backoff
            raise
        breaker.succeeded()
        return answer.decode() if isinstance(answer, bytes) else answer

    def __repr__(self) -> str:
        return f"RedisRateLimiter({self.store!r})"
