"""SessionManager: reuse, refresh windows, re-login, single flight, fail fast, events."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest

from ksef_auth import (
    AuthenticationFailed,
    CredentialRejected,
    KsefError,
    PollTimeout,
    RefreshPolicy,
    SessionTokens,
)
from ksef_auth.flow import LoginFlow
from ksef_auth_memory import MemoryStore
from ksef_auth_simulator import FaultRule, RunningSimulator
from ksef_auth_token import HmacSigner

from .test_flow_support import (
    EndpointDelta,
    TokenSource,
    context_counts,
    make_strategy,
    new_nip,
    recording_manager,
    simulator_fixtures,
)

#: Short-lived tokens: 1 s access tokens open the advisory window 0.5 s and the mandatory one
#: 0.25 s before expiry. (A TTL that is not a whole number of seconds makes the simulator issue
#: exact lifetimes; for whole seconds it truncates iat to the second, as KSeF does.)
SHORT = {"access_token_ttl": 1.0001}

_shared_sim, _sim = simulator_fixtures()


@pytest.fixture
def short_sim(make_ksef_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    return make_ksef_simulator(**SHORT)


def sleep_until(moment: float) -> None:
    time.sleep(max(0.0, moment - time.time()))


def windows_of(tokens: SessionTokens, policy: RefreshPolicy) -> tuple[float, float, float]:
    """(advisory_at, mandatory_at, expires) as epoch seconds."""
    expires = tokens.access_token.valid_until.timestamp()
    start = (tokens.refreshed_at or tokens.obtained_at).timestamp()
    advisory, mandatory = policy.windows(expires - start)
    return expires - advisory, expires - mandatory, expires


# --- reuse ----------------------------------------------------------------------------------------


def test_a_fresh_token_is_reused_without_any_request(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    first = strategy.token()
    delta = EndpointDelta(sim)
    assert all(strategy.token() == first for _ in range(100))
    assert [delta(e) for e in sim.sim.counters()["endpoints"]] == [0] * len(
        sim.sim.counters()["endpoints"]
    )
    assert strategy.credential.loads == 1  # type: ignore[attr-defined]


def test_the_store_key_names_environment_context_and_fingerprint(sim: RunningSimulator) -> None:
    store = MemoryStore()
    strategy = make_strategy(sim, store=store)
    strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    token = strategy.credential.token  # type: ignore[attr-defined]
    key = f"{sim.base_url}|Nip:{strategy.context.value}|{tokens.credential_fingerprint}"
    assert store.get(key) == tokens
    assert token not in key


def test_the_strategy_is_checked_once_when_the_manager_is_made(sim: RunningSimulator) -> None:
    calls: list[str] = []

    class CheckedSource(TokenSource):
        def check(self, environment: object, context: object) -> None:
            calls.append("source")

    class CheckedStore(MemoryStore):
        def check(self, environment: object, context: object) -> None:
            calls.append("store")

    nip = new_nip()
    strategy = make_strategy(
        sim, nip, source=CheckedSource(sim.sim.issue_ksef_token(nip)), store=CheckedStore()
    )
    strategy.token()
    strategy.token()
    # the store once; not the credential source: its load() reports the same problems, and a
    # kept session must be usable (status, logout) while the credential cannot be loaded
    assert calls == ["store"]


def test_sessions_are_shared_through_the_store(sim: RunningSimulator) -> None:
    """Two managers over one store (as two processes over a shared store): one login."""
    nip = new_nip()
    token = sim.sim.issue_ksef_token(nip)
    store = MemoryStore()
    one = make_strategy(sim, nip, token=token, store=store)
    two = make_strategy(sim, nip, token=token, store=store)
    assert one.token() == two.token()
    assert context_counts(sim, nip).get("logins_completed") == 1


def test_a_rotated_credential_starts_a_new_session(sim: RunningSimulator) -> None:
    nip = new_nip()
    store = MemoryStore()
    strategy = make_strategy(sim, nip, store=store)
    old = strategy.session.current() or strategy.token()
    old_tokens = strategy.session.current()
    strategy.credential.token = sim.sim.issue_ksef_token(nip)  # type: ignore[attr-defined]
    strategy.session.refresh()
    new_tokens = strategy.session.current()
    assert new_tokens is not None and old_tokens is not None
    assert new_tokens.credential_fingerprint != old_tokens.credential_fingerprint
    assert strategy.token() != old
    assert len(store) == 3  # the old session lives on; the latest entry is the new one's
    assert store.get(strategy.session.latest_key) == new_tokens
    assert context_counts(sim, nip)["logins_completed"] == 2


# --- refresh windows ------------------------------------------------------------------------------


def test_advisory_refresh_one_caller_refreshes_others_keep_the_token(
    make_ksef_simulator: Callable[..., RunningSimulator],
) -> None:
    short_sim = make_ksef_simulator(access_token_ttl=2.0001)  # windows: 1.0 s and 0.5 s
    strategy = make_strategy(short_sim)
    first = strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    advisory_at, mandatory_at, _ = windows_of(tokens, strategy.refresh)
    short_sim.sim.add_fault(FaultRule(endpoint="POST /auth/token/refresh", delay=0.4, times=1))
    sleep_until(advisory_at + 0.02)
    refresher = threading.Thread(target=strategy.token)
    refresher.start()
    time.sleep(0.1)  # the refresher holds the lock, waiting on the slow refresh
    started = time.monotonic()
    assert strategy.token() == first  # not blocked: the current token is still good
    assert time.monotonic() - started < 0.2  # the slow refresh still has ~0.3 s to go
    refresher.join()
    assert strategy.token() != first
    assert context_counts(short_sim, strategy.context.value)["refreshes"] == 1


def test_failed_advisory_refresh_keeps_the_token_and_is_observed(
    short_sim: RunningSimulator,
) -> None:
    manager, recorder = recording_manager()
    strategy = make_strategy(short_sim, manager=manager)
    first = strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    # a refused refresh (a 500 or 503 would be retried by the transport)
    short_sim.sim.add_fault(FaultRule(endpoint="POST /auth/token/refresh", status=400, times=1))
    sleep_until(windows_of(tokens, strategy.refresh)[0] + 0.02)
    assert strategy.token() == first
    manager.observers.flush()
    assert "authentication_failed" in recorder.names()
    assert isinstance(recorder.errors[-1], KsefError)
    assert strategy.token() != first  # the next caller tries again and succeeds


def test_mandatory_refresh_waits_for_the_new_token(short_sim: RunningSimulator) -> None:
    strategy = make_strategy(short_sim)
    first = strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    sleep_until(windows_of(tokens, strategy.refresh)[1] + 0.02)
    second = strategy.token()
    assert second != first
    current = strategy.session.current()
    assert current is not None and current.refreshed_at is not None
    assert context_counts(short_sim, strategy.context.value)["refreshes"] == 1


def test_failed_mandatory_refresh_raises(short_sim: RunningSimulator) -> None:
    strategy = make_strategy(short_sim)
    strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    short_sim.sim.add_fault(FaultRule(endpoint="POST /auth/token/refresh", status=400, times=1))
    sleep_until(windows_of(tokens, strategy.refresh)[1] + 0.02)
    with pytest.raises(KsefError) as info:
        strategy.token()
    assert info.value.http_status == 400


def test_callers_waiting_on_a_failing_refresh_share_its_failure(
    short_sim: RunningSimulator,
) -> None:
    strategy = make_strategy(short_sim)
    strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    rule = FaultRule(endpoint="POST /auth/token/refresh", status=400, delay=0.2, times=1)
    short_sim.sim.add_fault(rule)
    sleep_until(windows_of(tokens, strategy.refresh)[1] + 0.02)
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            strategy.token()
        except KsefError as exc:
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(errors) == 8
    assert rule.calls == 1  # one attempt for all eight callers
    assert strategy.token()  # a later caller tries again


def test_relogin_after_the_refresh_token_expires(
    make_ksef_simulator: Callable[..., RunningSimulator],
) -> None:
    running = make_ksef_simulator(access_token_ttl=1.0, refresh_token_ttl=1.0)
    manager, recorder = recording_manager()
    strategy = make_strategy(running, manager=manager)
    first = strategy.token()
    time.sleep(1.05)
    assert strategy.token() != first
    counts = context_counts(running, strategy.context.value)
    assert counts["logins_completed"] == 2
    assert counts.get("refreshes", 0) == 0
    manager.observers.flush()
    assert "session_expired" in recorder.names()


def test_relogin_after_the_session_is_revoked(short_sim: RunningSimulator) -> None:
    strategy = make_strategy(short_sim)
    first = strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    LoginFlow(strategy.environment, strategy.signer).revoke(tokens)  # someone else logs it out
    sleep_until(windows_of(tokens, strategy.refresh)[1] + 0.02)
    delta = EndpointDelta(short_sim)
    assert strategy.token() != first
    assert delta("POST /auth/token/refresh", "400") == 1  # 21301: revoked
    assert context_counts(short_sim, strategy.context.value)["logins_completed"] == 2


def test_hmac_sessions_log_in_again_instead_of_refreshing(
    make_ksef_simulator: Callable[..., RunningSimulator],
) -> None:
    running = make_ksef_simulator(hmac_session_ttl=1.0)
    strategy = make_strategy(running, signer=HmacSigner())
    first = strategy.token()
    time.sleep(0.8)  # inside the mandatory window (0.25 s before the end)
    assert strategy.token() != first
    assert context_counts(running, strategy.context.value)["hmac_sessions"] == 2


# --- rejections -----------------------------------------------------------------------------------


def test_a_rejected_credential_fails_fast_until_it_changes(sim: RunningSimulator) -> None:
    nip = new_nip()
    token = sim.sim.issue_ksef_token(nip)
    sim.sim.revoke_ksef_token(token)
    manager, recorder = recording_manager()
    strategy = make_strategy(sim, nip, token=token, manager=manager)
    with pytest.raises(AuthenticationFailed) as first:
        strategy.token()
    assert first.value.code == 450
    delta = EndpointDelta(sim)
    with pytest.raises(CredentialRejected) as again:
        strategy.token()
    assert again.value.cause is first.value
    assert again.value.retry_at > time.time() + 200
    assert "450" in str(again.value) and token not in str(again.value)
    assert delta("POST /auth/challenge") == 0  # no network
    strategy.credential.token = sim.sim.issue_ksef_token(nip)  # type: ignore[attr-defined]
    assert strategy.token()
    manager.observers.flush()
    assert recorder.names().count("authentication_failed") == 1


def test_the_rejection_backoff_passes(sim: RunningSimulator) -> None:
    nip = new_nip()
    strategy = make_strategy(
        sim, nip, token="not-a|registered|token", policy=RefreshPolicy(rejection_backoff=0.3)
    )
    with pytest.raises(AuthenticationFailed):
        strategy.token()
    with pytest.raises(CredentialRejected):
        strategy.token()
    time.sleep(0.3)
    with pytest.raises(AuthenticationFailed):  # tried again at KSeF
        strategy.token()


def test_a_revoked_ksef_token_ends_in_a_rejection_after_refresh_fails(
    short_sim: RunningSimulator,
) -> None:
    nip = new_nip()
    token = short_sim.sim.issue_ksef_token(nip)
    strategy = make_strategy(short_sim, nip, token=token)
    strategy.token()
    tokens = strategy.session.current()
    assert tokens is not None
    short_sim.sim.revoke_ksef_token(token)
    sleep_until(windows_of(tokens, strategy.refresh)[1] + 0.02)
    with pytest.raises(AuthenticationFailed):
        strategy.token()  # refresh: 21301, then a new login: 450
    with pytest.raises(CredentialRejected):
        strategy.token()


def test_poll_deadline_from_the_policy(sim: RunningSimulator) -> None:
    sim.sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", stuck=True, times=1))
    strategy = make_strategy(sim, policy=RefreshPolicy(poll_deadline=0.3))
    with pytest.raises(PollTimeout):
        strategy.token()


# --- explicit operations, events ------------------------------------------------------------------


def test_lifecycle_events_and_logout(sim: RunningSimulator) -> None:
    manager, recorder = recording_manager()
    store = MemoryStore()
    strategy = make_strategy(sim, store=store, manager=manager)
    session = strategy.session
    first = session.login()
    refreshed = session.refresh()
    assert refreshed.reference_number == first.reference_number
    assert [s.reference_number for s in session.sessions() if s.is_current] == [
        first.reference_number
    ]
    session.logout()
    assert session.current() is None
    assert len(store) == 0
    assert context_counts(sim, strategy.context.value)["sessions_revoked"] == 1
    assert strategy.token()  # a new login
    manager.observers.flush()
    names = recorder.names()
    assert names[:4] == ["login_started", "session_opened", "session_refreshed", "session_revoked"]
    assert names[4:] == ["login_started", "session_opened"]
    opened = recorder.events[1]
    assert opened.reference_number == first.reference_number
    assert opened.credential_fingerprint == first.credential_fingerprint
    assert opened.method == "ksef-token"


def test_invalidate_drops_only_the_current_token(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    first = strategy.token()
    strategy.session.invalidate("some-older-token")
    assert strategy.token() == first
    strategy.session.invalidate(first)
    second = strategy.token()
    assert second != first
    assert context_counts(sim, strategy.context.value)["refreshes"] == 1  # not a new login


# --- single flight --------------------------------------------------------------------------------


def test_threads_starting_cold_make_one_login(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    barrier = threading.Barrier(16)
    seen: list[str] = []

    def worker() -> None:
        barrier.wait()
        seen.append(strategy.token())

    threads = [threading.Thread(target=worker) for _ in range(16)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(set(seen)) == 1
    assert context_counts(sim, strategy.context.value)["logins_completed"] == 1


async def test_tasks_and_threads_starting_cold_make_one_login(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    thread_tokens: list[str] = []
    thread = threading.Thread(target=lambda: thread_tokens.append(strategy.token()))
    thread.start()
    tokens = await asyncio.gather(*(strategy.atoken() for _ in range(50)))
    await asyncio.to_thread(thread.join)
    assert len({*tokens, *thread_tokens}) == 1
    assert context_counts(sim, strategy.context.value)["logins_completed"] == 1


async def test_async_mirrors(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    session = strategy.session
    first = await session.alogin()
    assert (await session.arefresh()).reference_number == first.reference_number
    assert any(s.is_current for s in await session.asessions())
    await session.alogout()
    assert session.current() is None


# --- kept sessions without the credential -----------------------------------------------------


def test_stored_live_and_revoke_need_no_credential(sim: RunningSimulator) -> None:
    from ksef_auth import NoSession

    nip = new_nip()
    store = MemoryStore()
    strategy = make_strategy(sim, nip, store=store)
    with pytest.raises(NoSession):
        strategy.session.live()
    with pytest.raises(NoSession):
        strategy.session.sessions(login=False)
    tokens = strategy.session.login()

    # another process: same store, a credential that cannot be loaded now
    class Gone:
        def load(self, request: object) -> None:
            from ksef_auth import NotAvailable

            raise NotAvailable("the variable is not set")

    other = make_strategy(sim, nip, store=store, source=Gone())
    assert other.session.stored() == tokens
    assert other.session.live() == tokens  # valid: no refresh, no login
    assert [s.reference_number for s in other.session.sessions(login=False)] == [
        tokens.reference_number
    ]
    other.session.revoke()
    assert store.get(other.session.latest_key) is None
    assert context_counts(sim, nip)["logins_completed"] == 1


def test_revoke_session_ends_another_session(sim: RunningSimulator) -> None:
    nip = new_nip()
    first = make_strategy(sim, nip)
    second = make_strategy(sim, nip)
    old = first.session.login()
    current = second.session.login()
    second.session.revoke_session(old.reference_number)
    left = [s.reference_number for s in second.session.sessions(login=False)]
    assert left == [current.reference_number]
