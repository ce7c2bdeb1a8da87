"""Lifecycle events and their delivery to the observer hooks.

Events are queued and delivered by one daemon thread, so a slow or failing observer never slows
or breaks the caller. Nothing is queued when no plugin implements an observer hook.
"""

from __future__ import annotations

import logging
import queue
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth.model import ContextIdentifier, Environment

if TYPE_CHECKING:
    import pluggy

log = logging.getLogger("ksef_auth.events")

EVENTS = (
    "login_started",
    "session_opened",
    "session_refreshed",
    "session_expired",
    "session_revoked",
    "authentication_failed",
    "credential_fallback",
    "certificate_expiring",
    "certificate_renewed",
    "system_warning",
)


@attrs.frozen
class SessionEvent:
    """What happened, to which session. Holds no secret."""

    name: str
    strategy: str
    environment: Environment
    context: ContextIdentifier
    method: str
    credential_fingerprint: str
    reference_number: str | None = None
    detail: str = ""
    rejected_fingerprint: str | None = None
    """``credential_fallback``: the fingerprint of the primary credential that is not usable
    (``credential_fingerprint`` is then the secondary's)."""
    at: datetime = attrs.field(factory=lambda: datetime.now(UTC))


@attrs.frozen
class CertificateEvent:
    """What happened to a certificate a strategy logs in with (its renewal). Holds no secret.

    ``fingerprint`` and ``serial`` name the certificate (SHA-256 of the DER, 64 hex; KSeF's
    serial number, 16 hex), ``valid_to`` is when it ends (KSeF's record when known, else the
    certificate's own date); ``new_*`` name the successor of a renewal.
    """

    name: str
    strategy: str
    environment: Environment
    context: ContextIdentifier
    fingerprint: str
    serial: str
    valid_to: datetime
    detail: str = ""
    new_fingerprint: str | None = None
    new_serial: str | None = None
    new_valid_to: datetime | None = None
    at: datetime = attrs.field(factory=lambda: datetime.now(UTC))

    @property
    def days_left(self) -> int:
        """Whole days until ``valid_to`` (negative once it has passed)."""
        return (self.valid_to - self.at).days


def describe(event: SessionEvent | CertificateEvent) -> str:
    """``session opened: Nip:5261040828 on test via ksef-token (20251010-AU-...)``: one line."""
    what = event.name.replace("_", " ")
    if isinstance(event, CertificateEvent):
        text = f"{what}: {event.context} on {event.environment.name}, certificate {event.serial}"
    else:
        text = f"{what}: {event.context} on {event.environment.name} via {event.method}"
        if event.reference_number:
            text += f" ({event.reference_number})"
    return f"{text}: {event.detail}" if event.detail else text


class Observers:
    """Calls the observer hooks of a plugin manager's hook relay off the caller's thread."""

    def __init__(self, hook: pluggy.HookRelay) -> None:
        self._hook = hook
        self._queue: queue.SimpleQueue[tuple[str, dict[str, Any]] | None] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._pending = 0
        self._idle = threading.Condition(self._lock)

    def _has_observers(self, name: str) -> bool:
        return bool(getattr(self._hook, f"ksef_auth_{name}").get_hookimpls())

    def emit(self, event: SessionEvent | CertificateEvent, **extra: Any) -> None:
        """Queue ``event`` for the observers of its hook; returns at once. Logged at INFO on
        ``ksef_auth.events`` (what ``ksef-auth --verbose`` shows), without a secret."""
        log.info("%s", describe(event))
        if not self._has_observers(event.name):
            return
        with self._lock:
            self._pending += 1
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="ksef-auth-observers", daemon=True
                )
                self._thread.start()
        self._queue.put((event.name, {"event": event, **extra}))

    def flush(self, timeout: float = 5.0) -> bool:
        """Wait until every queued event was delivered (tests, shutdown). False on timeout."""
        with self._idle:
            return self._idle.wait_for(lambda: self._pending == 0, timeout)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                return
            name, kwargs = item
            try:
                getattr(self._hook, f"ksef_auth_{name}")(**kwargs)
            except Exception:
                log.exception("an observer of %s raised; ignored", name)
            finally:
                with self._idle:
                    self._pending -= 1
                    self._idle.notify_all()
