"""Bulk work over many contexts of one strategy: log in (or reuse), list sessions, log out.

::

    from ksef_auth.bulk import login_many

    config = ksef_auth.load("ksef-auth.toml")
    report = login_many(config.strategy("clients"), config.contexts("clients"))
    print(report.counts())          # {'ok': 2998, 'reused': 0, 'error': 2}

**Reuse.** Each context goes through its own strategy's session manager
(``strategy.with_context(context)``), so a session still valid in the store is reused, never
logged in again: a second run over the same contexts makes no login, and a run that was
interrupted resumes where it stopped (with a store that outlives the process: ``file``,
``redis``).

**Pace.** ``concurrency`` worker threads share one :class:`~ksef_auth.pacing.Pacer`, so every
request waits for a slot under KSeF's published limit of its operation (60 requests/s per IP for
each authentication step: challenge, submission, status, redeem). The pacer books on the store's
``rate_limiter()`` when the store has one (every process sharing the store shares the budget:
40 workers behind one IP stay under the limit together) and on this process's limiter
otherwise. A 429 holds everyone back for its ``Retry-After``, then the request is sent again.
``rate_limit_scale`` multiplies the published limits (a simulator started with
``--rate-limit-scale``; an environment with other limits); ``share`` (default 0.95, see
:data:`DEFAULT_SHARE`) is the fraction booked, headroom for jitter and for other traffic from
the same IP. This process's requests of each operation also leave evenly spaced, never in a
burst.

**Results.** One :class:`BulkResult` per context: ``ok`` (logged in now), ``reused`` (a valid
session was there; ``refreshed`` says whether its access token was renewed) or ``error`` (with
the typed error, a :class:`~ksef_auth.errors.KsefAuthError`). One context's failure never stops
the others. ``on_result`` sees each result as it comes (from a worker thread; on the event loop
for the async twins); the report keeps them in the order given.

Ctrl-C (``KeyboardInterrupt``) or ``stop.set()`` lets the contexts in flight finish (their
sessions are stored) and starts no new one; the report says ``interrupted``.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

import attrs

from ksef_auth.contexts import context_of
from ksef_auth.errors import ConfigError, KsefAuthError, SessionInvalid
from ksef_auth.model import ContextIdentifier, SessionTokens
from ksef_auth.pacing import Pacer, Rate, RateLimiter, pacer_for
from ksef_auth.strategy import Strategy
from ksef_auth.values import show

log = logging.getLogger("ksef_auth.bulk")

Status = Literal["ok", "reused", "error"]
T = TypeVar("T")

DEFAULT_CONCURRENCY = 16
"""Workers: enough to keep 60 logins/s in flight when each takes a few round trips."""
DEFAULT_SHARE = 0.95
"""The fraction of KSeF's limits a bulk job books: requests reach KSeF with network and server
jitter, and a request that arrives late next to one that arrives early would crowd a sliding
window that was booked to the last request; 5 % keeps them apart (0 x 429 against the
simulator at the published limits, on a busy machine)."""


@attrs.frozen
class BulkResult:
    """What happened to one context."""

    context: ContextIdentifier | None
    """None for an entry whose context could not be read (then ``where`` says which)."""
    status: Status
    error: Exception | None = None
    """The typed error (a :class:`~ksef_auth.errors.KsefAuthError`) when ``status`` is error."""
    value: Any = attrs.field(default=None, repr=False)
    """What the operation gave: the :class:`SessionTokens` of a login, the sessions listed, the
    references revoked."""
    seconds: float = 0.0
    refreshed: bool = False
    where: str | None = None
    """Where the context was written (``clients.txt:12``), when known."""
    description: str | None = None

    @property
    def reason(self) -> str | None:
        """The error's class name (``AuthenticationFailed``, ``ConfigError``, ...)."""
        return type(self.error).__name__ if self.error is not None else None

    def to_json(self) -> dict[str, Any]:
        """One JSON line of ``ksef-auth ... --json`` (never a token)."""
        context = self.context
        data: dict[str, Any] = {
            "context": str(context) if context is not None else None,
            "status": self.status,
        }
        if context is not None and context.type == "Nip":
            data["nip"] = context.value
        if self.description:
            data["description"] = self.description
        if self.where:
            data["where"] = self.where
        if self.error is not None:
            data["error"] = self.reason
            code = getattr(self.error, "code", None)
            if code is not None:
                data["code"] = code
            data["message"] = str(self.error)
        if isinstance(self.value, SessionTokens):
            tokens = self.value
            data["reference_number"] = tokens.reference_number
            data["access_valid_until"] = _when(tokens.access_token.valid_until)
            if tokens.refresh_token is not None:
                data["refresh_valid_until"] = _when(tokens.refresh_token.valid_until)
            if self.status == "reused":
                data["refreshed"] = self.refreshed
        data["seconds"] = round(self.seconds, 3)
        return data


