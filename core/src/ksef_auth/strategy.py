"""A strategy: how one context authenticates in one environment, and the entry point to its session.

``Strategy`` = environment + context + credential source (or a chain) + signer + session store +
refresh policy. Build one from a strategy file (:func:`ksef_auth.load`) or in code.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from time import time as _now
from typing import TYPE_CHECKING, Any, Literal

import attrs

from ksef_auth.components import CredentialSource, SessionStore, Signer, as_source
from ksef_auth.errors import CredentialChainError, CredentialError, NotAvailable
from ksef_auth.model import (
    ContextIdentifier,
    Credential,
    CredentialRequest,
    Environment,
    Purpose,
)
from ksef_auth.transport import HttpPolicy

if TYPE_CHECKING:
    import httpx

    from ksef_auth.httpx_auth import KsefAuth
    from ksef_auth.manager import PluginManager
    from ksef_auth.session import SessionManager


def _positive(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{attribute.name} must be a number, got {type(value).__name__}")
    if not (value > 0 and math.isfinite(value)):
        raise ValueError(f"{attribute.name} must be a finite number greater than 0, got {value}")


def _fraction(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{attribute.name} must be a number, got {type(value).__name__}")
    if not 0 < value < 1:
        raise ValueError(f"{attribute.name} must be between 0 and 1 (exclusive), got {value}")


LockFailure = Literal["proceed", "fail"]


@attrs.frozen(kw_only=True)
class RefreshPolicy:
    """When the session manager renews tokens. Windows are fractions of each token's own lifetime,
    with floors in seconds, and are never wider than half (advisory) or a quarter (mandatory) of
    the lifetime, so short-lived tokens are not refreshed on every call.

    Defaults, for KSeF's ~15-minute access tokens: advisory refresh when 25 % of the lifetime is
    left (at least 60 s: 225 s before expiry), when one caller refreshes and the others keep
    using the current token; mandatory at 10 % (at least 10 s: 90 s before expiry), when every
    caller waits for the new token, so no request leaves with a token about to die in flight.
    """

    advisory_fraction: float = attrs.field(default=0.25, validator=_fraction)
    advisory_floor: float = attrs.field(default=60.0, validator=_positive)
    mandatory_fraction: float = attrs.field(default=0.10, validator=_fraction)
    mandatory_floor: float = attrs.field(default=10.0, validator=_positive)
    relogin_before_refresh_expiry: float = attrs.field(default=3600.0, validator=_positive)
    """Log in again instead of refreshing when the refresh token has less than this left (s)."""
    rejection_backoff: float = attrs.field(default=300.0, validator=_positive)
    """After KSeF rejects the credential (415, 450, 460, ...), fail fast this long (s)."""
    poll_deadline: float = attrs.field(default=120.0, validator=_positive)
    """The login's deadline (s): the whole login (every attempt, status poll, retry, start-over
    and rate-limit wait) ends within it, with ``DeadlineExceeded`` if need be. A refresh gets
    as long."""
    poll_first_delay: float | None = attrs.field(default=None)
    """Seconds from the submission's answer to the first status poll. None (the default):
    learned, just before the time recent logins to this environment took to be verified."""
    poll_interval: float = attrs.field(default=0.05, validator=_positive)
    """Seconds between status polls after a status 100, growing 1.5x per poll up to 2 s."""
    lock_timeout: float = attrs.field(default=60.0, validator=_positive)
    """How long to wait for another process's login or refresh of the same session (s)."""
    store_backoff: float = attrs.field(default=10.0, validator=_positive)
    """After the session store fails (times out, unreachable), skip it this long (s): one
    renewal pays at most one store timeout; sessions stay in the process meanwhile."""
    lock_failure: LockFailure = attrs.field(
        default="proceed", validator=attrs.validators.in_(("proceed", "fail"))
    )
    """When the store's lock cannot be taken because the store fails: ``"proceed"``
    (fail-open, the default: renew without it; processes may each log in once while the store
    is down) or ``"fail"`` (fail-closed: raise :class:`~ksef_auth.errors.StoreError`; KSeF never
    sees a duplicate login, callers get errors until the store answers)."""

    def __attrs_post_init__(self) -> None:
        if self.poll_first_delay is not None and not self.poll_first_delay >= 0:
            raise ValueError(f"poll_first_delay must be >= 0, got {self.poll_first_delay}")
        if self.mandatory_fraction >= self.advisory_fraction:
            raise ValueError("mandatory_fraction must be smaller than advisory_fraction")

    def windows(self, lifetime: float) -> tuple[float, float]:
        """Seconds before expiry at which the advisory and mandatory windows open."""
        advisory = min(max(self.advisory_fraction * lifetime, self.advisory_floor), 0.5 * lifetime)
        mandatory = min(
            max(self.mandatory_fraction * lifetime, self.mandatory_floor), 0.25 * lifetime
        )
        return advisory, min(mandatory, advisory)


