"""The session manager as a state machine (hypothesis): time moves, refreshes and logins fail,
KSeF revokes sessions, the store goes down; the manager never hands out an expired token, never
raises anything untyped, and never logs in when the rules say it should refresh or reuse.

KSeF's protocol is exercised over real HTTP elsewhere (test_flow.py, the fault matrix); here the
manager's *decisions* are under test, so ``FakeKsef`` keeps KSeF's session rules (access and
refresh lifetimes, revocation, one-shot failures) on a clock the test moves, and a real memory
store sits behind a switch that makes every store operation fail.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import attrs
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule

import ksef_auth.session
from ksef_auth import (
    ContextIdentifier,
    Environment,
    KsefAuthError,
    KsefError,
    RefreshPolicy,
    SessionInvalid,
    SessionTokens,
    StoreError,
    Strategy,
    Token,
)
from ksef_auth.manager import PluginManager
from ksef_auth_memory import MemoryStore
from ksef_auth_token import KsefTokenSigner

from .test_flow_support import TokenSource

# the module (ksef_auth.strategy, the attribute, is the one-liner function)
strategy_module = sys.modules["ksef_auth.strategy"]

ACCESS_TTL = 900.0
REFRESH_TTL = 3000.0  # short, so that logins for a dying refresh token happen within a run
NIP = "5261040828"
TOKEN = f"20250101-EC-1111111111-2222222222-33|nip-{NIP}|{'ab' * 32}"


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


class FakeKsef:
    """KSeF's session rules on a test clock: what the manager's flow would meet."""

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.issued: dict[str, float] = {}  # access token -> valid until
        self.revoked: set[str] = set()  # reference numbers
        self.refresh_failures: list[Exception] = []
        self.login_failures: list[Exception] = []
        self.logins = 0
        self.refreshes = 0
        self.on_login: Any = None
        self._n = 0

    def _at(self, seconds: float) -> datetime:
        return datetime.fromtimestamp(self.clock.now + seconds, UTC)

    def _access(self) -> Token:
        self._n += 1
        value = f"access-{self._n}"
        self.issued[value] = self.clock.now + ACCESS_TTL
        return Token(value, self._at(ACCESS_TTL))

    def login(self, credential: Any, context: ContextIdentifier) -> SessionTokens:
        if self.on_login is not None:
            self.on_login()
        if self.login_failures:
            raise self.login_failures.pop(0)
        self.logins += 1
        return SessionTokens(
            access_token=self._access(),
            refresh_token=Token(f"refresh-{self._n}", self._at(REFRESH_TTL)),
            reference_number=f"ref-{self._n}",
            context=context,
            environment="http://127.0.0.1:9/v2",
            credential_fingerprint=credential.fingerprint,
            method="ksef-token",
            obtained_at=self._at(0),
        )

    def refresh(self, tokens: SessionTokens) -> SessionTokens:
        assert tokens.refresh_token is not None
        if tokens.reference_number in self.revoked:
            raise SessionInvalid("revoked", http_status=400, code=21301)
        if tokens.refresh_token.valid_until <= self._at(0):
            raise SessionInvalid("the refresh token has expired")
        if self.refresh_failures:
            raise self.refresh_failures.pop(0)
        self.refreshes += 1
        return attrs.evolve(tokens, access_token=self._access(), refreshed_at=self._at(0))

    def revoke(self, tokens: SessionTokens) -> None:
        self.revoked.add(tokens.reference_number)


class FlakyStore(MemoryStore):
    """A real memory store whose every operation raises StoreError while ``down``."""

    down: bool = False

    def _check(self) -> None:
        if self.down:
            raise StoreError("the store is down (test)")

    def get(self, key: str) -> SessionTokens | None:
        self._check()
        return super().get(key)

    def put(self, key: str, tokens: SessionTokens) -> None:
        self._check()
        super().put(key, tokens)

    def delete(self, key: str) -> None:
        self._check()
        super().delete(key)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        self._check()
        with super().lock(key, timeout) as held:
            yield held


class SessionMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.clock = Clock()
        self._saved = (ksef_auth.session.time, strategy_module._now)
        ksef_auth.session.time = SimpleNamespace(  # type: ignore[assignment]
            time=self.clock, monotonic=time.monotonic, sleep=time.sleep
        )
        strategy_module._now = self.clock  # type: ignore[assignment]
        self.ksef = FakeKsef(self.clock)
        self.store = FlakyStore()
        self.strategy = Strategy(
            name="machine",
            environment=Environment.of("http://127.0.0.1:9/v2"),
            context=ContextIdentifier.nip(NIP),
            credential=TokenSource(TOKEN),
            signer=KsefTokenSigner(),
            store=self.store,
            refresh=RefreshPolicy(store_backoff=1.0),
            manager=PluginManager(autoload=False),
        )
        self.session = self.strategy.session
        self.session.flow = self.ksef  # type: ignore[assignment]
        self.ksef.on_login = self._check_login_allowed
        self.login_allowed = False
        self.logins_in_call = 0

    def teardown(self) -> None:
        ksef_auth.session.time, strategy_module._now = self._saved  # type: ignore[assignment]

    # --- what the rules allow ---------------------------------------------------------------

    def _needs_login(self) -> bool:
        """The rules: log in only without a session, or when it cannot be refreshed (revoked,
        refresh token dead or in its last half / hour, or KSeF about to say so)."""
        current = self.session.current()
        if current is None or current.refresh_token is None:
            return True
        if current.reference_number in self.ksef.revoked:
            return True
        left = current.refresh_token.valid_until.timestamp() - self.clock.now
        lifetime = current.refresh_token.valid_until.timestamp() - current.obtained_at.timestamp()
        policy = self.strategy.refresh
        if left <= min(policy.relogin_before_refresh_expiry, 0.5 * lifetime):
            return True
        return any(isinstance(f, SessionInvalid) for f in self.ksef.refresh_failures[:1])

    def _check_login_allowed(self) -> None:
        assert self.login_allowed, "a login although the session could be refreshed or reused"
        self.logins_in_call += 1
        assert self.logins_in_call == 1, "more than one login in one call"

    def _call(self, fn: Any) -> str | None:
        self.login_allowed = self._needs_login()
        self.logins_in_call = 0
        try:
            result = fn()
        except KsefAuthError:
            return None  # typed; an injected failure the caller must see
        finally:
            self.login_allowed = False
        token = result if isinstance(result, str) else result.access_token.value.reveal()
        until = self.ksef.issued[token]
        assert until > self.clock.now, f"handed out a token expired {self.clock.now - until} s ago"
        return token

    # --- rules ------------------------------------------------------------------------------

    @rule(seconds=st.floats(min_value=0, max_value=1200, allow_nan=False))
    def time_passes(self, seconds: float) -> None:
        self.clock.now += seconds

    @rule()
    def token(self) -> None:
        self._call(self.session.token)

    @rule()
    def token_through_the_strategy(self) -> None:
        self._call(self.strategy.token)

    @rule()
    def explicit_refresh(self) -> None:
        self._call(self.session.refresh)

    @rule(kind=st.sampled_from(["transient", "invalid"]))
    def next_refresh_fails(self, kind: str) -> None:
        error: Exception = (
            KsefError("503 (test)", http_status=503)
            if kind == "transient"
            else SessionInvalid("21301 (test)", http_status=400, code=21301)
        )
        self.ksef.refresh_failures.append(error)

    @rule()
    def next_login_fails(self) -> None:
        self.ksef.login_failures.append(KsefError("503 (test)", http_status=503))

    @precondition(lambda self: self.session.current() is not None)
    @rule()
    def ksef_revokes_the_session(self) -> None:
        current = self.session.current()
        assert current is not None
        self.ksef.revoked.add(current.reference_number)

    @rule(down=st.booleans())
    def store_outage(self, down: bool) -> None:
        self.store.down = down

    @invariant()
    def the_memory_holds_a_session_of_this_context(self) -> None:
        current = self.session.current()
        assert current is None or current.context == self.strategy.context


SessionMachine.TestCase.settings = settings(
    max_examples=60, stateful_step_count=40, deadline=None, derandomize=True
)
TestSessionMachine = SessionMachine.TestCase
