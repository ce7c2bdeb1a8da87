"""Unattended renewal of a KSeF certificate where it is kept (a PKCS#12 file, ...).

**Where it lives.** In the credential source that loads the certificate (``ksef-certificate``,
:mod:`ksef_auth_ksefcert.source`): the source knows where the certificate is kept, so it is the
one that can replace it. The core attaches every strategy that uses the source
(``attach(strategy)``); the renewal talks to KSeF over that strategy's own session (a KSeF
certificate may authenticate its own successor's enrollment) and takes that strategy's session
store's lock. Nothing else in ksef-auth knows about renewals.

**When.** Each ``load`` for a login (never for ``doctor``/``config check``) looks at what this
process knows of the certificate. At most once per ``check_interval`` it starts a worker thread
(never blocking the caller, who keeps the current certificate): the worker reads KSeF's record
of the certificate (``POST /certificates/query``: KSeF may end a certificate earlier than its
``notAfter``, or revoke it) and, once ``renew_before`` of the end is reached, enrolls a successor.

**Exactly once across processes.** In a process, one run at a time (a lock of the renewal's
own: an in-process store's lock excludes nobody). Then the worker takes
``store.lock("ksef-certificate-renewal|
<base URL>|<fingerprint>", 0)``: a process that does not get it at once leaves the work to the
holder. Holding it, the worker reads the certificate where it is kept again: if it is no longer
the one it set out to renew, another process already did it. Only then does it enroll (a new key
of the same algorithm, the same name, through :func:`~ksef_auth_ksefcert.enrollment.enroll`)
and replace it (a PKCS#12 file atomically). Processes sharing it see the successor at their next
``load`` (the next token refresh or login); their sessions change credential at their next login.

**Failure never breaks logins.** Until the successor is stored every ``load`` returns the
current certificate; a failed attempt is logged, reported through ``certificate_expiring`` (its
``detail`` says why) and retried after ``retry_interval``. Only a certificate that has ended, or
that KSeF reports revoked, stops logins (:class:`~ksef_auth.errors.CertificateError` saying how
to enroll a new one from a qualified seal).

**Events.** ``certificate_expiring`` the first time a process sees the certificate inside its
renewal margin and after each failed attempt; ``certificate_renewed`` from the process that
stored the successor. ``revoke_superseded`` revokes the old certificate (reason ``Superseded``)
right after the successor is stored.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Literal, Protocol

import attrs

from ksef_auth import CertificateCredential, CertificateEvent, KsefAuthError, StoreError
from ksef_auth_ksefcert.records import serial_of

if TYPE_CHECKING:
    from ksef_auth import CredentialRequest, KeyStore, Strategy
    from ksef_auth_ksefcert.enrollment import Enrolled

log = logging.getLogger("ksef_auth.ksefcert")

LOCK_PREFIX = "ksef-certificate-renewal"
Action = Literal["not-due", "renewed", "renewed-elsewhere", "busy", "unusable"]


class Holder(Protocol):
    """Where a KSeF certificate is kept: loaded for each login, replaced by its successor.

    ``where`` names it in messages; ``label`` names a successor's key in its key store."""

    @property
    def where(self) -> str: ...

    @property
    def label(self) -> str: ...

    def load(self, request: CredentialRequest) -> CertificateCredential: ...

    def successor_store(self) -> KeyStore:
        """A key store whose ``keep`` replaces what is kept here."""
        ...


@attrs.frozen(kw_only=True)
class RenewalPolicy:
    """When and how a KSeF certificate renews itself (seconds, except ``renew_before_days``)."""

    enabled: bool = True
    renew_before_days: float = 60.0
    check_interval: float = 6 * 3600.0
    retry_interval: float = 900.0
    enrollment_deadline: float = 120.0
    revoke_superseded: bool = False
    successor_name: str | None = None
    algorithm: str = "same"

    @property
    def renew_before(self) -> timedelta:
        return timedelta(days=self.renew_before_days)


@attrs.frozen
class Outcome:
    """What one renewal run did (``successor`` when it renewed)."""

    action: Action
    valid_to: datetime
    successor: Enrolled | None = None
    detail: str = ""


@attrs.define
class _Known:
    """What this process knows of one certificate (by fingerprint)."""

    valid_to: datetime
    status: str | None = None
    name: str | None = None
    next_check: float = 0.0
    told_expiring: bool = False
    last_failure: str | None = None


