"""Sliding-window rate limits as KSeF publishes them (last 1 s, 60 s and 60 min at once).

Public endpoints are counted per client IP, protected ones per (context, IP). A rejected request
is not counted. KSeF's block length also grows with repeated violations; the simulator answers
with the exact time until the oldest counted request leaves the exceeded window instead.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Hashable

from ksef_auth_simulator.errors import TooManyRequests

#: group -> ((window seconds, limit, Polish unit for the message), ...)
LIMITS: dict[str, tuple[tuple[float, int, str], ...]] = {
    "auth": ((1.0, 60, "na sekundę"),),
    "other": ((1.0, 10, "na sekundę"), (60.0, 30, "na minutę"), (3600.0, 120, "na godzinę")),
}


class RateLimiter:
    """Counts requests per (group, key) and raises ``TooManyRequests`` when over a limit."""

    def __init__(self, scale: float = 1.0) -> None:
        self.scale = scale
        self._log: dict[tuple[str, Hashable], deque[float]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._log.clear()

    def hit(self, group: str, key: Hashable, now: float) -> None:
        """Record one request, or raise ``TooManyRequests`` (with Retry-After) without recording."""
        windows = LIMITS[group]
        longest = max(window for window, _, _ in windows)
        with self._lock:
            log = self._log.setdefault((group, key), deque())
            while log and log[0] <= now - longest:
                log.popleft()
            for window, limit, unit in windows:
                allowed = max(1, int(limit * self.scale))
                start = now - window
                count = 0
                oldest = now
                for stamp in reversed(log):
                    if stamp <= start:
                        break
                    count += 1
                    oldest = stamp
                if count >= allowed:
                    retry = max(1, math.ceil(oldest + window - now))
                    raise TooManyRequests(retry, f"{allowed} żądań {unit}")
            log.append(now)