class CredentialChain:
    """Credential sources tried in order. ``NotAvailable`` moves on to the next source; any other
    error stops the chain with one report naming each source and why. The source that worked is
    remembered and tried first next time."""

    def __init__(self, sources: Sequence[tuple[str, CredentialSource]]) -> None:
        if not sources:
            raise ValueError("a credential chain needs at least one source")
        self.sources = [(name, as_source(source)) for name, source in sources]
        self._last_good: dict[ContextIdentifier, int] = {}

    def load(self, request: CredentialRequest) -> Credential:
        """The first credential a source has for ``request``; the source that worked for its
        context is tried first next time."""
        order = list(range(len(self.sources)))
        last_good = self._last_good.get(request.context)
        if last_good is not None:
            order.remove(last_good)
            order.insert(0, last_good)
        attempts: list[tuple[str, str]] = []
        for index in order:
            name, source = self.sources[index]
            try:
                credential = source.load(request)
            except NotAvailable as exc:
                attempts.append((name, f"not available: {exc}"))
                continue
            except CredentialError as exc:
                attempts.append((name, f"{type(exc).__name__}: {exc}"))
                raise CredentialChainError(attempts) from exc
            self._last_good[request.context] = index
            return credential
        raise CredentialChainError(attempts)

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Run every source's ``check``: any error but ``NotAvailable`` fails the chain, and at
        least one source must be available."""
        attempts: list[tuple[str, str]] = []
        available = False
        for name, source in self.sources:
            try:
                run_check(source, environment, context)
            except NotAvailable as exc:
                attempts.append((name, f"not available: {exc}"))
                continue
            except CredentialError as exc:
                attempts.append((name, f"{type(exc).__name__}: {exc}"))
                raise CredentialChainError(attempts) from exc
            available = True
        if not available:
            raise CredentialChainError(attempts)

    def attach(self, strategy: Strategy) -> None:
        """Every source's optional ``attach``: a strategy now uses this chain."""
        for _, source in self.sources:
            run_attach(source, strategy)

    def __repr__(self) -> str:
        return f"CredentialChain({[name for name, _ in self.sources]})"


