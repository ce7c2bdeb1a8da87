"""When to ask KSeF whether a login is verified (``GET /auth/{referenceNumber}``).

KSeF verifies a submitted proof asynchronously; until it is done the status is 100. Polling
early costs requests (KSeF allows 60 status checks per second per IP, shared by every login from
that IP) and polling late costs time. So the first poll goes where verification *usually ends*:

* :class:`VerificationTimes` remembers, per environment and login method, how long the recent
  logins took from the submission's answer to the status 200 (the latest :data:`KEEP`).
* :class:`PollSchedule` sends the first poll at :data:`PROBE` x the median of those (a little
  early, so that the estimate follows KSeF when it gets faster), or after ``first_delay`` when
  one is configured, or after ``interval`` before anything was learned. After a status 100 it
  waits ``interval``, then 1.5 times longer each time, up to ``interval_max``: gently, so a
  login that takes seconds makes a handful of polls, not dozens.

Nothing is shared between processes: each learns from its own logins within a few of them.
"""

from __future__ import annotations

import statistics
import threading
from collections import deque

__all__ = ["GROWTH", "KEEP", "PROBE", "PollSchedule", "VerificationTimes", "verification_times"]

#: logins remembered per (environment, method)
KEEP = 16
#: the first poll goes at this fraction of the typical verification time
PROBE = 0.9
#: each wait after a status 100 is this much longer than the previous one
GROWTH = 1.5


class VerificationTimes:
    """Recent verification times (seconds from the submission's answer to status 200) per
    ``(base URL, method)``. Thread-safe."""

    def __init__(self, keep: int = KEEP) -> None:
        self._keep = keep
        self._times: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def note(self, base_url: str, method: str, seconds: float) -> None:
        """A login to ``base_url`` with ``method`` was verified ``seconds`` after submission."""
        with self._lock:
            times = self._times.setdefault((base_url, method), deque(maxlen=self._keep))
            times.append(max(0.0, seconds))

    def typical(self, base_url: str, method: str) -> float | None:
        """The median of the recent verification times, or None before the first login."""
        with self._lock:
            times = self._times.get((base_url, method))
            return statistics.median(times) if times else None

    def clear(self) -> None:
        with self._lock:
            self._times.clear()


#: the process's memory of verification times (what every login flow learns from)
verification_times = VerificationTimes()


class PollSchedule:
    """The waits before each status poll of one login: ``next(schedule)`` gives the next one.

    ``first_delay`` None means learned (see the module's docs)."""

    def __init__(
        self,
        *,
        typical: float | None,
        first_delay: float | None,
        interval: float,
        interval_max: float,
    ) -> None:
        if first_delay is not None:
            self._first = first_delay
        elif typical is not None:
            self._first = PROBE * typical
        else:
            self._first = interval
        self._interval = interval
        self._max = max(interval_max, interval)
        self._polls = 0

    def __iter__(self) -> PollSchedule:
        return self

    def __next__(self) -> float:
        self._polls += 1
        if self._polls == 1:
            return self._first
        return min(self._interval * GROWTH ** (self._polls - 2), self._max)
