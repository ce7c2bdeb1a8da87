"""The rate limiter contract as tests: subclass :class:`RateLimiterContract`."""

from __future__ import annotations

import threading
import time
import uuid
from typing import Any

import pytest

__all__ = ["RateLimiterContract"]


class RateLimiterContract:
    """Tests every :class:`~ksef_auth.pacing.RateLimiter` must pass: the semantics of
    :class:`~ksef_auth.pacing.LocalRateLimiter` (a sliding log of booked send times per key,
    every window kept, first come first served, ``max_wait`` books nothing, ``penalize``).

    Provide a ``limiter`` fixture; for a limiter shared through a store, also ``other_limiter``:
    a second instance over the same backing (another store object, as another process would
    have), which must share the budget. Times are checked against this process's clock with
    bounds that hold on a loaded machine; nothing asserts speed.
    """

    @pytest.fixture
    def limiter(self) -> Any:
        raise NotImplementedError("provide a `limiter` fixture returning a fresh rate limiter")

    @pytest.fixture
    def other_limiter(self, limiter: Any) -> Any:
        return limiter

    @pytest.fixture
    def key(self) -> str:
        return f"http://127.0.0.1:1/v2|POST /auth/challenge|{uuid.uuid4().hex[:12]}"

    def test_within_the_limit_nobody_waits(self, limiter: Any, key: str) -> None:
        from ksef_auth.pacing import Rate

        waits = [limiter.reserve(key, [Rate(5, 60.0)], 10.0) for _ in range(5)]
        assert waits == [pytest.approx(0.0, abs=1e-3)] * 5

    def test_over_the_limit_a_request_waits_for_the_window(self, limiter: Any, key: str) -> None:
        from ksef_auth.pacing import Rate

        rates = [Rate(3, 1.0)]
        before_first = time.time()
        for _ in range(3):
            assert limiter.reserve(key, rates, 10.0) == pytest.approx(0.0, abs=1e-3)
        after_first_three = time.time()
        before = time.time()
        wait = limiter.reserve(key, rates, 10.0)
        after = time.time()
        assert wait is not None
        # it is sent no sooner than a window after the first, and no later than needed
        assert after + wait >= before_first + 1.0
        assert before + wait <= after_first_three + 1.0 + 0.5

    def test_a_wait_beyond_max_wait_is_refused_and_books_nothing(
        self, limiter: Any, key: str
    ) -> None:
        from ksef_auth.pacing import Rate

        rates = [Rate(1, 60.0)]
        assert limiter.reserve(key, rates, 1.0) == pytest.approx(0.0, abs=1e-3)
        assert limiter.reserve(key, rates, 1.0) is None
        assert limiter.reserve(key, rates, 1.0) is None
        wait = limiter.reserve(key, rates, 120.0)
        assert wait is not None and 55.0 <= wait <= 61.0  # one window, not three

    def test_first_come_first_served(self, limiter: Any, key: str) -> None:
        from ksef_auth.pacing import Rate

        rates = [Rate(2, 10.0)]
        waits = [limiter.reserve(key, rates, 100.0) for _ in range(6)]
        assert all(w is not None for w in waits)
        assert waits[0] == pytest.approx(0.0, abs=1e-3)
        assert 9.0 <= waits[2] <= 10.5 and 9.0 <= waits[3] <= 10.5
        assert 19.0 <= waits[4] <= 20.5 and 19.0 <= waits[5] <= 20.5

    def test_every_window_is_kept(self, limiter: Any, key: str) -> None:
        from ksef_auth.pacing import Rate

        rates = [Rate(2, 1.0), Rate(3, 60.0)]
        waits = [limiter.reserve(key, rates, 100.0) for _ in range(4)]
        assert waits[0] == pytest.approx(0.0, abs=1e-3)
        assert waits[2] is not None and 0.5 <= waits[2] <= 1.5  # the 1-second window
        assert waits[3] is not None and 55.0 <= waits[3] <= 61.0  # the minute window

    def test_penalize_holds_back_later_reservations(self, limiter: Any, key: str) -> None:
        from ksef_auth.pacing import Rate

        limiter.penalize(key, 30.0)
        wait = limiter.reserve(key, [Rate(100, 1.0)], 60.0)
        assert wait is not None and 28.0 <= wait <= 30.5
        assert limiter.reserve(key, [Rate(100, 1.0)], 1.0) is None
        assert limiter.reserve(key + "-other", [Rate(100, 1.0)], 1.0) == pytest.approx(
            0.0, abs=1e-3
        )

    def test_keys_are_independent(self, limiter: Any, key: str) -> None:
        from ksef_auth.pacing import Rate

        rates = [Rate(1, 60.0)]
        assert limiter.reserve(key, rates, 0.0) == pytest.approx(0.0, abs=1e-3)
        assert limiter.reserve(key, rates, 0.0) is None
        assert limiter.reserve(key + "-b", rates, 0.0) == pytest.approx(0.0, abs=1e-3)

    def test_concurrent_reservations_share_one_budget(
        self, limiter: Any, other_limiter: Any, key: str
    ) -> None:
        """Eight threads over two limiter instances ask for 40 immediate sends of a budget of
        five a minute: exactly five get one."""
        from ksef_auth.pacing import Rate

        rates = [Rate(5, 60.0)]
        results: list[float | None] = []
        guard = threading.Lock()
        start = threading.Barrier(8)

        def work(mine: Any) -> None:
            start.wait()
            for _ in range(5):
                got = mine.reserve(key, rates, 0.0)
                with guard:
                    results.append(got)

        threads = [
            threading.Thread(target=work, args=(limiter if i % 2 else other_limiter,))
            for i in range(8)
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(results) == 40
        assert sum(r is not None for r in results) == 5