class Renewal:
    """Renews the certificate kept in ``holder`` under ``policy`` (see the module docstring)."""

    def __init__(self, holder: Holder, policy: RenewalPolicy) -> None:
        self.holder = holder
        self.policy = policy
        self._lock = threading.Lock()
        self._known: dict[str, _Known] = {}
        self._strategies: dict[tuple[str, object], Strategy] = {}
        self._thread: threading.Thread | None = None
        self._running = threading.Lock()  # one run at a time in this process, whatever the store

    # --- wiring ---------------------------------------------------------------------------------

    def attach(self, strategy: Strategy) -> None:
        key = (strategy.environment.base_url, strategy.context)
        with self._lock:
            self._strategies.setdefault(key, strategy)

    def strategy_for(self, request: CredentialRequest) -> Strategy | None:
        return self._strategies.get((request.environment.base_url, request.context))

    def known(self, credential: CertificateCredential) -> _Known:
        with self._lock:
            known = self._known.get(credential.fingerprint)
            if known is None:
                known = _Known(valid_to=credential.certificate.not_valid_after_utc)
                self._known[credential.fingerprint] = known
            return known

    # --- what load asks -------------------------------------------------------------------------

    def problem(self, credential: CertificateCredential) -> str | None:
        """Why the certificate cannot log in any more (ended, revoked), or None."""
        known = self.known(credential)
        serial = serial_of(credential.certificate)
        fix = (
            "enroll a new one after a login with a qualified seal or signature"
            " (ksef-auth cert enroll --profile SEAL ...)"
        )
        if known.status == "Revoked":
            return f"KSeF revoked the KSeF certificate {serial} in {self.holder.where}: {fix}"
        if datetime.now(UTC) >= known.valid_to:
            return (
                f"the KSeF certificate {serial} in {self.holder.where} ended on"
                f" {known.valid_to:%Y-%m-%d %H:%M} UTC, so it cannot renew itself: {fix}"
            )
        return None

    def consider(self, credential: CertificateCredential, request: CredentialRequest) -> None:
        """Start a worker when a check (or a retry) is due. Never blocks, never raises."""
        if not self.policy.enabled:
            return
        known = self.known(credential)
        now = time.time()
        if now < known.next_check:
            return
        strategy = self.strategy_for(request)
        if strategy is None:
            return  # not used by a strategy (a script loading it directly): nothing to renew over
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            known.next_check = now + self.policy.retry_interval  # until the worker knows better
            self._thread = threading.Thread(
                target=self._work,
                args=(strategy, credential),
                name="ksef-certificate-renewal",
                daemon=False,  # an exiting process finishes (or times out) the renewal first
            )
            self._thread.start()

    def join(self, timeout: float | None = None) -> None:
        """Wait for a running worker (tests, short-lived scripts)."""
        thread = self._thread
        if thread is not None:
            thread.join(timeout)

    def status_note(self, credential: CertificateCredential) -> tuple[str, str]:
        """``("ok" | "warn", text)`` for ``ksef-auth doctor``."""
        if not self.policy.enabled:
            return "ok", "unattended renewal is off (renew = false)"
        known = self.known(credential)
        due = known.valid_to - self.policy.renew_before
        if datetime.now(UTC) < due:
            return "ok", (
                f"renews itself from {due:%Y-%m-%d}"
                f" ({self.policy.renew_before_days:g} days before its end)"
            )
        text = (
            f"its renewal is due since {due:%Y-%m-%d}: every process that logs in with it"
            f" tries, every {self.policy.retry_interval / 60:g} min"
        )
        if known.last_failure:
            text += f"; the last attempt here failed: {known.last_failure}"
        return "warn", text

    # --- the work -------------------------------------------------------------------------------

    def _work(self, strategy: Strategy, credential: CertificateCredential) -> None:
        try:
            outcome = self.run(strategy, credential)
        except Exception as exc:  # a failed renewal never breaks logins
            log.warning(
                "renewal of KSeF certificate %s failed; the current one stays in use: %s",
                serial_of(credential.certificate),
                exc,
            )
            return
        log.info("KSeF certificate %s: %s", serial_of(credential.certificate), outcome.action)

    def run(
        self,
        strategy: Strategy,
        credential: CertificateCredential,
        *,
        lock_timeout: float = 0.0,
        force: bool = False,
    ) -> Outcome:
        """Check the certificate at KSeF and renew it when due (or ``force``), synchronously.

        Raises what the enrollment raises (the failure is also recorded and reported); returns
        how it ended otherwise.
        """
        known = self.known(credential)
        now = time.time()
        key = f"{LOCK_PREFIX}|{strategy.environment.base_url}|{credential.fingerprint}"
        if lock_timeout > 0:
            got = self._running.acquire(timeout=lock_timeout)
        else:
            got = self._running.acquire(blocking=False)
        if not got:
            known.next_check = now + self.policy.retry_interval
            return Outcome("busy", known.valid_to, detail="a renewal runs in this process")
        try:
            return self._under_store_lock(strategy, credential, known, key, lock_timeout, force)
        finally:
            self._running.release()

    def _under_store_lock(
        self,
        strategy: Strategy,
        credential: CertificateCredential,
        known: _Known,
        key: str,
        lock_timeout: float,
        force: bool,
    ) -> Outcome:
        now = time.time()
        try:
            with strategy.store.lock(key, lock_timeout) as held:
                if not held:
                    known.next_check = now + self.policy.retry_interval
                    return Outcome("busy", known.valid_to, detail="another process holds the lock")
                return self._locked(strategy, credential, known, force)
        except StoreError as exc:
            known.next_check = now + self.policy.retry_interval
            log.warning("cannot take the renewal lock (%s); trying again later", exc)
            return Outcome("busy", known.valid_to, detail=str(exc))

    def _locked(
        self,
        strategy: Strategy,
        credential: CertificateCredential,
        known: _Known,
        force: bool,
    ) -> Outcome:
        from ksef_auth_ksefcert.client import CertificatesClient

        current = self.holder.load(strategy.credential_request)
        if current.fingerprint != credential.fingerprint:
            return Outcome("renewed-elsewhere", known.valid_to)
        serial = serial_of(credential.certificate)
        client = CertificatesClient(strategy)
        info = client.find(serial)
        known.next_check = time.time() + self.policy.check_interval
        if info is not None:
            known.valid_to = min(credential.certificate.not_valid_after_utc, info.valid_to)
            known.status, known.name = info.status, info.name
        if known.status in ("Revoked", "Expired"):
            return Outcome("unusable", known.valid_to, detail=f"KSeF reports it {known.status}")
        due = known.valid_to - self.policy.renew_before
        if not force and datetime.now(UTC) < due:
            return Outcome("not-due", known.valid_to)
        if not known.told_expiring:
            known.told_expiring = True
            self._emit("certificate_expiring", strategy, credential, known)
        try:
            successor = self._enroll(client, credential, known)
        except KsefAuthError as exc:
            known.next_check = time.time() + self.policy.retry_interval
            known.last_failure = str(exc)
            self._emit(
                "certificate_expiring",
                strategy,
                credential,
                known,
                detail=f"renewal failed, retrying in {self.policy.retry_interval:g} s: {exc}",
            )
            raise
        known.last_failure = None
        self._emit("certificate_renewed", strategy, credential, known, successor=successor)
        if self.policy.revoke_superseded:
            try:
                client.revoke(serial, "Superseded")
            except KsefAuthError as exc:
                log.warning("the superseded certificate %s was not revoked: %s", serial, exc)
        return Outcome("renewed", known.valid_to, successor=successor)

    def _enroll(self, client: object, credential: CertificateCredential, known: _Known) -> Enrolled:
        from cryptography.hazmat.primitives.asymmetric import rsa

        from ksef_auth_ksefcert.client import CertificatesClient
        from ksef_auth_ksefcert.enrollment import enroll

        assert isinstance(client, CertificatesClient)
        algorithm = self.policy.algorithm
        if algorithm == "same":
            is_rsa = isinstance(credential.certificate.public_key(), rsa.RSAPublicKey)
            algorithm = "rsa-2048" if is_rsa else "ec-p256"
        name = self.policy.successor_name or known.name or "ksef-auth renewal"
        return enroll(
            client,
            self.holder.successor_store(),
            name=name,
            label=self.holder.label,
            algorithm=algorithm,
            deadline=self.policy.enrollment_deadline,
        )

    def _emit(
        self,
        name: str,
        strategy: Strategy,
        credential: CertificateCredential,
        known: _Known,
        *,
        detail: str = "",
        successor: Enrolled | None = None,
    ) -> None:
        from ksef_auth.manager import default_manager

        try:
            new_fingerprint = new_serial = new_valid_to = None
            if successor is not None:
                from cryptography.hazmat.primitives import hashes

                new_fingerprint = successor.certificate.fingerprint(hashes.SHA256()).hex().upper()
                new_serial = successor.serial
                new_valid_to = successor.certificate.not_valid_after_utc
            event = CertificateEvent(
                name=name,
                strategy=strategy.name,
                environment=strategy.environment,
                context=strategy.context,
                fingerprint=credential.fingerprint,
                serial=serial_of(credential.certificate),
                valid_to=known.valid_to,
                detail=detail,
                new_fingerprint=new_fingerprint,
                new_serial=new_serial,
                new_valid_to=new_valid_to,
            )
            (strategy.manager or default_manager()).observers.emit(event)
        except Exception:  # observers never break a renewal
            log.exception("could not emit %s", name)
