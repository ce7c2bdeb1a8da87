"""Rate limits as KSeF publishes them: per operation, from the ``x-rate-limits`` of the spec.

Every operation of the shipped ``open-api.json`` (API 2.9.0) states its limits
(``x-rate-limits``: ``perSecond``, ``perMinute``, ``perHour``) and, in the table of its 429
response, the group ``GET /rate-limits`` reports them under (``-`` for the anonymous group).
KSeF counts each operation separately, in sliding windows of the last second, minute and hour,
all enforced at once. Operations of the anonymous group (challenge, ksef-token,
xades-signature, status, redeem, refresh, public keys) are counted per client IP, every other
operation per (context, IP).

A rejected request is not counted. KSeF's block length grows with repeated violations; the
simulator answers with the exact time until the oldest counted request leaves the exceeded
window instead.
"""

from __future__ import annotations

import math
import re
import threading
from collections import deque
from collections.abc import Hashable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from ksef_auth_simulator.errors import TooManyRequests
from ksef_auth_simulator.openapi import spec

#: ``x-rate-limits`` key -> (window in seconds, Polish unit for the 429 message)
WINDOWS: dict[str, tuple[float, str]] = {
    "perSecond": (1.0, "na sekundę"),
    "perMinute": (60.0, "na minutę"),
    "perHour": (3600.0, "na godzinę"),
}
WINDOWS_UNIT: dict[float, str] = {window: unit for window, unit in WINDOWS.values()}
ANONYMOUS = "anonymous"
#: groups ``GET /rate-limits`` reports that no operation names in its 429 table: ``global``
#: (75/s per IP over all calls, reserved and switched off in KSeF, so not enforced here)
UNLISTED_GROUPS: dict[str, dict[str, int]] = {
    "global": {"perSecond": 75, "perMinute": -1, "perHour": -1},
}
#: operations the simulator serves beyond KSeF (the HMAC extension): public, 60/s per IP
SIMULATOR_ONLY: dict[str, tuple[tuple[float, int], ...]] = {
    "POST /hmac/challenge": ((1.0, 60),),
    "POST /hmac/session": ((1.0, 60),),
}
_GROUP_ROW = re.compile(r"^\|\s*\*\*Limity liczby żądań\*\*\s*\|(?P<cells>.*)$", re.MULTILINE)


@dataclass(frozen=True)
class OperationLimit:
    """One operation's published limits: ``windows`` are (seconds, requests) pairs."""

    operation: str
    group: str
    windows: tuple[tuple[float, int], ...]

    @property
    def per_context(self) -> bool:
        """Counted per (context, IP); the anonymous group is counted per IP."""
        return self.group != ANONYMOUS

    def values(self) -> dict[str, int]:
        """``{"perSecond", "perMinute", "perHour"}`` (-1 where no limit is published)."""
        by_window = dict(self.windows)
        return {name: by_window.get(window, -1) for name, (window, _) in WINDOWS.items()}


def _group(operation: dict[str, Any]) -> str:
    description = operation.get("responses", {}).get("429", {}).get("description", "")
    row = _GROUP_ROW.search(description)
    cells = [c.strip() for c in row.group("cells").split("|")] if row else []
    group = cells[3] if len(cells) > 3 else ""
    return ANONYMOUS if group in ("", "-") else group


@cache
def published_limits() -> Mapping[str, OperationLimit]:
    """Operation (``"GET /auth/{referenceNumber}"``) -> its limits, for every operation of the
    shipped spec that publishes ``x-rate-limits``."""
    table: dict[str, OperationLimit] = {}
    for path, operations in spec()["paths"].items():
        for method, operation in operations.items():
            limits = operation.get("x-rate-limits") if isinstance(operation, dict) else None
            if not limits:
                continue
            windows = tuple(
                (WINDOWS[name][0], int(value))
                for name, value in limits.items()
                if name in WINDOWS and int(value) > 0
            )
            name = f"{method.upper()} {path}"
            table[name] = OperationLimit(name, _group(operation), windows)
    for name, windows in SIMULATOR_ONLY.items():
        table.setdefault(name, OperationLimit(name, ANONYMOUS, windows))
    return table


def scaled(limit: int, scale: float) -> int:
    """A published limit multiplied by ``rate_limit_scale`` (never below one request)."""
    return max(1, int(limit * scale))


def group_limits(scale: float = 1.0) -> dict[str, dict[str, int]]:
    """What ``GET /rate-limits`` answers: every group's effective limits (``-1``: none)."""
    groups: dict[str, dict[str, int]] = {}
    for entry in published_limits().values():
        groups.setdefault(entry.group, entry.values())
    for name, values in UNLISTED_GROUPS.items():
        groups.setdefault(name, dict(values))
    return {
        name: {k: (scaled(v, scale) if v > 0 else -1) for k, v in values.items()}
        for name, values in sorted(groups.items())
    }


class RateLimiter:
    """Counts requests per (operation, key) and raises ``TooManyRequests`` past a limit."""

    def __init__(self, scale: float = 1.0, limits: Mapping[str, OperationLimit] | None = None):
        self.scale = scale
        self.limits = dict(published_limits() if limits is None else limits)
        self._windows = {
            name: tuple(
                (window, scaled(limit, scale), WINDOWS_UNIT[window])
                for window, limit in entry.windows
            )
            for name, entry in self.limits.items()
        }
        # per (operation, key): one deque of counted send times per window, oldest first, so a
        # request costs O(1) amortized whatever the limits (scale 1000: 120,000 an hour)
        self._logs: dict[tuple[str, Hashable], tuple[deque[float], ...]] = {}
        self._lock = threading.Lock()

    def reset(self) -> None:
        with self._lock:
            self._logs.clear()

    def limit_of(self, operation: str) -> OperationLimit | None:
        return self.limits.get(operation)

    def hit(self, operation: str, key: Hashable, now: float) -> None:
        """Record one request of ``operation`` for ``key`` (an IP, or a (context, IP) pair), or
        raise ``TooManyRequests`` (with Retry-After) without recording it. Operations without
        published limits are not counted."""
        windows = self._windows.get(operation)
        if not windows:
            return
        with self._lock:
            logs = self._logs.get((operation, key))
            if logs is None:
                logs = self._logs[(operation, key)] = tuple(deque() for _ in windows)
            for log, (window, allowed, unit) in zip(logs, windows, strict=True):
                while log and log[0] <= now - window:
                    log.popleft()
                if len(log) >= allowed:
                    # rejected requests are not counted, so the oldest counted one leaving the
                    # window frees the next slot
                    retry = max(1, math.ceil(log[0] + window - now))
                    raise TooManyRequests(retry, f"{allowed} żądań {unit}")
            for log in logs:
                log.append(now)