def _when(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="seconds")


@attrs.define
class BulkReport:
    """Every context's result, in the order given, and what the run cost."""

    results: list[BulkResult]
    seconds: float
    rate_limited: int = 0
    """429 answers seen (each held everyone back for its Retry-After)."""
    interrupted: bool = False
    not_started: int = 0
    """Contexts never started because the run was interrupted."""

    def counts(self) -> dict[str, int]:
        counts = {"ok": 0, "reused": 0, "error": 0}
        for result in self.results:
            counts[result.status] += 1
        return counts

    @property
    def failed(self) -> list[BulkResult]:
        return [r for r in self.results if r.status == "error"]

    @property
    def ok(self) -> bool:
        """True when every context succeeded and the run was not interrupted."""
        return not self.interrupted and not self.failed

    def summary(self) -> dict[str, Any]:
        """Counts, time, rate and 429s (the last JSON line of the CLI)."""
        done = len(self.results)
        return {
            "summary": True,
            "contexts": done + self.not_started,
            **self.counts(),
            "not_started": self.not_started,
            "interrupted": self.interrupted,
            "seconds": round(self.seconds, 3),
            "per_second": round(done / self.seconds, 2) if self.seconds > 0 else None,
            "rate_limited": self.rate_limited,
        }


LATE = 0.01
"""A worker that wakes more than this (s) after its booked slot books a new one."""


class _BulkLimiter:
    """The limiter of a bulk job: the shared one (KSeF's windows, for everyone sharing it),
    with this process's requests of each operation also spread evenly (one every ``per/limit``
    of its shortest window), so workers never send a second's budget in one burst (a burst
    reaches KSeF spread out by its own handling, and its tail would crowd the next window).
    It counts the 429s reported (``penalize``)."""

    def __init__(self, limiter: RateLimiter) -> None:
        self.limiter = limiter
        self.penalties = 0
        self._lock = threading.Lock()
        self._next: dict[str, float] = {}

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        deadline = time.monotonic() + max_wait
        gap = min((r.per / r.limit for r in rates), default=0.0)
        with self._lock:  # this process's turn for the operation, evenly spaced
            now = time.monotonic()
            turn = max(now, self._next.get(key, now))
            if turn > deadline:
                return None
            self._next[key] = turn + gap
        while True:
            if turn > now:
                time.sleep(turn - now)
            now = time.monotonic()
            wait = self.limiter.reserve(key, rates, max(0.0, deadline - now))
            if wait is None:
                return None
            if wait <= 0:
                return 0.0
            turn = now + wait
            time.sleep(wait)
            now = time.monotonic()
            if now - turn <= LATE:
                return 0.0
            # woke too late (a busy machine): the slot has passed, and sending now could crowd
            # the next window; book a fresh slot (the stale one stays booked, on the safe side)
            turn = now

    def penalize(self, key: str, seconds: float) -> None:
        with self._lock:
            self.penalties += 1
        self.limiter.penalize(key, seconds)


def bulk_pacer(
    strategy: Strategy, *, rate_limit_scale: float = 1.0, share: float = DEFAULT_SHARE
) -> Pacer:
    """The pacer a bulk job over ``strategy`` uses: KSeF's published limits (times
    ``rate_limit_scale``, of which ``share``) on the limiter the strategy's store shares, or on
    this process's. A 429 seen by it is counted in the report."""
    limiter = _BulkLimiter(pacer_for(strategy.store).limiter)
    return Pacer(limiter, scale=rate_limit_scale, share=share)


# --- the runner ------------------------------------------------------------------------------


@attrs.frozen
class _Item:
    index: int
    context: ContextIdentifier | None
    problem: ConfigError | None = None
    where: str | None = None
    description: str | None = None


def _items(
    contexts: Iterable[Any], problems: Iterable[ConfigError]
) -> tuple[list[_Item], list[BulkResult]]:
    items: list[_Item] = []
    for index, entry in enumerate(contexts):
        if isinstance(entry, str):
            try:
                items.append(_Item(index, context_of(entry)))
            except ValueError as exc:
                items.append(_Item(index, None, ConfigError(str(exc)), where=show(entry)))
        elif isinstance(entry, ContextIdentifier):
            items.append(_Item(index, entry))
        else:  # a ksef_auth.contexts.ContextEntry
            items.append(_Item(index, entry.context, None, entry.where, entry.description))
    failed = [
        BulkResult(
            None,
            "error",
            problem,
            where=f"{problem.source}:{problem.key}" if problem.source else problem.key,
        )
        for problem in problems
    ]
    return items, failed


