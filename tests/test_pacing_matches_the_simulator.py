"""The client's table of KSeF's rate limits (``ksef_auth.pacing.KSEF_RATE_LIMITS``, written by
hand) says what the simulator reads from the API 2.9.0 OpenAPI (``x-rate-limits`` and the 429
group of every operation): the same windows, and the same per-IP / per-(context, IP) counting."""

from __future__ import annotations

import pytest


def test_every_paced_operation_has_the_published_limits() -> None:
    pytest.importorskip("ksef_auth_simulator")
    from ksef_auth.pacing import KSEF_RATE_LIMITS
    from ksef_auth_simulator.ratelimit import published_limits

    published = published_limits()
    for operation, limits in KSEF_RATE_LIMITS.items():
        entry = published[operation]
        assert {(r.per, r.limit) for r in limits.rates} == set(entry.windows), operation
        assert limits.per_context == entry.per_context, operation
