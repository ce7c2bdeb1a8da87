"""Keeping under KSeF's rate limits: the published limits, a rate limiter contract, a pacer.

KSeF counts requests per operation in sliding windows (the last second, minute and hour) and
answers 429 with ``Retry-After`` past a limit; public operations are counted per client IP,
protected ones per (context, IP). :data:`KSEF_RATE_LIMITS` is the table of API 2.9.0
(``x-rate-limits`` of each operation); :func:`operation_of` names the operation of a request.

A :class:`RateLimiter` hands out *send times*: :meth:`RateLimiter.reserve` books one request
under every window of a key and says how long to wait before sending it. Every process that
shares a limiter shares the budget: :class:`LocalRateLimiter` is this process's; a session
store that leaves the process may offer a shared one (``store.rate_limiter()``: the redis store's
is one atomic script, so 40 workers behind one IP stay under 60 requests/s together).

:class:`Pacer` is what the engine uses: ``pacer.wait(operation, context)`` before a request,
``pacer.penalize(operation, context, retry_after)`` after a 429.
"""

from __future__ import annotations

import re
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import attrs

if TYPE_CHECKING:
    from ksef_auth.model import ContextIdentifier

__all__ = [
    "KSEF_RATE_LIMITS",
    "LocalRateLimiter",
    "OperationLimits",
    "Pacer",
    "Rate",
    "RateLimiter",
    "operation_of",
    "pacer_for",
]


@attrs.frozen
class Rate:
    """At most ``limit`` requests in any window of ``per`` seconds."""

    limit: int
    per: float

    def __attrs_post_init__(self) -> None:
        if self.limit < 1 or not self.per > 0:
            raise ValueError(f"a rate needs limit >= 1 and per > 0, got {self.limit}/{self.per}")


@attrs.frozen
class OperationLimits:
    """One operation's published limits; ``per_context`` when KSeF counts per (context, IP)."""

    rates: tuple[Rate, ...]
    per_context: bool


_AUTH = OperationLimits((Rate(60, 1.0),), per_context=False)
_PROTECTED = OperationLimits((Rate(10, 1.0), Rate(30, 60.0), Rate(120, 3600.0)), per_context=True)

#: operation ("METHOD /path/{param}") -> its limits, as API 2.9.0 publishes them
KSEF_RATE_LIMITS: dict[str, OperationLimits] = {
    "POST /auth/challenge": _AUTH,
    "POST /auth/ksef-token": _AUTH,
    "POST /auth/xades-signature": _AUTH,
    "GET /auth/{referenceNumber}": _AUTH,
    "POST /auth/token/redeem": _AUTH,
    "POST /auth/token/refresh": _AUTH,
    "GET /security/public-key-certificates": _AUTH,
    "GET /auth/sessions": _PROTECTED,
    "DELETE /auth/sessions/current": _PROTECTED,
    "DELETE /auth/sessions/{referenceNumber}": _PROTECTED,
    "POST /tokens": _PROTECTED,
    "GET /tokens": _PROTECTED,
    "GET /tokens/{referenceNumber}": _PROTECTED,
    "DELETE /tokens/{referenceNumber}": _PROTECTED,
    "GET /rate-limits": _PROTECTED,
    "GET /certificates/limits": _PROTECTED,
    "GET /certificates/enrollments/data": _PROTECTED,
    "POST /certificates/enrollments": _PROTECTED,
    "GET /certificates/enrollments/{referenceNumber}": _PROTECTED,
    "POST /certificates/retrieve": _PROTECTED,
    "POST /certificates/query": _PROTECTED,
    "POST /certificates/{certificateSerialNumber}/revoke": _PROTECTED,
}

_TEMPLATES: list[tuple[str, re.Pattern[str], str]] = []
for _operation in KSEF_RATE_LIMITS:
    _method, _path = _operation.split(" ", 1)
    _pattern = re.escape(_path)
    _pattern = re.sub(r"\\\{[A-Za-z]+\\\}", r"[^/]+", _pattern)
    _TEMPLATES.append((_method, re.compile(f"^{_pattern}$"), _operation))
# literal paths win over templates (/auth/sessions over /auth/{referenceNumber})
_TEMPLATES.sort(key=lambda item: "{" in item[2])


def operation_of(method: str, path: str) -> str | None:
    """The published operation a request belongs to (``"GET /auth/{referenceNumber}"``), or
    None when KSeF publishes no limit for it. ``path`` is relative to the API base (``/v2``)."""
    path = path.split("?", 1)[0].rstrip("/") or "/"
    method = method.upper()
    for wanted, pattern, operation in _TEMPLATES:
        if wanted == method and pattern.match(path):
            return operation
    return None


