"""Observability: how many challenges, logins, refreshes, 429s... per endpoint and per context.

``snapshot()`` is the whole simulator: ``events`` (totals), ``endpoints`` (per operation: calls
and answers by status) and ``contexts`` (each context's events). ``context(value)`` is one
context alone: its events and its own per-operation counts (every request the simulator could
attribute to it: the context of a KSeF-token or XAdES submission, of the bearer token of a
status poll, redeem, refresh or protected call).
"""

from __future__ import annotations

import threading
from collections import defaultdict
from typing import Any


def _nested() -> defaultdict[str, defaultdict[str, int]]:
    return defaultdict(lambda: defaultdict(int))


class Counters:
    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.reset()

    def reset(self) -> None:
        with self._lock:
            self._events: defaultdict[str, int] = defaultdict(int)
            self._endpoints = _nested()
            self._contexts = _nested()
            self._context_endpoints: defaultdict[str, defaultdict[str, defaultdict[str, int]]] = (
                defaultdict(_nested)
            )

    def event(self, name: str, context: str | None = None) -> None:
        with self._lock:
            self._events[name] += 1
            if context:
                self._contexts[context][name] += 1

    def request(self, endpoint: str, status: int, context: str | None = None) -> None:
        with self._lock:
            counts = self._endpoints[endpoint]
            counts["calls"] += 1
            counts[str(status)] += 1
            if status == 429:
                self._events["rate_limited"] += 1
            if context:
                own = self._context_endpoints[context][endpoint]
                own["calls"] += 1
                own[str(status)] += 1
                if status == 429:
                    self._contexts[context]["rate_limited"] += 1

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            return {
                "events": dict(self._events),
                "endpoints": {k: dict(v) for k, v in self._endpoints.items()},
                "contexts": {k: dict(v) for k, v in self._contexts.items()},
            }

    def context(self, value: str) -> dict[str, Any]:
        """``{"context", "events", "endpoints"}`` of one context (zeros when never seen)."""
        with self._lock:
            events = dict(self._contexts.get(value, {}))
            endpoints = {k: dict(v) for k, v in self._context_endpoints.get(value, {}).items()}
        return {"context": value, "events": events, "endpoints": endpoints}
