"""The login protocol (flow.py) and the transport under it, against the simulator over HTTP."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from ksef_auth import (
    AuthenticationFailed,
    ConfigError,
    ContextIdentifier,
    CredentialError,
    Environment,
    KsefError,
    KsefToken,
    PollTimeout,
    RateLimited,
    SessionInvalid,
    SharedSecret,
    TransportError,
)
from ksef_auth.flow import LoginFlow, forget_public_keys
from ksef_auth.transport import RetryPolicy, Transport, error_from_response, parse_error_body
from ksef_auth_simulator import FaultRule, RunningSimulator
from ksef_auth_token import HmacSigner, KsefTokenSigner

from .test_flow_support import EndpointDelta, new_nip, simulator_fixtures

_shared_sim, _sim = simulator_fixtures()


def flow_for(running: RunningSimulator, signer: object = None, **kwargs: object) -> LoginFlow:
    return LoginFlow(Environment.of(running.base_url), signer or KsefTokenSigner(), **kwargs)  # type: ignore[arg-type]


def issued(running: RunningSimulator) -> tuple[ContextIdentifier, KsefToken]:
    nip = new_nip()
    return ContextIdentifier.nip(nip), KsefToken(running.sim.issue_ksef_token(nip))


# --- happy paths ----------------------------------------------------------------------------------


def test_token_login_polls_and_redeems(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    delta = EndpointDelta(sim)
    tokens = flow_for(sim).login(credential, context)
    assert tokens.refresh_token is not None
    assert tokens.reference_number[9:11] == "AU"
    assert tokens.method == "ksef-token"
    assert tokens.credential_fingerprint == credential.fingerprint
    assert tokens.access_token.valid_until > datetime.now(UTC)
    assert delta("POST /auth/ksef-token", "202") == 1
    assert delta("POST /auth/token/redeem", "200") == 1
    assert delta("GET /auth/{referenceNumber}") >= 1


def test_hmac_login_gets_a_session_without_refresh_token(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    for cred in (credential, SharedSecret(credential.token.reveal())):
        tokens = flow_for(sim, HmacSigner()).login(cred, context)
        assert tokens.refresh_token is None
        assert tokens.method == "hmac"
        assert tokens.access_token.valid_until > datetime.now(UTC)


def test_refresh_revoke_and_list_sessions(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    flow = flow_for(sim)
    tokens = flow.login(credential, context)
    refreshed = flow.refresh(tokens)
    assert refreshed.refreshed_at is not None
    assert refreshed.refresh_token == tokens.refresh_token
    listed = flow.list_sessions(refreshed)
    assert [s.reference_number for s in listed if s.is_current] == [tokens.reference_number]
    flow.revoke(refreshed)
    with pytest.raises(SessionInvalid) as info:
        flow.refresh(refreshed)
    assert info.value.code == 21301
    assert "log in again" in str(info.value)


def test_list_sessions_follows_the_continuation_token(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    flow = flow_for(sim, HmacSigner())
    sessions = [flow.login(credential, context) for _ in range(12)]
    delta = EndpointDelta(sim)
    listed = flow.list_sessions(sessions[-1], page_size=10)
    assert len(listed) == len(sessions)
    assert len({s.reference_number for s in listed}) == len(sessions)
    assert delta("GET /auth/sessions") == 2


# --- final statuses -------------------------------------------------------------------------------


@pytest.mark.parametrize("status", [415, 450, 460, 470, 480, 500])
def test_each_final_status_is_an_authentication_failure(sim: RunningSimulator, status: int) -> None:
    context, credential = issued(sim)
    if status == 450:
        sim.sim.revoke_ksef_token(credential.token.reveal())
    elif status == 480:
        sim.sim.block_context(context.value)
    else:  # no permission, certificate, deceased and unknown errors: forced (since API 2.6.1 a
        # token of another context ends in 450, so a token login cannot reach 415 by itself)
        sim.sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", auth_status=status, times=1))
    with pytest.raises(AuthenticationFailed) as info:
        flow_for(sim).login(credential, context)
    error = info.value
    assert error.code == status
    assert error.http_status == 200
    assert f"status {status}" in str(error)
    assert credential.token.reveal() not in str(error)
    assert str(error)[-1] != ":"


def test_status_550_starts_over_with_a_new_challenge(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", auth_status=550, times=1))
    delta = EndpointDelta(sim)
    flow_for(sim).login(credential, context)
    assert delta("POST /auth/challenge") == 2
    assert delta("POST /auth/token/redeem", "200") == 1


def test_status_550_gives_up_after_two_restarts(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", auth_status=550))
    delta = EndpointDelta(sim)
    with pytest.raises(AuthenticationFailed) as info:
        flow_for(sim).login(credential, context)
    assert info.value.code == 550
    assert delta("POST /auth/challenge") == 3


def test_poll_deadline_raises_poll_timeout(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", stuck=True, times=1))
    delta = EndpointDelta(sim)
    started = time.monotonic()
    with pytest.raises(PollTimeout) as info:
        flow_for(sim, poll_deadline=0.5).login(credential, context)
    assert 0.5 <= time.monotonic() - started < 10  # it gave up at the deadline, not later
    assert "status 100" in str(info.value)
    assert delta("GET /auth/{referenceNumber}") >= 3  # at once, then with backoff


def test_signer_preflight_runs_before_any_request(sim: RunningSimulator) -> None:
    context, _ = issued(sim)
    delta = EndpointDelta(sim)
    with pytest.raises(CredentialError, match="needs a KSeF token"):
        flow_for(sim).login(SharedSecret("not a token"), context)
    assert delta("POST /auth/challenge") == 0


# --- public keys ----------------------------------------------------------------------------------


def test_unknown_key_21470_refetches_keys_and_retries_once(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    flow = flow_for(sim)
    old = {k.public_key_id for k in flow.public_keys() if "KsefTokenEncryption" in k.usage}
    sim.sim.rotate_keys()
    for key_id in old:
        sim.sim.retire_key(key_id)
    delta = EndpointDelta(sim)
    flow.login(credential, context)
    assert delta("POST /auth/ksef-token", "400") == 1
    assert delta("POST /auth/ksef-token", "202") == 1
    assert delta("GET /security/public-key-certificates") == 1
    assert not old & {k.public_key_id for k in flow.public_keys()}


def test_public_keys_are_cached_per_environment(sim: RunningSimulator) -> None:
    forget_public_keys()
    delta = EndpointDelta(sim)
    for _ in range(3):
        flow_for(sim).public_keys()
    assert delta("GET /security/public-key-certificates") == 1


# --- retries --------------------------------------------------------------------------------------


def test_429_waits_for_retry_after(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(
        FaultRule(endpoint="POST /auth/challenge", status=429, retry_after=1, times=1)
    )
    started = time.monotonic()
    flow_for(sim).login(credential, context)
    assert time.monotonic() - started >= 1.0


def test_429_on_the_redeem_is_retried_because_it_was_not_processed(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    rule = FaultRule(endpoint="POST /auth/token/redeem", status=429, retry_after=0, times=1)
    sim.sim.add_fault(rule)
    delta = EndpointDelta(sim)
    flow_for(sim).login(credential, context)
    assert delta("POST /auth/token/redeem", "429") == 1
    assert delta("POST /auth/token/redeem", "200") == 1
    assert delta("POST /auth/challenge") == 1


def test_429_asking_too_long_a_wait_raises_rate_limited(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/challenge", status=429, retry_after=120))
    started = time.monotonic()
    with pytest.raises(RateLimited) as info:
        flow_for(sim).login(credential, context)
    assert info.value.retry_after == 120
    assert time.monotonic() - started < 30  # it did not wait the 120 s


def test_503_is_retried(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    flow = flow_for(sim)
    tokens = flow.login(credential, context)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/token/refresh", status=503, times=2))
    delta = EndpointDelta(sim)
    flow.refresh(tokens)
    assert delta("POST /auth/token/refresh", "503") == 2
    assert delta("POST /auth/token/refresh", "200") == 1


def test_503_on_the_redeem_is_never_replayed_the_login_starts_over(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/token/redeem", status=503, times=1))
    delta = EndpointDelta(sim)
    flow_for(sim).login(credential, context)
    assert delta("POST /auth/token/redeem", "503") == 1
    assert delta("POST /auth/token/redeem", "200") == 1
    assert delta("POST /auth/challenge") == 2  # a new operation, not a replayed redeem


def test_dropped_submission_starts_over(sim: RunningSimulator) -> None:
    context, credential = issued(sim)
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", drop=True, times=1))
    delta = EndpointDelta(sim)
    flow_for(sim).login(credential, context)
    assert delta("POST /auth/challenge") == 2


def test_no_answer_is_a_transport_error() -> None:
    environment = Environment.of("http://127.0.0.1:9/v2")  # discard port: connection refused
    transport = Transport(environment, retry=RetryPolicy(attempts=2, base_delay=0.01))
    flow = LoginFlow(environment, KsefTokenSigner(), transport=transport)
    with pytest.raises(TransportError) as info:
        flow.challenge()
    assert isinstance(info.value, httpx.TransportError)
    assert isinstance(info.value.__cause__, httpx.ConnectError)
    assert "no answer" in str(info.value)


def test_plain_http_is_refused_before_any_request() -> None:
    with pytest.raises(ValueError, match="plain http"):
        Environment.of("http://ksef.example.com/v2")
    # an Environment smuggled past its validator is refused by the transport, before sending
    environment = Environment.of("https://ksef.example.com/v2")
    object.__setattr__(environment, "base_url", "http://ksef.example.com/v2")
    with pytest.raises(ConfigError, match="plain http"):
        LoginFlow(environment, KsefTokenSigner())


# --- error bodies ---------------------------------------------------------------------------------

JWT = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl"


def test_legacy_error_body() -> None:
    response = httpx.Response(
        400,
        json={
            "exception": {
                "exceptionDetailList": [
                    {
                        "exceptionCode": 21111,
                        "exceptionDescription": "Nieprawidłowe wyzwanie autoryzacyjne.",
                        "details": [f"bearer {JWT} was odd"],
                    }
                ],
                "serviceCode": "00-abc-01",
            }
        },
    )
    error = error_from_response(response, "submitting")
    assert (error.code, error.http_status, error.trace_id) == (21111, 400, "00-abc-01")
    assert JWT not in str(error) and "<jwt>" in str(error)
    assert "fresh" in str(error)  # says what to do


def test_problem_details_body() -> None:
    response = httpx.Response(
        400,
        headers={"Content-Type": "application/problem+json"},
        json={
            "title": "Bad Request",
            "status": 400,
            "detail": "Żądanie jest nieprawidłowe.",
            "errors": [{"code": 21405, "description": "Błąd walidacji.", "details": ["x"]}],
            "traceId": "trace-1",
        },
    )
    body = parse_error_body(response)
    assert (body.code, body.description, body.details, body.trace_id) == (
        21405,
        "Błąd walidacji.",
        ("x",),
        "trace-1",
    )


def test_429_bodies_become_rate_limited() -> None:
    legacy = httpx.Response(
        429,
        headers={"Retry-After": "30"},
        json={"status": {"code": 429, "description": "Too Many Requests", "details": ["limit"]}},
    )
    error = error_from_response(legacy, "refreshing")
    assert isinstance(error, RateLimited) and isinstance(error, KsefError)
    assert error.retry_after == 30 and error.details == ("limit",)


def test_unauthorized_problem_without_errors_list() -> None:
    response = httpx.Response(401, json={"title": "Unauthorized", "detail": "Token wygasł."})
    error = error_from_response(response, "listing sessions", cls=SessionInvalid)
    assert isinstance(error, SessionInvalid)
    assert "Token wygasł." in str(error) and "obtain a new one" in str(error)
