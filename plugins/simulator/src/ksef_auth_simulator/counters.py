"""Observability: how many challenges, logins, refreshes, 429s... per endpoint and per context."""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with getattr(self, "_lock", threading.Lock()):
            self._events: defaultdict[str, int] = defaultdict(int)
            self._endpoints: defaultdict[str, defaultdict[str, int]] = defaultdict(
                lambda: defaultdict(int)
            )
            self._contexts: defaultdict[str, defaultdict[str, int]] = defaultdict(
                lambda: defaultdict(int)
            )

    def event(self, name: str, context: str | None = None) -> None:
        with self._lock:
            self._events[name] += 1
            if context:
                self._contexts[context][name] += 1

    def request(self, endpoint: str, status: int) -> None:
        with self._lock:
            counts = self._endpoints[endpoint]
            counts["calls"] += 1
            counts[str(status)] += 1
            if status == 429:
                self._events["rate_limited"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": dict(self._events),
                "endpoints": {k: dict(v) for k, v in self._endpoints.items()},
                "contexts": {k: dict(v) for k, v in self._contexts.items()},
            }
