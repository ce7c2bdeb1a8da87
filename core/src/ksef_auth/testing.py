"""Conformance kit for plugin authors: prove a session store, a credential source or a rate
limiter keeps the contract with one subclass.

::

    from ksef_auth.testing import SessionStoreContract

    class TestMyStore(SessionStoreContract):
        @pytest.fixture
        def store(self):
            return MyStore(...)

``make_tokens()`` builds realistic ``SessionTokens`` for tests. Import pytest only here.
"""

from __future__ import annotations

import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from ksef_auth.errors import CredentialError, NotAvailable
from ksef_auth.model import ContextIdentifier, CredentialRequest, SessionTokens, Token
from ksef_auth.secret import Secret


def make_tokens(
    *,
    nip: str = "5261040828",
    access_ttl: float = 900.0,
    refresh_ttl: float | None = 7 * 86400.0,
    environment: str = "http://127.0.0.1:1/v2",
) -> SessionTokens:
    """Session tokens with unique token values, valid from now."""
    now = datetime.now(UTC)
    unique = uuid.uuid4().hex
    refresh = (
        Token(f"refresh-{unique}", now + timedelta(seconds=refresh_ttl))
        if refresh_ttl is not None
        else None
    )
    return SessionTokens(
        access_token=Token(f"access-{unique}", now + timedelta(seconds=access_ttl)),
        refresh_token=refresh,
        reference_number="20250101-AU-0000000000-0000000000-00",
        context=ContextIdentifier.nip(nip),
        environment=environment,
        credential_fingerprint="tok:" + unique[:16],
        method="ksef-token",
        obtained_at=now,
    )


class SessionStoreContract:
    """Tests every session store must pass. Subclass and provide a ``store`` fixture."""

    @pytest.fixture
    def store(self) -> Any:
        raise NotImplementedError("provide a `store` fixture returning a fresh store")

    @pytest.fixture
    def key(self) -> str:
        return f"http://127.0.0.1:1/v2|Nip:5261040828|tok:{uuid.uuid4().hex[:16]}"

    def test_missing_key_is_none(self, store: Any, key: str) -> None:
        assert store.get(key) is None

    def test_put_then_get_round_trips(self, store: Any, key: str) -> None:
        tokens = make_tokens()
        store.put(key, tokens)
        got = store.get(key)
        assert got is not None
        assert got.access_token.value == tokens.access_token.value
        assert got.refresh_token == tokens.refresh_token
        assert got.context == tokens.context
        assert got.reference_number == tokens.reference_number
        assert got.credential_fingerprint == tokens.credential_fingerprint

    def test_put_replaces(self, store: Any, key: str) -> None:
        store.put(key, make_tokens())
        newer = make_tokens()
        store.put(key, newer)
        got = store.get(key)
        assert got is not None and got.access_token.value == newer.access_token.value

    def test_delete_forgets_and_tolerates_missing(self, store: Any, key: str) -> None:
        store.put(key, make_tokens())
        store.delete(key)
        assert store.get(key) is None
        store.delete(key)  # deleting again is not an error

    def test_keys_are_independent(self, store: Any, key: str) -> None:
        a, b = make_tokens(nip="5261040828"), make_tokens(nip="1234563218")
        store.put(key, a)
        store.put(key + "-other", b)
        got_a, got_b = store.get(key), store.get(key + "-other")
        assert got_a is not None and got_b is not None
        assert got_a.context != got_b.context

    def test_fully_expired_session_is_not_returned(self, store: Any, key: str) -> None:
        store.put(key, make_tokens(access_ttl=0.2, refresh_ttl=None))
        time.sleep(1.2)
        assert store.get(key) is None

    def test_lock_excludes_other_holders(self, store: Any, key: str) -> None:
        inside = 0
        overlaps = 0
        guard = threading.Lock()

        def work() -> None:
            nonlocal inside, overlaps
            with store.lock(key, timeout=10) as held:
                assert held
                with guard:
                    inside += 1
                    overlaps += inside > 1
                time.sleep(0.01)
                with guard:
                    inside -= 1

        threads = [threading.Thread(target=work) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert overlaps == 0

    def test_lock_times_out_with_false(self, store: Any, key: str) -> None:
        release = threading.Event()
        taken = threading.Event()

        def holder() -> None:
            with store.lock(key, timeout=5):
                taken.set()
                release.wait(5)

        thread = threading.Thread(target=holder)
        thread.start()
        taken.wait(5)
        started = time.monotonic()
        with store.lock(key, timeout=0.2) as held:
            assert held is False
        assert time.monotonic() - started < 3
        release.set()
        thread.join()

    def test_secrets_not_in_repr(self, store: Any, key: str) -> None:
        tokens = make_tokens()
        store.put(key, tokens)
        assert tokens.access_token.value.reveal() not in repr(store)


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


class CredentialSourceContract:
    """Tests every credential source must pass. Provide ``source`` (configured so that it has a
    credential for ``credential_request``) and ``unavailable_source`` (configured so that it has
    none here). Override ``credential_request`` when the source serves another environment,
    context or signer method."""

    @pytest.fixture
    def source(self) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def unavailable_source(self) -> Any:
        raise NotImplementedError

    @pytest.fixture
    def credential_request(self) -> CredentialRequest:
        """The login the sources are asked for: TEST-like loopback environment, NIP 5261040828."""
        return CredentialRequest.for_login(
            "http://127.0.0.1:1/v2", "5261040828", method="ksef-token", strategy="kit"
        )

    def test_load_returns_a_credential_with_a_fingerprint(
        self, source: Any, credential_request: CredentialRequest
    ) -> None:
        """``load(request)`` returns a credential whose fingerprint identifies it (8+ chars)."""
        credential = source.load(credential_request)
        assert isinstance(credential.fingerprint, str) and len(credential.fingerprint) >= 8

    def test_unavailable_raises_not_available(
        self, unavailable_source: Any, credential_request: CredentialRequest
    ) -> None:
        """A source with nothing here raises ``NotAvailable``, so a chain moves on."""
        with pytest.raises(NotAvailable):
            unavailable_source.load(credential_request)

    def test_no_secret_in_repr_or_errors(
        self, source: Any, credential_request: CredentialRequest
    ) -> None:
        """Neither the credential's nor the source's repr shows the secret."""
        credential = source.load(credential_request)
        for value in vars_of(credential):
            assert value not in repr(credential)
            assert value not in repr(source)

    def test_errors_are_credential_errors(
        self, unavailable_source: Any, credential_request: CredentialRequest
    ) -> None:
        """What ``load`` raises on purpose is a ``CredentialError`` with a message."""
        with pytest.raises(CredentialError) as info:
            unavailable_source.load(credential_request)
        assert str(info.value)


def vars_of(credential: Any) -> list[str]:
    """The secret strings inside a credential (for leak checks)."""
    return [
        value.reveal()
        for value in (getattr(credential, "token", None), getattr(credential, "secret", None))
        if isinstance(value, Secret)
    ]