class CredentialRotation:
    """A primary and a secondary credential, for rotating one without a failed request.

    New logins use the primary. When KSeF refuses it as not usable (a KSeF token still
    ``Pending`` or revoked: 450; a certificate not yet granted in the context: 415; a refused
    certificate: 460), or it cannot be loaded, the session manager uses the secondary for that
    login, fires ``credential_fallback`` once per episode, and tries the primary again after
    ``RefreshPolicy.rejection_backoff``. Sessions made with either live until they expire. In a
    strategy file::

        credential = { primary = { use = "env", var = "KSEF_TOKEN_NEW" },
                       secondary = { use = "env", var = "KSEF_TOKEN_OLD" } }

    ``load`` gives the primary's credential (the secondary's when the primary has none here).
    """

    roles = ("primary", "secondary")

    def __init__(self, primary: CredentialSource, secondary: CredentialSource) -> None:
        self.primary = _as_credential_source(primary)
        self.secondary = _as_credential_source(secondary)

    def source(self, role: str) -> CredentialSource:
        return self.primary if role == "primary" else self.secondary

    def load(self, request: CredentialRequest) -> Credential:
        try:
            return self.primary.load(request)
        except NotAvailable:
            return self.secondary.load(request)

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Both sources' checks; a primary not available yet is fine while the secondary is."""
        try:
            run_check(self.primary, environment, context)
        except NotAvailable:
            run_check(self.secondary, environment, context)
            return
        try:
            run_check(self.secondary, environment, context)
        except NotAvailable:
            pass  # the old credential may be gone already: the primary alone is fine

    def attach(self, strategy: Strategy) -> None:
        """Both sources' optional ``attach``: a strategy now uses this rotation."""
        run_attach(self.primary, strategy)
        run_attach(self.secondary, strategy)

    def __repr__(self) -> str:
        return f"CredentialRotation(primary={self.primary!r}, secondary={self.secondary!r})"


def run_attach(source: object, strategy: Strategy) -> None:
    """Call a credential source's optional ``attach(strategy)`` (see ``CredentialSource``)."""
    attach = getattr(source, "attach", None)
    if attach is not None:
        attach(strategy)


def run_check(component: object, environment: Environment, context: ContextIdentifier) -> None:
    """Call a component's optional ``check(environment, context)``."""
    check = getattr(component, "check", None)
    if check is not None:
        check(environment, context)


class _Contexts:
    """The strategies of one family (a strategy and its ``with_context`` twins), one per context,
    so that every call for a context reaches the same session manager. ``template`` is the
    first strategy of the family: twins take its credential, signer and refresh policy (never
    those of a context with overrides, see :meth:`Strategy.with_overrides`)."""

    def __init__(self) -> None:
        self.by_context: dict[ContextIdentifier | str, Strategy] = {}
        self.lock = threading.Lock()
        self.store_checked = False
        self.template: Strategy | None = None


def _as_credential_source(value: Any) -> CredentialSource:
    if isinstance(value, CredentialChain | CredentialRotation):
        return value  # type: ignore[return-value]
    return as_source(value)


