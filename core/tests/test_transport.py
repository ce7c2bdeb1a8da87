"""The transport under the flow: pacing, deadlines, against the simulator over HTTP."""

from __future__ import annotations

import time
from collections.abc import Sequence

import pytest

from ksef_auth import ContextIdentifier, DeadlineExceeded, Environment, KsefToken
from ksef_auth.flow import LoginFlow, forget_public_keys
from ksef_auth.pacing import LocalRateLimiter, Pacer, Rate
from ksef_auth.transport import RetryPolicy, Transport
from ksef_auth_simulator import FaultRule, RunningSimulator
from ksef_auth_token import KsefTokenSigner

from .test_flow_support import EndpointDelta, new_nip, simulator_fixtures

_shared_sim, _sim = simulator_fixtures()


class RecordingLimiter(LocalRateLimiter):
    """A real local limiter that also records what it was asked."""

    def __init__(self) -> None:
        super().__init__(margin=0.0)
        self.reserved: list[tuple[str, float]] = []
        self.penalized: list[tuple[str, float]] = []

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        self.reserved.append((key, max_wait))
        return super().reserve(key, rates, max_wait)

    def penalize(self, key: str, seconds: float) -> None:
        self.penalized.append((key, seconds))
        super().penalize(key, seconds)


def paced_flow(sim: RunningSimulator, pacer: Pacer, **kwargs: object) -> LoginFlow:
    environment = Environment.of(sim.base_url)
    transport = Transport(environment, pacer=pacer, retry=RetryPolicy(base_delay=0.01))
    return LoginFlow(environment, KsefTokenSigner(), transport=transport, **kwargs)  # type: ignore[arg-type]


def issued(sim: RunningSimulator) -> tuple[ContextIdentifier, KsefToken]:
    nip = new_nip()
    return ContextIdentifier.nip(nip), KsefToken(sim.sim.issue_ksef_token(nip))


def test_every_request_of_a_login_is_paced_within_the_login_deadline(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    forget_public_keys()
    limiter = RecordingLimiter()
    flow = paced_flow(sim, Pacer(limiter), poll_deadline=30.0)
    tokens = flow.login(credential, context)
    flow.list_sessions(tokens)
    base = sim.base_url
    keys = [key for key, _ in limiter.reserved]
    assert keys[:3] == [
        f"{base}|GET /security/public-key-certificates",
        f"{base}|POST /auth/challenge",
        f"{base}|POST /auth/ksef-token",
    ]
    assert f"{base}|GET /auth/{{referenceNumber}}" in keys
    assert f"{base}|POST /auth/token/redeem" in keys
    # a protected operation is counted per (context, IP): the login's context is passed down
    assert keys[-1] == f"{base}|GET /auth/sessions|{context}"
    login_waits = [wait for key, wait in limiter.reserved[:-1]]
    assert all(0 < wait <= 30.0 for wait in login_waits)  # bounded by what the deadline leaves


def test_a_429_holds_everyone_sharing_the_limiter_back(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    rule = FaultRule(endpoint="POST /auth/challenge", status=429, retry_after=1, times=1)
    sim.sim.add_fault(rule)
    limiter = RecordingLimiter()
    started = time.monotonic()
    paced_flow(sim, Pacer(limiter)).login(credential, context)
    assert limiter.penalized == [(f"{sim.base_url}|POST /auth/challenge", 1.0)]
    assert time.monotonic() - started >= 1.0  # the retry waited for Retry-After


def test_a_pacer_wait_beyond_the_deadline_sends_nothing(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    limiter = LocalRateLimiter(margin=0.0)
    limiter.penalize(f"{sim.base_url}|POST /auth/challenge", 60.0)  # someone got a 429
    flow = paced_flow(sim, Pacer(limiter), poll_deadline=0.5)
    delta = EndpointDelta(sim)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="rate limit"):
        flow.login(credential, context)
    assert time.monotonic() - started < 0.5  # refused at once, not after waiting
    assert delta("POST /auth/challenge") == 0