@runtime_checkable
class RateLimiter(Protocol):
    """Books requests under sliding-window limits, for everyone who shares this limiter."""

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        """Book one request for ``key`` under every one of ``rates``: the seconds to wait before
        sending it (0.0: now). None, with nothing booked, when the wait would exceed
        ``max_wait``. Bookings are first come, first served."""
        ...

    def penalize(self, key: str, seconds: float) -> None:
        """Nobody sends for ``key`` in the next ``seconds`` (KSeF answered 429 with
        ``Retry-After``): later reservations wait at least until then."""
        ...


class LocalRateLimiter:
    """A :class:`RateLimiter` for this process: a log of booked send times per key.

    ``margin`` (seconds) widens every window a little, so requests that leave on time and
    arrive with network jitter still fit KSeF's windows.
    """

    def __init__(self, *, margin: float = 0.02, clock: Callable[[], float] = time.monotonic):
        self.margin = margin
        self._clock = clock
        self._booked: dict[str, deque[float]] = {}
        self._blocked: dict[str, float] = {}
        self._lock = threading.Lock()

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        with self._lock:
            now = self._clock()
            booked = self._booked.setdefault(key, deque())
            longest = max((r.per for r in rates), default=0.0) + self.margin
            while booked and booked[0] <= now - longest:
                booked.popleft()
            send = max(now, booked[-1] if booked else now, self._blocked.get(key, now))
            for rate in rates:
                if len(booked) >= rate.limit:
                    send = max(send, booked[-rate.limit] + rate.per + self.margin)
            wait = send - now
            if wait > max_wait:
                return None
            booked.append(send)
            return wait

    def penalize(self, key: str, seconds: float) -> None:
        with self._lock:
            until = self._clock() + max(0.0, seconds)
            self._blocked[key] = max(self._blocked.get(key, 0.0), until)

    def __repr__(self) -> str:
        return f"LocalRateLimiter(keys={len(self._booked)})"


class Pacer:
    """Waits before each request as KSeF's limits require, on a shared :class:`RateLimiter`.

    ``scale`` multiplies every published limit (a simulator started with
    ``--rate-limit-scale``; a TEST environment with custom limits); ``share`` is the fraction of
    the budget this pacer's users may spend (leave headroom for other traffic from the IP).
    """

    def __init__(
        self,
        limiter: RateLimiter | None = None,
        *,
        scale: float = 1.0,
        share: float = 1.0,
        limits: dict[str, OperationLimits] | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not scale > 0 or not 0 < share <= 1:
            raise ValueError("scale must be > 0 and share in (0, 1]")
        self.limiter = limiter if limiter is not None else LocalRateLimiter()
        self.limits = limits if limits is not None else KSEF_RATE_LIMITS
        self._sleep = sleep
        self._rates: dict[str, tuple[Rate, ...]] = {
            operation: tuple(
                Rate(max(1, int(rate.limit * scale * share)), rate.per) for rate in entry.rates
            )
            for operation, entry in self.limits.items()
        }

    def key(self, operation: str, context: ContextIdentifier | None, base: str = "") -> str:
        entry = self.limits[operation]
        scope = f"|{context}" if entry.per_context and context is not None else ""
        return f"{base}|{operation}{scope}"

    def wait(
        self,
        operation: str | None,
        context: ContextIdentifier | None = None,
        *,
        base: str = "",
        max_wait: float = float("inf"),
    ) -> float:
        """Sleep until ``operation`` may be sent; the seconds slept. Raises ``TimeoutError``
        when the wait would exceed ``max_wait`` (nothing is booked then)."""
        if operation is None or operation not in self._rates:
            return 0.0
        key = self.key(operation, context, base)
        wait = self.limiter.reserve(key, self._rates[operation], max_wait)
        if wait is None:
            raise TimeoutError(f"{operation}: the rate limit leaves no slot within {max_wait:g} s")
        if wait > 0:
            self._sleep(wait)
        return wait

    def penalize(
        self,
        operation: str | None,
        context: ContextIdentifier | None,
        seconds: float,
        *,
        base: str = "",
    ) -> None:
        """KSeF answered 429 for ``operation``: hold everyone back ``seconds``."""
        if operation is not None and operation in self._rates:
            self.limiter.penalize(self.key(operation, context, base), seconds)


_local_pacer: Pacer | None = None
_local_lock = threading.Lock()


def pacer_for(store: object) -> Pacer:
    """The pacer of the sessions kept in ``store``: over the store's own ``rate_limiter()`` when
    it offers one (everyone sharing the store shares KSeF's limits), otherwise one pacer for the
    whole process (KSeF counts per IP, and this process is one of the IP's clients)."""
    global _local_pacer
    factory = getattr(store, "rate_limiter", None)
    if factory is not None:
        return Pacer(factory())
    with _local_lock:
        if _local_pacer is None:
            _local_pacer = Pacer()
        return _local_pacer
