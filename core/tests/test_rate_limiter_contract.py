"""The reference rate limiter passes the kit's contract (as the stores' limiters must)."""

from __future__ import annotations

import pytest

from ksef_auth.pacing import LocalRateLimiter
from ksef_auth.testing import RateLimiterContract


class TestLocalRateLimiterContract(RateLimiterContract):
    @pytest.fixture
    def limiter(self) -> LocalRateLimiter:
        return LocalRateLimiter()
