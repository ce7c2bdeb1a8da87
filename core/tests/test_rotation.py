"""Rotation without a failed request: a primary and a secondary credential (issue 17).

Against the simulator over real HTTP: a new KSeF token still Pending as the primary with the old
one as the secondary; a renewed certificate not yet granted in the context. No ``token()`` call
fails, the secondary's sessions are used until the primary works, the fallback is announced once
per episode, and no secret appears in any event or log.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable

import pytest

from ksef_auth import (
    ContextIdentifier,
    CredentialRotation,
    RefreshPolicy,
    SessionEvent,
    hookimpl,
    load,
)
from ksef_auth.manager import PluginManager
from ksef_auth_simulator import RunningSimulator

from .test_flow_support import Recorder, TokenSource, make_strategy, new_nip

POLICY = RefreshPolicy(rejection_backoff=0.3)


class FallbackRecorder(Recorder):
    @hookimpl
    def ksef_auth_credential_fallback(self, event: SessionEvent) -> None:
        self.events.append(event)


def recording() -> tuple[PluginManager, FallbackRecorder]:
    manager = PluginManager(autoload=False)
    recorder = FallbackRecorder()
    manager.register(recorder, name="recorder")
    return manager, recorder


@pytest.fixture
def sim(make_ksef_simulator: Callable[..., RunningSimulator]) -> RunningSimulator:
    # 2-second access tokens: renewals (and so new logins) come around quickly; tokens issued
    # with active=False stay Pending until a test activates them
    return make_ksef_simulator(access_token_ttl=2.0001, token_activation_delay=3600.0)


def activate(sim: RunningSimulator, token: str) -> None:
    sim.sim.tokens_by_secret[token].active_from = sim.sim.now()


def last_use(sim: RunningSimulator, token: str) -> float | None:
    return sim.sim.tokens_by_secret[token].last_use


def hammer(fn: Callable[[], object], threads: int, seconds: float) -> list[BaseException]:
    """Call ``fn`` from ``threads`` threads for ``seconds``; the exceptions raised."""
    errors: list[BaseException] = []
    stop = time.monotonic() + seconds

    def work() -> None:
        while time.monotonic() < stop:
            try:
                fn()
            except BaseException as exc:  # noqa: BLE001 - every failure counts
                errors.append(exc)
            time.sleep(0.01)

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for thread in pool:
        thread.start()
    for thread in pool:
        thread.join()
    return errors


def test_a_pending_token_falls_back_to_the_old_one_and_takes_over_once_active(
    sim: RunningSimulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="ksef_auth")
    nip = new_nip()
    old = sim.sim.issue_ksef_token(nip)
    new = sim.sim.issue_ksef_token(nip, active=False)  # Pending: KSeF answers 450
    assert sim.sim.token_status(new) == "Pending"
    manager, recorder = recording()
    strategy = make_strategy(
        sim,
        nip,
        source=CredentialRotation(TokenSource(new), TokenSource(old)),
        policy=POLICY,
        manager=manager,
    )

    # 8 threads while the new token is pending: nothing fails, the old token logs in
    assert hammer(strategy.token, 8, 3.0) == []
    assert last_use(sim, old) is not None
    manager.observers.flush()
    fallbacks = [e for e in recorder.events if e.name == "credential_fallback"]
    assert len(fallbacks) == 1  # one episode, however many calls and renewals
    states = {s.role: s for s in strategy.session.credential_states()}
    assert states["primary"].state == "rejected" and states["primary"].code == 450
    assert states["secondary"].state == "usable" and states["secondary"].in_use
    assert fallbacks[0].rejected_fingerprint == states["primary"].fingerprint
    assert fallbacks[0].credential_fingerprint == states["secondary"].fingerprint

    # activated at KSeF: once the back-off has passed, the next login uses the new token
    activate(sim, new)
    assert hammer(strategy.token, 8, 3.0) == []
    assert last_use(sim, new) is not None
    current = strategy.session.current()
    assert current is not None
    assert current.credential_fingerprint == states["primary"].fingerprint

    # the old token revoked at KSeF: nothing fails
    sim.sim.revoke_ksef_token(old)
    assert hammer(strategy.token, 8, 2.5) == []
    manager.observers.flush()
    assert len([e for e in recorder.events if e.name == "credential_fallback"]) == 1

    for secret in (old, new):
        assert secret not in caplog.text
        for event in recorder.events:
            assert secret not in repr(event)


def test_an_explicit_login_falls_back_and_the_old_sessions_can_be_ended(
    sim: RunningSimulator,
) -> None:
    nip = new_nip()
    old = sim.sim.issue_ksef_token(nip)
    new = sim.sim.issue_ksef_token(nip, active=False)
    strategy = make_strategy(
        sim, nip, source=CredentialRotation(TokenSource(new), TokenSource(old)), policy=POLICY
    )
    session = strategy.session
    made = session.login()  # the primary refused (450): the secondary logs in
    assert session.credential_role(made) == "secondary"
    states = {s.role: s for s in session.credential_states()}
    assert states["secondary"].session == made.reference_number
    assert states["primary"].session is None

    activate(sim, new)
    time.sleep(POLICY.rejection_backoff)
    fresh = session.login()
    assert session.credential_role(fresh) == "primary"
    ended = session.revoke_credential("secondary")
    assert ended is not None and ended.reference_number == made.reference_number
    listed = {s.reference_number for s in session.sessions()}
    assert made.reference_number not in listed and fresh.reference_number in listed
    assert session.revoke_credential("secondary") is None
    assert session.token()


def test_a_renewed_certificate_not_yet_granted_falls_back_to_the_old_one(
    sim: RunningSimulator,
) -> None:
    pytest.importorskip("ksef_auth_xades")
    pytest.importorskip("ksef_auth_testcert")
    from ksef_auth_testcert import TestCertificateSource
    from ksef_auth_xades import XadesSigner

    firm = new_nip()
    client = new_nip()
    old_seal = TestCertificateSource(nip=firm, key_type="ec")
    new_seal = TestCertificateSource(nip=firm, key_type="ec")
    request_for = make_strategy(sim, client, source=old_seal).credential_request
    old_fp = old_seal.load(request_for).fingerprint
    new_fp = new_seal.load(request_for).fingerprint
    assert old_fp != new_fp
    sim.sim.grant_fingerprint(client, old_fp)  # only the old seal may act for the client
    manager, recorder = recording()
    strategy = make_strategy(
        sim,
        client,
        source=CredentialRotation(new_seal, old_seal),
        signer=XadesSigner(subject_identifier="certificateFingerprint"),
        policy=POLICY,
        manager=manager,
    )
    assert hammer(strategy.token, 4, 2.0) == []  # 415 for the new seal: the old one serves
    current = strategy.session.current()
    assert current is not None and current.credential_fingerprint == old_fp
    sim.sim.grant_fingerprint(client, new_fp)
    assert hammer(strategy.token, 4, 3.0) == []
    current = strategy.session.current()
    assert current is not None and current.credential_fingerprint == new_fp
    manager.observers.flush()
    assert [e.name for e in recorder.events].count("credential_fallback") == 1


def test_a_primary_that_cannot_be_loaded_falls_back_too(
    sim: RunningSimulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytest.importorskip("ksef_auth_env")
    nip = new_nip()
    monkeypatch.setenv("ROTATE_OLD", sim.sim.issue_ksef_token(nip))
    monkeypatch.delenv("ROTATE_NEW", raising=False)
    config = load(
        {
            "strategy": {
                "shop": {
                    "environment": sim.base_url,
                    "context": nip,
                    "credential": {
                        "primary": {"use": "env", "var": "ROTATE_NEW"},
                        "secondary": {"use": "env", "var": "ROTATE_OLD"},
                    },
                    "signer": "ksef-token",
                }
            }
        }
    )
    strategy = config.strategy()
    assert isinstance(strategy.credential, CredentialRotation)
    assert strategy.token()
    states = {s.role: s for s in strategy.session.credential_states()}
    assert states["primary"].state == "unavailable" and "ROTATE_NEW" in states["primary"].error
    assert states["secondary"].in_use


def test_a_rotation_table_names_exactly_primary_and_secondary() -> None:
    from ksef_auth import ConfigError

    with pytest.raises(ConfigError, match="strategy.shop.credential: a rotation has exactly"):
        load(
            {
                "strategy": {
                    "shop": {
                        "environment": "test",
                        "context": ContextIdentifier.nip("5261040828").value,
                        "credential": {"primary": {"use": "env", "var": "X"}},
                        "signer": "ksef-token",
                    }
                }
            },
            check=False,
        )