def run_many(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any],
    work: Callable[[Strategy], tuple[Status, Any, bool]],
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    pacer: Pacer | None = None,
    problems: Iterable[ConfigError] = (),
    on_result: Callable[[BulkResult], None] | None = None,
    stop: threading.Event | None = None,
) -> BulkReport:
    """Run ``work(strategy_for_context)`` for every context on ``concurrency`` threads, paced
    by ``pacer`` (installed in each context's session manager), collecting one
    :class:`BulkResult` each. ``work`` returns ``(status, value, refreshed)`` or raises.

    ``contexts`` may hold :class:`ContextIdentifier` objects, NIP strings or
    :class:`~ksef_auth.contexts.ContextEntry` objects (which bring where they were written);
    ``problems`` (entries that could not be read, e.g. ``config.context_problems(name)``) become
    ``error`` results at the end.
    """
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    items, failed = _items(contexts, problems)
    stop = stop or threading.Event()
    results: dict[int, BulkResult] = {}
    lock = threading.Lock()
    queue: Iterator[_Item] = iter(items)
    started = time.monotonic()

    def emit(result: BulkResult, index: int) -> None:
        with lock:
            results[index] = result
            if on_result is not None:
                try:
                    on_result(result)
                except Exception:  # a display must never stop the job
                    log.exception("on_result failed")

    def one(item: _Item) -> BulkResult:
        begun = time.monotonic()
        if item.problem is not None or item.context is None:
            return BulkResult(None, "error", item.problem, where=item.where)
        error: Exception | None = None
        try:
            member = strategy.with_context(item.context)
            if pacer is not None:
                member.session.flow.transport.pacer = pacer
            status, value, refreshed = work(member)
        except KsefAuthError as exc:
            status, value, refreshed, error = "error", None, False, exc
        except Exception as exc:  # one context's bug must not end 3,000 others' logins
            log.exception("bulk work for %s failed unexpectedly", item.context)
            status, value, refreshed, error = "error", None, False, exc
        return BulkResult(
            item.context,
            status,
            error,
            value,
            time.monotonic() - begun,
            refreshed,
            item.where,
            item.description,
        )

    def worker() -> None:
        nonlocal queue
        while not stop.is_set():
            with lock:
                item = next(queue, None)
            if item is None:
                return
            emit(one(item), item.index)

    if pacer is not None and items and getattr(strategy.signer, "uses_public_keys", True):
        try:  # fetch KSeF's key list once, not once per worker
            strategy.session.flow.transport.pacer = pacer
            strategy.session.flow.public_keys()
        except KsefAuthError:
            pass  # each login reports it
    threads = [
        threading.Thread(target=worker, name=f"ksef-bulk-{n}", daemon=True)
        for n in range(min(concurrency, max(1, len(items))))
    ]
    for thread in threads:
        thread.start()
    interrupted = False
    try:
        for thread in threads:
            while thread.is_alive():
                thread.join(0.2)
    except KeyboardInterrupt:
        interrupted = True
        stop.set()
        for thread in threads:  # the contexts in flight finish and keep their sessions
            thread.join()
    interrupted = interrupted or (stop.is_set() and len(results) < len(items))
    for offset, result in enumerate(failed):
        emit(result, len(items) + offset)
    ordered = [results[i] for i in sorted(results)]
    limiter = pacer.limiter if pacer is not None else None
    return BulkReport(
        ordered,
        time.monotonic() - started,
        limiter.penalties if isinstance(limiter, _BulkLimiter) else 0,
        interrupted,
        len(items) - (len(results) - len(failed)),
    )


async def arun_many(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any],
    work: Callable[[Strategy], tuple[Status, Any, bool]],
    *,
    on_result: Callable[[BulkResult], None] | None = None,
    **kwargs: Any,
) -> BulkReport:
    """:func:`run_many` without blocking the event loop: the workers are threads, ``on_result``
    runs on the loop. Cancelling lets the contexts in flight finish, then re-raises."""
    loop = asyncio.get_running_loop()
    stop = threading.Event()

    def relay(result: BulkResult) -> None:
        if on_result is not None:
            loop.call_soon_threadsafe(on_result, result)

    task = asyncio.ensure_future(
        asyncio.to_thread(run_many, strategy, contexts, work, on_result=relay, stop=stop, **kwargs)
    )
    try:
        return await asyncio.shield(task)
    except asyncio.CancelledError:
        stop.set()
        await task
        raise


# --- the operations --------------------------------------------------------------------------


