"""Fault injection: rules that make chosen endpoints misbehave on purpose.

A rule matches an endpoint (``"POST /auth/token/refresh"``, a template such as
``"GET /auth/{referenceNumber}"``, a shell pattern such as ``"GET /auth/*"``, or ``"*"``) and
fires on matching calls from the ``nth`` one on (1-based; default: the first), at most ``times``
times (default: unlimited), each time with ``probability`` (default: always; ``seed`` makes it
reproducible). When it fires it does, in this order: wait ``delay`` seconds; drop the connection
(``drop``); answer ``status`` (429 with ``Retry-After: retry_after``, 500, 503...); or let the
request through while marking the authentication operation it starts or reads as ``stuck``
(status 100 forever) or forced to end with ``auth_status`` (e.g. 550, 460).

What a broken middlebox does: ``body`` answers ``status`` (default 200) with a body that is not
KSeF's (``"html"``: a captive portal's page, ``"garbage"``, ``"empty"``, ``"{}"``) without
handling the request; ``drop_after`` handles the request and then drops the connection instead
of answering (the client cannot know it was processed); ``warning`` adds an
``X-System-Warning`` header to the answer.
"""

from __future__ import annotations

import fnmatch
import random
import threading
from dataclasses import asdict, dataclass, field, fields
from typing import Any

#: bodies a ``body`` rule answers with: (content type, content)
BODIES: dict[str, tuple[str, bytes]] = {
    "html": (
        "text/html; charset=utf-8",
        b"<!DOCTYPE html><html><head><title>Wi-Fi login</title></head>"
        b"<body><form action='/login'>Accept the terms to continue</form></body></html>",
    ),
    "garbage": ("application/json", b"\x89\x00\xffnot json at all{{"),
    "empty": ("application/json", b""),
    "{}": ("application/json", b"{}"),
}


@dataclass
class FaultRule:
    endpoint: str = "*"
    status: int | None = None
    retry_after: int | None = None
    nth: int | None = None
    times: int | None = None
    probability: float | None = None
    seed: int | None = None
    delay: float | None = None
    drop: bool = False
    stuck: bool = False
    auth_status: int | None = None
    body: str | None = None
    drop_after: bool = False
    warning: str | None = None
    calls: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    def __post_init__(self) -> None:
        if self.body is not None:
            if self.body not in BODIES:
                raise ValueError(f"body must be one of {sorted(BODIES)}")
            if self.status is not None and not 200 <= int(self.status) <= 599:
                raise ValueError("status must be an HTTP status (200-599)")
        elif self.status is not None and not 400 <= int(self.status) <= 599:
            raise ValueError("status must be an HTTP error code (400-599)")
        if self.probability is not None and not 0.0 <= self.probability <= 1.0:
            raise ValueError("probability must be within 0..1")
        if self.nth is not None and self.nth < 1:
            raise ValueError("nth is 1-based")
        self._random = random.Random(self.seed)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> FaultRule:
        known = {f.name for f in fields(cls)} - {"calls", "fired"}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown fault rule fields: {sorted(unknown)}")
        return cls(**data)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def matches(self, method: str, path: str, template: str) -> bool:
        if self.endpoint.strip() == "*":
            return True
        want_method, _, want_path = self.endpoint.strip().partition(" ")
        if not want_path:
            want_method, want_path = "*", want_method
        if want_method not in ("*", method.upper()):
            return False
        if want_path.startswith("/v2/"):
            want_path = want_path[3:]
        return want_path in (path, template) or fnmatch.fnmatchcase(path, want_path)

    def should_fire(self) -> bool:
        """Count one matching call and decide whether the rule fires on it."""
        self.calls += 1
        if self.nth is not None and self.calls < self.nth:
            return False
        if self.times is not None and self.fired >= self.times:
            return False
        if self.probability is not None and self._random.random() >= self.probability:
            return False
        self.fired += 1
        return True


@dataclass
class FaultAction:
    """What the fired rules ask for on one request (merged, first rule wins per field)."""

    delay: float = 0.0
    drop: bool = False
    status: int | None = None
    retry_after: int | None = None
    stuck: bool = False
    auth_status: int | None = None
    body: str | None = None
    drop_after: bool = False
    warning: str | None = None


class FaultSet:
    """The active rules, thread-safe."""

    def __init__(self) -> None:
        self._rules: list[FaultRule] = []
        self._lock = threading.Lock()

    def add(self, rule: FaultRule) -> FaultRule:
        with self._lock:
            self._rules.append(rule)
        return rule

    def clear(self) -> None:
        with self._lock:
            self._rules.clear()

    def __bool__(self) -> bool:
        return bool(self._rules)

    def rules(self) -> list[FaultRule]:
        with self._lock:
            return list(self._rules)

    def decide(self, method: str, path: str, template: str) -> FaultAction | None:
        """Run every matching rule's counters; return the merged action if any fired."""
        action: FaultAction | None = None
        with self._lock:
            for rule in self._rules:
                if not rule.matches(method, path, template) or not rule.should_fire():
                    continue
                action = action or FaultAction()
                action.delay += rule.delay or 0.0
                action.drop = action.drop or rule.drop
                if action.body is None and rule.body is not None:
                    action.body = rule.body
                    action.status = rule.status
                elif action.status is None and rule.status is not None:
                    action.status = rule.status
                    action.retry_after = rule.retry_after
                action.drop_after = action.drop_after or rule.drop_after
                action.warning = action.warning or rule.warning
                action.stuck = action.stuck or rule.stuck
                if action.auth_status is None:
                    action.auth_status = rule.auth_status
        return action
