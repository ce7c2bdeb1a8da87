"""SessionManager: the one place that decides to reuse, refresh or log in.

**Hot path.** The current session lives in one attribute, ``_near``: a tuple of
``(advisory_at, access token, mandatory_at, SessionTokens, store key)`` replaced as a whole, so
a reader never sees half of an update. While ``time.time() < advisory_at``, :meth:`token` is that
comparison and a tuple index: no store, no hook, no lock, no I/O.

**Windows.** ``RefreshPolicy.windows(lifetime)`` gives, for each access token (lifetime =
``validUntil`` - the moment it was obtained), the seconds before expiry at which the advisory and
the mandatory window open. In the advisory window the first caller to get the lock (without
waiting for it) refreshes while every other caller keeps the current token; if that refresh
fails, the old token stays and the failure is logged and observed. In the mandatory window every
caller waits for the new token.

**Refresh or log in.** A session with a live refresh token is refreshed. One whose refresh token
is missing (challenge-HMAC sessions), expired, revoked (``SessionInvalid``) or closer to its end
than ``relogin_before_refresh_expiry`` (at most half the refresh token's lifetime, so short-lived
test tokens do not re-login every time) is replaced by a new login from the credential.

**Keys.** Sessions are stored under ``"{base_url}|{type}:{value}|{credential fingerprint}"``.
The credential is loaded on the slow path only (to learn its fingerprint), so a rotated token
starts a new session while the old one lives out its time. If loading fails while a session is
known, the known key is kept and a refresh can still succeed.

**Single flight.** Threads: a per-manager ``threading.Lock`` and a second look after taking it;
callers that waited on the lock while a renewal failed get that failure instead of each trying
again (no stampede on KSeF while it answers 429 or 5xx).
Processes: ``store.lock(key, timeout)`` around the work, and the store is read again once the
lock is held (another process may have done the work). asyncio: :meth:`atoken` answers from the
same near cache; on the slow path the tasks of one event loop share one future per manager,
whose work runs the *sync* slow path in ``asyncio.to_thread``. Running the one slow path in a
worker thread (rather than a second, async implementation of the protocol) means threads and
tasks together still make exactly one login, and nothing blocks the event loop: the thread lock
is only ever taken off-loop.

**Store failures.** A store that fails (``StoreError``: Redis down or hung, a file that cannot
be written) is skipped for ``refresh.store_backoff`` seconds by its breaker
(:mod:`ksef_auth.breaker`, logged once per outage), so a renewal pays at most one store timeout
and sessions stay in the process meanwhile. A lock the failing store cannot give is treated as
``refresh.lock_failure`` says: ``"proceed"`` (fail-open, the default) or ``"fail"``
(fail-closed: the renewal raises the ``StoreError``).

**Fail fast.** When KSeF refuses the credential itself (final status 415, 450, 460, 470, 480),
further logins with the same credential fingerprint raise :class:`CredentialRejected` at once
until the fingerprint changes or ``rejection_backoff`` seconds pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth.breaker import breaker_for
from ksef_auth.errors import (
    AuthenticationFailed,
    ConfigError,
    CredentialError,
    CredentialRejected,
    KsefAuthError,
    NoSession,
    SessionInvalid,
    StoreError,
)
from ksef_auth.events import SessionEvent
from ksef_auth.flow import REJECTION_STATUSES, AuthSession, LoginFlow
from ksef_auth.model import Credential, SessionTokens
from ksef_auth.pacing import pacer_for
from ksef_auth.strategy import CredentialRotation
from ksef_auth.system_warnings import SystemWarning
from ksef_auth.transport import Transport

if TYPE_CHECKING:
    import asyncio

    from ksef_auth.strategy import Strategy

log = logging.getLogger("ksef_auth.session")

# (advisory_at, access token, mandatory_at, tokens, key)
_Near = tuple[float, str, float, SessionTokens | None, str | None]
_EMPTY: _Near = (0.0, "", 0.0, None, None)


def _near_of(tokens: SessionTokens, key: str, strategy: Strategy) -> _Near:
    expires = tokens.access_token.valid_until.timestamp()
    start = (tokens.refreshed_at or tokens.obtained_at).timestamp()
    advisory, mandatory = strategy.refresh.windows(max(expires - start, 1e-3))
    return (
        expires - advisory,
        tokens.access_token.value.reveal(),
        expires - mandatory,
        tokens,
        key,
    )


@attrs.frozen
class _Slot:
    """One credential a renewal may use: its role in a rotation ("" without one), the
    credential or why it cannot be loaded, and its store key (None when it cannot be loaded)."""

    role: str
    credential: Credential | None
    error: CredentialError | None
    key: str | None


@attrs.frozen
class CredentialState:
    """What the session manager knows of one credential (see
    :meth:`SessionManager.credential_states`). Holds no secret."""

    role: str
    """``primary`` or ``secondary`` in a rotation, else ``""``."""
    fingerprint: str | None
    state: str
    """``usable``, ``rejected`` (KSeF refused its last login: tried again after ``retry_at``)
    or ``unavailable`` (cannot be loaded here)."""
    code: int | None = None
    error: str = ""
    retry_at: float | None = None
    in_use: bool = False
    """The session in memory was made with this credential."""
    session: str | None = None
    """The reference number of the session kept in the store for this credential, if any."""


class SessionManager:
    """Hands out valid access tokens for one strategy, logging in and refreshing as needed."""

    def __init__(self, strategy: Strategy) -> None:
        # Not the credential: a kept session is shown, refreshed and revoked without it (after
        # a rotation, or with its variable unset); each login loads it and reports its problems.
        strategy.check(credential=False)
        self.strategy = strategy
        self.policy = strategy.refresh
        transport = Transport(
            strategy.environment,
            policy=strategy.http,
            pacer=pacer_for(strategy.store),
            on_warning=self._system_warning,
        )
        self.flow = LoginFlow(
            strategy.environment,
            strategy.signer,
            transport=transport,
            poll_deadline=strategy.refresh.poll_deadline,
            poll_first_delay=strategy.refresh.poll_first_delay,
            poll_interval=strategy.refresh.poll_interval,
        )
        self._near: _Near = _EMPTY
        self._lock = threading.Lock()
        self._bad_access: str | None = None
        self._failure: tuple[float, Exception] | None = None
        self._rejected: dict[str, tuple[float, AuthenticationFailed]] = {}
        self._fallback_since: float | None = None  # the primary of a rotation is not usable
        self._tasks: dict[asyncio.AbstractEventLoop, tuple[asyncio.Task[str], bool]] = {}
        self._breaker = breaker_for(strategy.store)
        self._breaker.pause = self.policy.store_backoff  # for the store's own helpers' failures
        self.logins = 0
        """Logins this manager made (a session adopted from the store is none of them)."""

    # --- the hot path ---------------------------------------------------------------------------

    def token(self) -> str:
        """A valid access token (from memory while it is fresh)."""
        near = self._near
        if time.time() < near[0]:
            return near[1]
        return self._slow_token()

    async def atoken(self) -> str:
        """The async twin of :meth:`token`; the slow path runs in a worker thread."""
        near = self._near
        if time.time() < near[0]:
            return near[1]
        while True:
            near = self._near
            if time.time() < near[2]:
                if not self._lock.locked():  # nobody is renewing yet: do it in the background
                    self._spawn(advisory=True)
                return near[1]
            task, advisory = self._spawn(advisory=False)
            token = await _asyncio().shield(task)
            if not advisory:
                return token

    # --- the slow path (sync) -------------------------------------------------------------------

    def _slow_token(self) -> str:
        near = self._near
        if time.time() < near[2]:  # advisory window: one caller refreshes, nobody waits
            if self._lock.acquire(blocking=False):
                try:
                    self._advisory_renew()
                finally:
                    self._lock.release()
                current = self._near
                return current[1] if time.time() < current[2] else self._slow_token()
            return near[1]
        arrived = time.monotonic()
        with self._lock:
            if time.time() >= self._near[2]:
                failure = self._failure
                if failure is not None and failure[0] >= arrived:
                    raise failure[1]  # it failed while we waited: share the outcome
                try:
                    self._renew(advisory=False)
                except Exception as exc:
                    self._failure = (time.monotonic(), exc)
                    raise
            return self._near[1]

    def _advisory_renew(self) -> None:
        if time.time() < self._near[0]:
            return  # someone else just did it
        try:
            self._renew(advisory=True)
        except Exception as exc:  # keep the current token; it is still good for a while
            log.warning("advisory refresh of %s failed; keeping the current token: %s", self, exc)
            if isinstance(exc, KsefAuthError):
                self._emit("authentication_failed", self._near[3], str(exc), error=exc)

    def _renew(self, *, advisory: bool) -> None:
        """Reuse, refresh or log in, with the primary credential and, when KSeF refuses it as
        not usable, the secondary. Called with ``self._lock`` held."""
        slots = self._slots()
        if self._secondary_lately(slots):
            slots = slots[1:]
        for index, slot in enumerate(slots):
            last = index == len(slots) - 1
            if slot.key is None:  # this credential cannot be loaded now
                if last:
                    assert slot.error is not None
                    raise slot.error
                self._fall_back(slot, slots[index + 1], slot.error)
                continue
            try:
                self._renew_with(slot, advisory)
            except (AuthenticationFailed, CredentialRejected) as exc:
                refused = isinstance(exc, CredentialRejected) or exc.code in REJECTION_STATUSES
                if last or not refused:
                    raise
                self._fall_back(slot, slots[index + 1], exc)
                continue
            if slot.role == "primary" and self._fallback_since is not None:
                self._fallback_since = None
                log.info("%s: the primary credential works again", self)
            return

    def _renew_with(self, slot: _Slot, advisory: bool) -> None:
        key = slot.key
        assert key is not None
        if self._adopt_stored(key, advisory):
            return
        timeout = 0.0 if advisory else self.policy.lock_timeout
        with self._store_lock(key, timeout) as held:
            if not held and advisory:
                return  # another process is renewing this session
            if self._adopt_stored(key, advisory):
                return
            near = self._near
            tokens = near[3] if near[4] == key else self._store_get(key)
            fresh = self._refresh_or_login(tokens, slot.credential, slot.error)
            self._keep(key, fresh)

    def _slots(self) -> list[_Slot]:
        """The credentials this renewal may use, in order: the strategy's one, or a rotation's
        primary then secondary."""
        source = self.strategy.credential
        if not isinstance(source, CredentialRotation):
            credential, error, key = self._credential_and_key()
            return [_Slot("", credential, error, key)]
        request = self.strategy.credential_request
        slots = []
        for role in source.roles:
            try:
                credential = source.source(role).load(request)
            except CredentialError as exc:
                slots.append(_Slot(role, None, exc, None))
            else:
                slots.append(_Slot(role, credential, None, self.key_for(credential.fingerprint)))
        if all(slot.key is None for slot in slots) and self._near[4] is not None:
            # neither loads now, but the session in memory may still be refreshed
            slots = [_Slot(slots[-1].role, None, slots[-1].error, self._near[4])]
        return slots

    def _secondary_lately(self, slots: list[_Slot]) -> bool:
        """A rotation whose latest session is the secondary's, made or refreshed less than
        ``rejection_backoff`` ago, while the primary has none: another process (or an earlier
        run) fell back, so the primary is not tried again before its backoff ends (shared
        through the store, so 40 workers or a CLI in a loop do not each try it)."""
        if len(slots) != 2 or slots[0].key is None or slots[1].credential is None:
            return False
        if slots[0].credential is not None and slots[0].credential.fingerprint in self._rejected:
            return False  # this process knows: _login says when to try it again
        latest = self._store_get(self.latest_key)
        if latest is None or latest.credential_fingerprint != slots[1].credential.fingerprint:
            return False
        if self._store_get(slots[0].key) is not None:
            return False
        since = (latest.refreshed_at or latest.obtained_at).timestamp()
        return time.time() - since < self.policy.rejection_backoff

    def _fall_back(self, primary: _Slot, secondary: _Slot, reason: Exception | None) -> None:
        """The primary is not usable: say so once per episode, then the secondary is tried."""
        if self._fallback_since is not None:
            return
        self._fallback_since = time.time()
        rejected = primary.credential.fingerprint if primary.credential else ""
        using = secondary.credential.fingerprint if secondary.credential else ""
        detail = (
            f"the primary credential {rejected[:20] or '(not loaded)'} is not usable"
            f" ({reason}); using the secondary {using[:20] or '(not loaded)'} until the primary"
            f" works (tried again after {self.policy.rejection_backoff:g} s)"
        )
        log.warning("%s: %s", self, detail)
        self._emit(
            "credential_fallback",
            None,
            detail,
            credential_fingerprint=using,
            rejected_fingerprint=rejected,
        )

    def credential_states(self) -> list[CredentialState]:
        """Each credential this strategy may log in with (primary and secondary for a rotation)
        and what is known of it here: loads, rejected by KSeF (with the code, until when), and
        whether the session in memory came from it. Loads the credentials; no network."""
        source = self.strategy.credential
        roles: list[tuple[str, Any]] = (
            [(role, source.source(role)) for role in source.roles]
            if isinstance(source, CredentialRotation)
            else [("", source)]
        )
        current = self._near[3]
        states = []
        request = attrs.evolve(self.strategy.credential_request, purpose="check")
        for role, part in roles:
            try:
                fingerprint = part.load(request).fingerprint
            except CredentialError as exc:
                states.append(CredentialState(role, None, "unavailable", error=str(exc)))
                continue
            rejected = self._rejected.get(fingerprint)
            in_use = current is not None and current.credential_fingerprint == fingerprint
            kept = self._store_get(self.key_for(fingerprint))
            session = kept.reference_number if kept is not None else None
            if rejected is not None:  # the last login with it was refused (retried after retry_at)
                cause = rejected[1]
                states.append(
                    CredentialState(
                        role,
                        fingerprint,
                        "rejected",
                        code=cause.code,
                        error=cause.description or str(cause),
                        retry_at=rejected[0],
                        in_use=in_use,
                        session=session,
                    )
                )
            else:
                states.append(
                    CredentialState(role, fingerprint, "usable", in_use=in_use, session=session)
                )
        return states

    def credential_role(self, tokens: SessionTokens) -> str | None:
        """``primary`` or ``secondary``: which credential of the rotation made ``tokens``
        (loading both credentials, no network); ``""`` without a rotation, None when neither
        loads here or neither made it (an earlier credential's session)."""
        source = self.strategy.credential
        if not isinstance(source, CredentialRotation):
            return ""
        request = attrs.evolve(self.strategy.credential_request, purpose="check")
        for role in source.roles:
            try:
                if source.source(role).load(request).fingerprint == tokens.credential_fingerprint:
                    return role
            except CredentialError:
                continue
        return None

    def revoke_credential(self, role: str) -> SessionTokens | None:
        """End the session kept for the rotation's ``role`` credential (``primary`` or
        ``secondary``) at KSeF and forget it here: the last step of a rotation, once the old
        credential's sessions are no longer wanted. Loads that credential (to find its session;
        no login). Returns the session ended, None when none was kept."""
        source = self.strategy.credential
        if not isinstance(source, CredentialRotation) or role not in source.roles:
            raise ConfigError(
                f"strategy {self.strategy.name!r} has no {role!r} credential: only a rotation"
                " (credential = { primary = ..., secondary = ... }) has primary and secondary",
                key="credential",
            )
        request = attrs.evolve(self.strategy.credential_request, purpose="check")
        key = self.key_for(source.source(role).load(request).fingerprint)
        with self._lock:
            tokens = self._store_get(key)
            if tokens is None:
                return None
            try:
                live = tokens
                if tokens.access_token.valid_until.timestamp() <= time.time() + 5:
                    live = self.flow.refresh(tokens)  # its access token is needed to end it
                self.flow.revoke(live)
            except SessionInvalid as exc:
                log.info("session was already gone at KSeF: %s", exc)
            self._emit("session_revoked", tokens)
            self._store_delete(key)
            latest = self._store_get(self.latest_key)
            if latest is not None and latest.reference_number == tokens.reference_number:
                self._store_delete(self.latest_key)
            if self._near[4] == key:
                self._near = _EMPTY
            return tokens

    def _credential_and_key(self) -> tuple[Credential | None, CredentialError | None, str]:
        try:
            credential = self.strategy.load_credential()
        except CredentialError as exc:
            known = self._near[4]
            if known is None:
                raise
            return None, exc, known  # a refresh may still work without the credential
        return credential, None, self.key_for(credential.fingerprint)

    def key_for(self, fingerprint: str) -> str:
        """The store key of this strategy's session for a credential fingerprint."""
        s = self.strategy
        return f"{s.environment.base_url}|{s.context.type}:{s.context.value}|{fingerprint}"

    @property
    def latest_key(self) -> str:
        """The store key under which this strategy's latest session is also kept, whatever the
        credential: what :meth:`stored` and :meth:`revoke` find without loading the credential
        (after a rotation, or with its variable unset). It holds the strategy's name, so two
        profiles of one context never take each other's session for their own."""
        return self.key_for(f"latest:{self.strategy.name}")

    def _keep(self, key: str, tokens: SessionTokens) -> None:
        self._store_put(key, tokens)
        self._store_put(self.latest_key, tokens)
        self._near = _near_of(tokens, key, self.strategy)

    def _usable(self, tokens: SessionTokens | None, key: str, advisory: bool) -> bool:
        if tokens is None or tokens.access_token.value.reveal() == self._bad_access:
            return False
        near = _near_of(tokens, key, self.strategy)
        return time.time() < (near[0] if advisory else near[2])

    def _adopt_stored(self, key: str, advisory: bool) -> bool:
        stored = self._store_get(key)
        if stored is None or not self._usable(stored, key, advisory):
            return False
        self._near = _near_of(stored, key, self.strategy)
        return True

    def _refresh_or_login(
        self,
        tokens: SessionTokens | None,
        credential: Credential | None,
        load_error: CredentialError | None,
    ) -> SessionTokens:
        if tokens is not None:
            reason = self._relogin_reason(tokens)
            if reason is None:
                try:
                    fresh = self.flow.refresh(tokens)
                except SessionInvalid as exc:
                    reason = str(exc)
                except KsefAuthError as exc:
                    self._emit("authentication_failed", tokens, str(exc), error=exc)
                    raise
                else:
                    self._bad_access = None
                    self._emit("session_refreshed", fresh)
                    return fresh
            self._emit("session_expired", tokens, reason)
        if credential is None:
            assert load_error is not None
            raise load_error
        return self._login(credential)

    def _relogin_reason(self, tokens: SessionTokens) -> str | None:
        refresh = tokens.refresh_token
        if refresh is None:
            return "the session has no refresh token"
        left = refresh.valid_until.timestamp() - time.time()
        lifetime = refresh.valid_until.timestamp() - tokens.obtained_at.timestamp()
        if left <= min(self.policy.relogin_before_refresh_expiry, 0.5 * lifetime):
            return f"the refresh token ends in {max(left, 0):.0f} s"
        return None

    def _login(self, credential: Credential) -> SessionTokens:
        fingerprint = credential.fingerprint
        rejected = self._rejected.get(fingerprint)
        if rejected is not None:
            retry_at, cause = rejected
            if time.time() < retry_at:
                raise CredentialRejected(
                    f"KSeF rejected this credential (status {cause.code}: {cause.description});"
                    f" not trying it again for {retry_at - time.time():.0f} s. Fix or replace the"
                    " credential (a new one is tried at once) or wait",
                    retry_at=retry_at,
                    cause=cause,
                )
            del self._rejected[fingerprint]
        self._emit("login_started", None, credential_fingerprint=fingerprint)
        try:
            tokens = self.flow.login(credential, self.strategy.context)
        except AuthenticationFailed as exc:
            if exc.code in REJECTION_STATUSES:
                self._rejected[fingerprint] = (time.time() + self.policy.rejection_backoff, exc)
            self._emit(
                "authentication_failed",
                None,
                str(exc),
                error=exc,
                credential_fingerprint=fingerprint,
            )
            raise
        except KsefAuthError as exc:
            self._emit(
                "authentication_failed",
                None,
                str(exc),
                error=exc,
                credential_fingerprint=fingerprint,
            )
            raise
        self._bad_access = None
        self.logins += 1
        self._emit("session_opened", tokens)
        return tokens

    # --- asyncio: one shared task per event loop -------------------------------------------------

    def _spawn(self, *, advisory: bool) -> tuple[asyncio.Task[str], bool]:
        asyncio = _asyncio()
        loop = asyncio.get_running_loop()
        running = self._tasks.get(loop)
        if running is not None and not running[0].done():
            return running
        work = self._advisory_in_thread if advisory else self._slow_token
        task = loop.create_task(asyncio.to_thread(work))
        entry = (task, advisory)
        self._tasks[loop] = entry
        task.add_done_callback(lambda t: self._task_done(loop, entry))
        return entry

    def _task_done(self, loop: asyncio.AbstractEventLoop, entry: tuple[Any, bool]) -> None:
        if self._tasks.get(loop) is entry:
            del self._tasks[loop]
        task = entry[0]
        if not task.cancelled():
            task.exception()  # retrieved here, re-raised to every awaiter

    def _advisory_in_thread(self) -> str:
        if self._lock.acquire(blocking=False):
            try:
                self._advisory_renew()
            finally:
                self._lock.release()
        return self._near[1]

    # --- explicit operations --------------------------------------------------------------------

    def login(self) -> SessionTokens:
        """Log in now, whatever is cached, and make the new session current."""
        with self._lock:
            slots = self._slots()
            for index, slot in enumerate(slots):
                last = index == len(slots) - 1
                if slot.credential is None or slot.key is None:
                    if last:
                        assert slot.error is not None
                        raise slot.error
                    self._fall_back(slot, slots[index + 1], slot.error)
                    continue
                with self._store_lock(slot.key, self.policy.lock_timeout):
                    try:
                        tokens = self._login(slot.credential)
                    except (AuthenticationFailed, CredentialRejected) as exc:
                        refused = isinstance(exc, CredentialRejected) or (
                            exc.code in REJECTION_STATUSES
                        )
                        if last or not refused:
                            raise
                        self._fall_back(slot, slots[index + 1], exc)
                        continue
                    self._keep(slot.key, tokens)
                if slot.role == "primary" and self._fallback_since is not None:
                    self._fallback_since = None
                    log.info("%s: the primary credential works again", self)
                return tokens
            raise AssertionError("unreachable: the last slot returns or raises")

    def refresh(self) -> SessionTokens:
        """Renew the access token now (logging in again when the session cannot be refreshed)."""
        with self._lock:
            self._bad_access = self._near[1] or None
            self._near = (0.0, "", 0.0, self._near[3], self._near[4])
            self._renew(advisory=False)
            tokens = self._near[3]
            assert tokens is not None
            return tokens

    def current(self) -> SessionTokens | None:
        """The session in memory, if any (no network, no credential loading)."""
        return self._near[3]

    def invalidate(self, access_token: str) -> None:
        """Forget ``access_token`` if it is still the current one (KSeF answered 401 to it); the
        next :meth:`token` refreshes or logs in. Lock-free: safe inside an event loop."""
        near = self._near
        if near[1] and near[1] == access_token:
            self._bad_access = access_token
            self._near = (0.0, "", 0.0, near[3], near[4])

    def stored(self) -> SessionTokens | None:
        """The session kept for this context (in memory, else in the store), found without
        the credential, with no network call; None when there is none. A session found in the
        store becomes the current one, so :meth:`token` can refresh it even when the credential
        cannot be loaded now. Expired sessions are returned too: the caller decides."""
        with self._lock:
            near = self._near
            if near[3] is not None:
                return near[3]
            tokens = self._store_get(self.latest_key)
            if tokens is None:  # kept before the latest entry existed: the credential's key
                try:
                    credential = self.strategy.load_credential(purpose="check")
                except CredentialError:
                    return None
                tokens = self._store_get(self.key_for(credential.fingerprint))
            if tokens is not None:
                key = self.key_for(tokens.credential_fingerprint)
                self._near = _near_of(tokens, key, self.strategy)
            return tokens

    def revoke(self) -> None:
        """End the session at KSeF (``DELETE /auth/sessions/current``) and forget it here.
        Needs no credential: the session is found as :meth:`stored` finds it."""
        tokens = self.stored()
        with self._lock:
            if tokens is not None:
                try:
                    self.flow.revoke(tokens)
                except SessionInvalid as exc:
                    log.info("session was already gone at KSeF: %s", exc)
                self._emit("session_revoked", tokens)
                self._store_delete(self.key_for(tokens.credential_fingerprint))
            self._store_delete(self.latest_key)
            self._near = _EMPTY

    logout = revoke

    def live(self, *, login: bool = False) -> SessionTokens:
        """The stored session with a valid access token, refreshed when needed, but never a new
        login unless ``login`` is True. Raises :class:`NoSession` when no session is kept, or
        the kept one can no longer be refreshed (then logging in is the only way)."""
        if login:
            self.token()
            tokens = self._near[3]
            assert tokens is not None
            return tokens
        tokens = self.stored()
        where = f"{self.strategy.context} (strategy {self.strategy.name})"
        if tokens is None:
            raise NoSession(f"no session of {where} is kept; log in first")
        with self._lock:
            near = self._near
            if near[3] is not None and time.time() < near[2]:
                return near[3]
            tokens = near[3] or tokens
            try:
                fresh = self.flow.refresh(tokens)
            except SessionInvalid as exc:
                raise NoSession(
                    f"the kept session {tokens.reference_number} of {where} has ended ({exc})"
                ) from None
            self._emit("session_refreshed", fresh)
            self._keep(self.key_for(fresh.credential_fingerprint), fresh)
            return fresh

    def revoke_session(self, reference: str) -> None:
        """End the context's session ``reference`` (``DELETE /auth/sessions/{reference}``),
        authorized by the kept session (never logging in: :class:`NoSession` without one); the
        kept session itself when it has that reference number (then as :meth:`revoke`)."""
        current = self.live()
        if current.reference_number == reference:
            self.revoke()
            return
        self.flow.revoke_session(current, reference)
        self._emit(
            "session_revoked", None, f"session {reference}, through {current.reference_number}"
        )

    def sessions(self, *, login: bool = True) -> list[AuthSession]:
        """The context's authentication sessions as KSeF lists them. Logs in when no session
        is kept, unless ``login`` is False (then :class:`NoSession`)."""
        return self.flow.list_sessions(self.live(login=login))

    async def alogin(self) -> SessionTokens:
        return await _asyncio().to_thread(self.login)

    async def arefresh(self) -> SessionTokens:
        return await _asyncio().to_thread(self.refresh)

    async def arevoke(self) -> None:
        await _asyncio().to_thread(self.revoke)

    alogout = arevoke

    async def asessions(self) -> list[AuthSession]:
        await self.atoken()
        return await _asyncio().to_thread(self.sessions)

    # --- store access ----------------------------------------------------------------------------
    # A failing store degrades to a per-process session: its StoreError is logged (once per
    # outage, by the store's breaker) and the store is skipped for refresh.store_backoff seconds,
    # so a hung store costs one renewal at most one store timeout (see ksef_auth.breaker). A lock
    # the store cannot give is handled as refresh.lock_failure says: "proceed" (fail-open: renew
    # without it) or "fail" (fail-closed: raise the StoreError).

    def _store_get(self, key: str) -> SessionTokens | None:
        if self._breaker.skipping():
            return None
        try:
            tokens = self.strategy.store.get(key)
        except StoreError as exc:
            self._breaker.failed(exc, self.policy.store_backoff)
            return None
        self._breaker.succeeded()
        return tokens

    def _store_put(self, key: str, tokens: SessionTokens) -> None:
        if self._breaker.skipping():
            return
        try:
            self.strategy.store.put(key, tokens)
        except StoreError as exc:
            self._breaker.failed(exc, self.policy.store_backoff)
            return
        self._breaker.succeeded()

    def _store_delete(self, key: str) -> None:
        if self._breaker.skipping():
            log.warning(
                "session store %s is being skipped after a failure: the session was not deleted"
                " from it",
                self._breaker.name,
            )
            return
        try:
            self.strategy.store.delete(key)
        except StoreError as exc:
            self._breaker.failed(exc, self.policy.store_backoff)
            log.warning("session store delete failed: %s", exc)
            return
        self._breaker.succeeded()

    @contextmanager
    def _store_lock(self, key: str, timeout: float) -> Iterator[bool]:
        """The store's lock on ``key``: True when held (or, failing open, when the store cannot
        give it), False when another holder kept it for ``timeout`` seconds."""
        stack = ExitStack()
        if self._breaker.skipping():
            held = self._without_lock(None)
        else:
            try:
                held = bool(stack.enter_context(self.strategy.store.lock(key, timeout)))
            except StoreError as exc:
                self._breaker.failed(exc, self.policy.store_backoff)
                held = self._without_lock(exc)
            else:
                self._breaker.succeeded()
        try:
            yield held
        finally:
            try:
                stack.close()  # releases the store's lock
            except StoreError as exc:
                self._breaker.failed(exc, self.policy.store_backoff)

    def _without_lock(self, error: StoreError | None) -> bool:
        """The store failed to give its lock: go on as if held (fail-open) or raise."""
        if self.policy.lock_failure == "fail":
            why = str(error) if error is not None else "it failed a moment ago and is skipped"
            raise StoreError(
                f'cannot take the session store\'s lock ({why}); refresh.lock_failure = "fail"'
                " forbids renewing without it: retry when the store answers, or set"
                ' lock_failure = "proceed"'
            )
        log.debug("renewing %s without the store's lock (lock_failure = proceed)", self)
        return True

    # --- events ---------------------------------------------------------------------------------

    def _system_warning(self, warning: SystemWarning) -> None:
        """KSeF's ``X-System-Warning`` (new to this process): the ``system_warning`` event."""
        self._emit("system_warning", self._near[3], str(warning))

    def _emit(
        self,
        name: str,
        tokens: SessionTokens | None,
        detail: str = "",
        *,
        error: KsefAuthError | None = None,
        credential_fingerprint: str | None = None,
        rejected_fingerprint: str | None = None,
    ) -> None:
        s = self.strategy
        try:
            from ksef_auth.manager import default_manager

            observers = (s.manager or default_manager()).observers
            event = SessionEvent(
                name=name,
                strategy=s.name,
                environment=s.environment,
                context=s.context,
                method=getattr(s.signer, "method", ""),
                credential_fingerprint=credential_fingerprint
                or (tokens.credential_fingerprint if tokens else ""),
                reference_number=tokens.reference_number if tokens else None,
                detail=detail,
                rejected_fingerprint=rejected_fingerprint,
            )
            if error is not None:
                observers.emit(event, error=error)
            else:
                observers.emit(event)
        except Exception:  # observers must never break authentication
            log.exception("could not emit %s", name)

    def __repr__(self) -> str:
        s = self.strategy
        return f"SessionManager({s.name!r}, {s.context}, {s.environment.base_url})"


def _asyncio() -> Any:
    """asyncio, imported on first async use (sync programs never pay for it)."""
    import asyncio

    return asyncio


__all__ = ["SessionManager"]