def _login(force: bool) -> Callable[[Strategy], tuple[Status, Any, bool]]:
    def work(member: Strategy) -> tuple[Status, Any, bool]:
        started = datetime.now(UTC)
        session = member.session
        if force:
            return "ok", session.login(), False
        before = session.logins
        session.token()
        tokens = session.current()
        assert tokens is not None
        if session.logins > before:
            return "ok", tokens, False
        refreshed = tokens.refreshed_at is not None and tokens.refreshed_at >= started
        return "reused", tokens, refreshed  # valid here, or in the store (another process's)

    return work


def login_many(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any] | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate_limit_scale: float = 1.0,
    share: float = DEFAULT_SHARE,
    pacer: Pacer | None = None,
    force: bool = False,
    problems: Iterable[ConfigError] = (),
    on_result: Callable[[BulkResult], None] | None = None,
    stop: threading.Event | None = None,
) -> BulkReport:
    """Log every context in (or reuse its valid session), at KSeF's pace; one result each.

    ``contexts`` defaults to the strategy's own context. ``force`` logs in anew even where a
    session is valid. ``pacer`` replaces the one built from ``rate_limit_scale`` and ``share``
    (see :func:`bulk_pacer`). See the module's notes for reuse, pacing and interruption.
    """
    return run_many(
        strategy,
        [strategy.context] if contexts is None else contexts,
        _login(force),
        concurrency=concurrency,
        pacer=pacer or bulk_pacer(strategy, rate_limit_scale=rate_limit_scale, share=share),
        problems=problems,
        on_result=on_result,
        stop=stop,
    )


async def alogin_many(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any] | None = None,
    *,
    concurrency: int = DEFAULT_CONCURRENCY,
    rate_limit_scale: float = 1.0,
    share: float = DEFAULT_SHARE,
    pacer: Pacer | None = None,
    force: bool = False,
    problems: Iterable[ConfigError] = (),
    on_result: Callable[[BulkResult], None] | None = None,
) -> BulkReport:
    """The async twin of :func:`login_many`: never blocks the event loop; ``on_result`` runs on
    the loop; cancelling lets the logins in flight finish (their sessions are kept)."""
    return await arun_many(
        strategy,
        [strategy.context] if contexts is None else contexts,
        _login(force),
        concurrency=concurrency,
        pacer=pacer or bulk_pacer(strategy, rate_limit_scale=rate_limit_scale, share=share),
        problems=problems,
        on_result=on_result,
    )


def _sessions(member: Strategy) -> tuple[Status, Any, bool]:
    before = member.session.logins
    listed = member.session.sessions()
    return ("ok" if member.session.logins > before else "reused"), listed, False


def sessions_many(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any] | None = None,
    **kwargs: Any,
) -> BulkReport:
    """``GET /auth/sessions`` for every context (logging in where no session is valid); each
    result's ``value`` is the list of :class:`~ksef_auth.flow.AuthSession`. ``status`` is ok
    when a login was needed for it, reused otherwise. Takes :func:`login_many`'s options."""
    return _paced(strategy, contexts, _sessions, **kwargs)


def _logout(member: Strategy) -> tuple[Status, Any, bool]:
    """End every session of the member's context: the others by reference, then the current."""
    session = member.session
    revoked: list[str] = []
    for item in session.sessions():
        if item.is_current:
            continue
        tokens = session.current()
        assert tokens is not None  # sessions() logged in or reused one
        try:
            session.flow.revoke_session(tokens, item.reference_number)
        except SessionInvalid:
            continue  # it ended meanwhile
        revoked.append(item.reference_number)
    tokens = session.current()
    session.revoke()
    if tokens is not None:
        revoked.append(tokens.reference_number)
    return "ok", revoked, False


def logout_many(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any] | None = None,
    **kwargs: Any,
) -> BulkReport:
    """End every KSeF session of every context (the current one and, through
    ``DELETE /auth/sessions/{ref}``, the others) and forget them in the store. Each result's
    ``value`` lists the references revoked. Takes :func:`login_many`'s options."""
    return _paced(strategy, contexts, _logout, **kwargs)


def _paced(
    strategy: Strategy,
    contexts: Iterable[ContextIdentifier | str | Any] | None,
    work: Callable[[Strategy], tuple[Status, Any, bool]],
    *,
    rate_limit_scale: float = 1.0,
    share: float = DEFAULT_SHARE,
    pacer: Pacer | None = None,
    **kwargs: Any,
) -> BulkReport:
    return run_many(
        strategy,
        [strategy.context] if contexts is None else contexts,
        work,
        pacer=pacer or bulk_pacer(strategy, rate_limit_scale=rate_limit_scale, share=share),
        **kwargs,
    )


__all__ = [
    "BulkReport",
    "BulkResult",
    "alogin_many",
    "arun_many",
    "bulk_pacer",
    "login_many",
    "logout_many",
    "run_many",
    "sessions_many",
]
