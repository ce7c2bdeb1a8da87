"""KSeF's published limits, the local rate limiter and the pacer (no wall-clock assertions:
the limiter runs on a fake clock)."""

from __future__ import annotations

import threading

import pytest

from ksef_auth import ContextIdentifier
from ksef_auth.pacing import KSEF_RATE_LIMITS, LocalRateLimiter, Pacer, Rate, operation_of


@pytest.mark.parametrize(
    ("method", "path", "operation"),
    [
        ("POST", "/auth/challenge", "POST /auth/challenge"),
        ("GET", "/auth/20250514-AU-2DFC46C000-3AC6D5877F-D4", "GET /auth/{referenceNumber}"),
        ("GET", "/auth/sessions", "GET /auth/sessions"),
        ("GET", "/auth/sessions?pageSize=10", "GET /auth/sessions"),
        ("DELETE", "/auth/sessions/current", "DELETE /auth/sessions/current"),
        ("DELETE", "/auth/sessions/20250514-AU-X", "DELETE /auth/sessions/{referenceNumber}"),
        ("post", "/auth/token/refresh", "POST /auth/token/refresh"),
        (
            "POST",
            "/certificates/0123AB/revoke",
            "POST /certificates/{certificateSerialNumber}/revoke",
        ),
        ("GET", "/invoices/query", None),
    ],
)
def test_operation_of(method: str, path: str, operation: str | None) -> None:
    assert operation_of(method, path) == operation


def test_published_limits() -> None:
    assert KSEF_RATE_LIMITS["POST /auth/ksef-token"].rates == (Rate(60, 1.0),)
    sessions = KSEF_RATE_LIMITS["GET /auth/sessions"]
    assert sessions.per_context
    assert [(r.limit, r.per) for r in sessions.rates] == [(10, 1.0), (30, 60.0), (120, 3600.0)]


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_sliding_window_is_never_exceeded() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(margin=0.0, clock=clock)
    rates = [Rate(10, 1.0), Rate(30, 60.0)]
    sends = [clock.now + limiter.reserve("k", rates, float("inf")) for _ in range(100)]  # type: ignore[operator]
    assert sends == sorted(sends)
    for i, start in enumerate(sends):
        assert sum(1 for s in sends[i:] if s < start + 1.0) <= 10
        assert sum(1 for s in sends[i:] if s < start + 60.0) <= 30


def test_a_wait_beyond_max_wait_books_nothing() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(margin=0.0, clock=clock)
    for _ in range(2):
        assert limiter.reserve("k", [Rate(2, 1.0)], 0.0) == 0.0
    assert limiter.reserve("k", [Rate(2, 1.0)], 0.5) is None
    assert limiter.reserve("k", [Rate(2, 1.0)], 5.0) == 1.0
    assert limiter.reserve("other", [Rate(2, 1.0)], 0.0) == 0.0  # keys are independent


def test_penalize_holds_everyone_back() -> None:
    clock = Clock()
    limiter = LocalRateLimiter(margin=0.0, clock=clock)
    limiter.penalize("k", 7.0)
    assert limiter.reserve("k", [Rate(60, 1.0)], 60.0) == 7.0


def test_pacer_scales_and_keys_per_context_for_protected_operations() -> None:
    slept: list[float] = []
    clock = Clock()
    pacer = Pacer(LocalRateLimiter(margin=0.0, clock=clock), scale=0.1, sleep=slept.append)
    a, b = ContextIdentifier.nip("5261040828"), ContextIdentifier.nip("1234563218")
    for _ in range(6):  # challenge: 60/s x 0.1 = 6/s, one budget for every context
        pacer.wait("POST /auth/challenge", a)
    pacer.wait("POST /auth/challenge", b)
    assert slept == [1.0]
    slept.clear()
    for context in (a, b):  # sessions: 10/s x 0.1 = 1/s, per context
        pacer.wait("GET /auth/sessions", context)
    assert slept == []
    assert pacer.wait(None) == 0.0 and pacer.wait("GET /unlisted") == 0.0
    with pytest.raises(TimeoutError):
        pacer.wait("GET /auth/sessions", a, max_wait=0.5)


def test_limiter_is_thread_safe() -> None:
    limiter = LocalRateLimiter(margin=0.0)
    waits: list[float] = []
    lock = threading.Lock()

    def book() -> None:
        for _ in range(50):
            wait = limiter.reserve("k", [Rate(1000, 1.0)], float("inf"))
            with lock:
                waits.append(wait)  # type: ignore[arg-type]

    threads = [threading.Thread(target=book) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(waits) == 400 and sum(w > 0 for w in waits) == 0