@attrs.define(eq=False)
class Strategy:
    """One way to authenticate one context, and the door to its session.

    ``token()`` / ``await atoken()`` give a valid access token (logging in or refreshing only
    when needed); ``httpx_auth()`` plugs that into any ``httpx`` client. ``with_context(nip)``
    gives the same strategy for another context, always the same object for the same context.
    """

    name: str
    environment: Environment
    context: ContextIdentifier
    credential: CredentialSource = attrs.field(converter=_as_credential_source)
    signer: Signer
    store: SessionStore
    refresh: RefreshPolicy = attrs.field(factory=RefreshPolicy)
    http: HttpPolicy = attrs.field(factory=HttpPolicy.from_env)
    manager: PluginManager | None = attrs.field(default=None, repr=False)
    _session: SessionManager | None = attrs.field(default=None, init=False, repr=False)
    _family: _Contexts = attrs.field(factory=_Contexts, repr=False)
    _request: CredentialRequest | None = attrs.field(default=None, init=False, repr=False)

    def __attrs_post_init__(self) -> None:
        with self._family.lock:
            if self._family.template is None:
                self._family.template = self
            first = self._family.by_context.setdefault(self.context, self) is self
        if first:
            run_attach(self.credential, self)

    @property
    def credential_request(self) -> CredentialRequest:
        """What this strategy asks its credential source for at a login."""
        if self._request is None:
            self._request = CredentialRequest(
                environment=self.environment,
                context=self.context,
                method=getattr(self.signer, "method", ""),
                strategy=self.name,
            )
        return self._request

    def load_credential(self, *, purpose: Purpose = "login") -> Credential:
        """The credential this strategy's source gives for its context now."""
        request = self.credential_request
        if purpose != request.purpose:
            request = attrs.evolve(request, purpose=purpose)
        return self.credential.load(request)

    def check(self, *, credential: bool = True) -> None:
        """Run every component's ``check(environment, context)``: problems that can be found
        before any network call (missing variable, test certificate on PRODUCTION, ...). The
        store, shared by every context of the family, is checked once. ``credential=False``
        leaves the credential source out (its ``load`` reports the same problems)."""
        components = (self.credential, self.signer) if credential else (self.signer,)
        for component in components:
            run_check(component, self.environment, self.context)
        if not self._family.store_checked:
            run_check(self.store, self.environment, self.context)
            self._family.store_checked = True

    @property
    def session(self) -> SessionManager:
        """The session manager of this strategy (created on first use)."""
        if self._session is None:
            from ksef_auth.session import SessionManager

            with self._family.lock:
                if self._session is None:
                    self._session = SessionManager(self)
        return self._session

    def token(self) -> str:
        """A valid access token: cached when possible, refreshed or logged in when needed."""
        session = self._session
        if session is not None:  # the hot path of SessionManager.token, inlined: one call less
            near = session._near
            if _now() < near[0]:
                return near[1]
        return self.session.token()

    async def atoken(self) -> str:
        """The async twin of :meth:`token`; never blocks the event loop."""
        return await self.session.atoken()

    def httpx_auth(self) -> KsefAuth:
        """An ``httpx.Auth`` that attaches the access token and replays once after a 401."""
        from ksef_auth.httpx_auth import KsefAuth

        return KsefAuth(self.session)

    def with_context(self, context: ContextIdentifier | str) -> Strategy:
        """The same strategy for another context (one firm's credential, many NIPs).

        The credential source is asked with that context (see :class:`CredentialRequest`). The
        same context always gives the same strategy object, so its session manager, near cache
        and rejection memory are kept across calls.
        """
        found = self._family.by_context.get(context)  # a NIP string seen before is a key too
        if found is not None:
            return found
        raw = context
        if isinstance(context, str):
            context = ContextIdentifier.nip(context)
        found = self._family.by_context.get(context)
        if found is not None:
            self._family.by_context[raw] = found
            return found
        with self._family.lock:
            found = self._family.by_context.get(context)
            if found is not None:
                return found
        template = self._family.template or self
        twin = Strategy(
            name=f"{template.name}@{context.value}",
            environment=template.environment,
            context=context,
            credential=template.credential,
            signer=template.signer,
            store=template.store,
            refresh=template.refresh,
            http=template.http,
            manager=template.manager,
            family=self._family,
        )
        twin = self._family.by_context.get(context, twin)
        self._family.by_context[raw] = twin
        return twin

    def with_overrides(
        self,
        context: ContextIdentifier,
        *,
        name: str | None = None,
        credential: CredentialSource | None = None,
        signer: Signer | None = None,
        refresh: RefreshPolicy | None = None,
    ) -> Strategy:
        """The strategy of this family for ``context``, with its own credential, signer or
        refresh policy (one client of a firm that differs from the others). From now on
        :meth:`with_context` for ``context`` returns it, from any strategy of the family;
        other contexts keep the family's own. Call it before ``context`` is used."""
        template = self._family.template or self
        twin = Strategy(
            name=name or f"{template.name}@{context.value}",
            environment=template.environment,
            context=context,
            credential=credential if credential is not None else template.credential,
            signer=signer if signer is not None else template.signer,
            store=template.store,
            refresh=refresh if refresh is not None else template.refresh,
            http=template.http,
            manager=template.manager,
            family=self._family,
        )
        with self._family.lock:
            self._family.by_context[context] = twin
        return twin

    def client(self, **kwargs: Any) -> httpx.Client:
        """A new ``httpx.Client`` on this environment's base URL with this strategy's auth."""
        import httpx

        return httpx.Client(base_url=self.environment.base_url, auth=self.httpx_auth(), **kwargs)
