"""``ksef-auth doctor``: check a profile end to end, one line per check, each red one with its fix.

Checks, in order (a failed check skips those that depend on it):

=============  ==================================================================================
nip            the context NIP's checksum
environment    the base URL (https, or http only to a loopback simulator)
plugins        every component the profile names is installed and accepts its options
dns, tcp, tls  the KSeF host resolves, accepts a connection, and (https) completes a TLS handshake
credential     the credential loads: variable set, file readable, password right, key matches
signer         the signer accepts this credential (a token's shape, a key's type), its own
               ``check`` and ``preflight(credential, context, environment)``
certificate    (certificates only) validity window, warns under 30 days; the NIP matches;
               a source that renews its certificate says when (``renewal_status(credential)``)
store          the session store's own ``check``, then reachable and writable (a canary entry
               written and removed)
challenge      KSeF answers ``POST /auth/challenge``
login          a full login (challenge, sign, poll, redeem), revoked again at once; with a
               rotation, the primary refused as not usable (450, 415, 460) is a warning
secondary      (rotation only) the secondary credential loads and logs in, revoked again
session        (rotation only) which credential made the kept session
system         (only when KSeF sent one) the ``X-System-Warning`` headers of those requests
=============  ==================================================================================

Exit status: 0 when nothing is red (warnings allowed), 1 otherwise; ``--json`` for machines.
Works on a profile or, like every command, on the ``KSEF2_*`` variables alone.
"""

from __future__ import annotations

import logging
import re
import socket
import ssl
import time
import uuid
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import attrs
import click

from ksef_auth.cli.profile import (
    Target,
    config_option,
    emit_json,
    json_option,
    profile_option,
    target,
)
from ksef_auth.errors import AuthenticationFailed, ConfigError, KsefAuthError
from ksef_auth.flow import REJECTION_STATUSES
from ksef_auth.model import CertificateCredential, Environment, SessionTokens, Token
from ksef_auth.nip import normalize_nip

if TYPE_CHECKING:
    from ksef_auth.model import Credential
    from ksef_auth.strategy import Strategy

Status = Literal["ok", "warn", "fail", "skip"]
NETWORK_TIMEOUT = 5.0
EXPIRY_WARNING_DAYS = 30
_COLOURS = {"ok": "green", "warn": "yellow", "fail": "red", "skip": None}
_LABELS = {"ok": "ok  ", "warn": "warn", "fail": "FAIL", "skip": "skip"}
_CERT_NIP = re.compile(r"(?:VATPL|TINPL|NIP)\D{0,3}(\d{10})")


@attrs.frozen
class Check:
    """One line of the report: ``fix`` says what to do when it is not ok."""

    name: str
    status: Status
    message: str
    fix: str | None = None

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


class _Failed(Exception):
    def __init__(self, message: str, fix: str | None = None) -> None:
        super().__init__(message)
        self.fix = fix


class Doctor:
    """Runs the checks for one profile; :meth:`run` returns them all (never raises)."""

    def __init__(self, chosen: Target) -> None:
        self.target = chosen
        self.name = chosen.name
        self.checks: list[Check] = []
        self.environment: Environment | None = None
        self.strategy: Strategy | None = None
        self.credential: Credential | None = None

    def run(self) -> list[Check]:
        plan: list[tuple[str, Callable[[], tuple[Status, str] | str], tuple[str, ...]]] = [
            ("nip", self._nip, ()),
            ("environment", self._environment, ()),
            ("plugins", self._plugins, ("nip", "environment")),
            ("dns", self._dns, ("environment",)),
            ("tcp", self._tcp, ("dns",)),
            ("tls", self._tls, ("tcp",)),
            ("credential", self._credential, ("plugins",)),
            ("signer", self._signer, ("credential",)),
            ("certificate", self._certificate, ("credential",)),
            ("store", self._store, ("plugins",)),
            ("challenge", self._challenge, ("plugins", "tls")),
            ("login", self._login, ("credential", "signer", "certificate", "challenge")),
            ("secondary", self._secondary, ("plugins", "signer", "challenge")),
            ("session", self._session, ("plugins",)),
            ("system", self._system_warnings, ()),
        ]
        status: dict[str, Status] = {}
        for name, check, needs in plan:
            blocked = [n for n in needs if status.get(n) in ("fail", "skip")]
            if blocked:
                self._add(Check(name, "skip", f"skipped: {', '.join(blocked)} did not pass"))
            else:
                self._add(self._run(name, check))
            status[name] = self.checks[-1].status
        return [c for c in self.checks if c.message != ""]

    def _add(self, check: Check) -> None:
        self.checks.append(check)

    def _run(self, name: str, check: Callable[[], tuple[Status, str] | str]) -> Check:
        try:
            result = check()
        except _Failed as exc:
            return Check(name, "fail", str(exc), exc.fix)
        except KsefAuthError as exc:
            reason = exc.reason if isinstance(exc, ConfigError) else str(exc)
            return Check(name, "fail", reason.replace("\n", " "), _fix_for(exc))
        except Exception as exc:  # a check must never crash the report
            return Check(name, "fail", f"{type(exc).__name__}: {exc}")
        if isinstance(result, tuple):
            return Check(name, result[0], result[1])
        return Check(name, "ok", result)

    # --- configuration --------------------------------------------------------------------------

    def _table(self) -> dict[str, Any]:
        return self.target.table

    def _nip(self) -> str:
        context = self._table().get("context")
        if isinstance(context, Mapping):
            context = context.get("nip", context.get("value"))
        if not isinstance(context, str):
            return ""  # not a plain NIP (a reference or another identifier): plugins checks it
        try:
            return f"{normalize_nip(context)}: checksum ok"
        except ValueError as exc:
            raise _Failed(
                str(exc), "ksef-auth profile create ... --nip <the right NIP> --force"
            ) from None

    def _environment(self) -> tuple[Status, str] | str:
        value = self._table().get("environment")
        if isinstance(value, Mapping) and set(value) == {"env"}:
            import os

            value = os.environ.get(str(value["env"]))
            if value is None:
                raise _Failed("the environment is given by a variable that is not set")
        try:
            self.environment = Environment.of(str(value))
        except ValueError as exc:
            raise _Failed(str(exc)) from None
        url = self.environment.base_url
        if url.startswith("http:") and not self.environment.is_loopback:
            raise _Failed(
                f"{url} is plain http: tokens are only sent over https (or to loopback)",
                "use the https URL",
            )
        import os

        from ksef_auth.model import URL_OVERRIDE

        override = URL_OVERRIDE.format(NAME=self.environment.name.upper())
        origin = (
            f" (from {override})"
            if self.environment.is_official and os.environ.get(override)
            else ""
        )
        return f"{self.environment.name}: {url}{origin}"

    def _plugins(self) -> str:
        from ksef_auth.cli.session import component_names

        self.strategy = self.target.strategy(check=False)
        names = component_names(self.strategy)
        return f"credential {names['credential']}, signer {names['method']}, store {names['store']}"

    # --- the network ----------------------------------------------------------------------------

    def _host_port(self) -> tuple[str, int, bool]:
        assert self.environment is not None
        url = urlsplit(self.environment.base_url)
        https = url.scheme == "https"
        return url.hostname or "", url.port or (443 if https else 80), https

    def _dns(self) -> str:
        host, port, _ = self._host_port()
        try:
            infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except socket.gaierror as exc:
            raise _Failed(
                f"{host} does not resolve ({exc.strerror})",
                "check the URL, your DNS and your network",
            ) from None
        addresses = sorted({str(info[4][0]) for info in infos})
        return f"{host} -> {', '.join(addresses[:3])}"

    def _tcp(self) -> str:
        host, port, _ = self._host_port()
        started = time.monotonic()
        try:
            with socket.create_connection((host, port), timeout=NETWORK_TIMEOUT):
                pass
        except OSError as exc:
            reason = exc.strerror or type(exc).__name__
            raise _Failed(
                f"cannot connect to {host}:{port} ({reason})",
                "is KSeF (or the simulator) running there? check firewalls and proxies",
            ) from None
        return f"{host}:{port} accepts connections ({_ms(started)})"

    def _tls(self) -> tuple[Status, str] | str:
        host, port, https = self._host_port()
        if not https:
            return "ok", "not https (a loopback simulator): no TLS to check"
        import httpx

        context = httpx.create_ssl_context()  # the trust store the login will use
        try:
            with (
                socket.create_connection((host, port), timeout=NETWORK_TIMEOUT) as raw,
                context.wrap_socket(raw, server_hostname=host) as tls,
            ):
                version = tls.version()
                peer = tls.getpeercert() or {}
        except ssl.SSLCertVerificationError as exc:
            raise _Failed(
                f"the TLS certificate of {host} is not trusted ({exc.verify_message})",
                "a proxy may intercept TLS: set SSL_CERT_FILE to its CA bundle",
            ) from None
        except (OSError, ssl.SSLError) as exc:
            raise _Failed(f"TLS handshake with {host} failed ({exc})") from None
        until = peer.get("notAfter", "?")
        return f"{version}, certificate valid until {until}"

    # --- credential and certificate -------------------------------------------------------------

    def _credential(self) -> str:
        s = self.strategy
        assert s is not None
        check = getattr(s.credential, "check", None)
        if check is not None:
            check(s.environment, s.context)
        self.credential = s.load_credential(purpose="check")
        kind = type(self.credential).__name__
        source = getattr(self.credential, "source", "") or self._names()["credential"]
        return f"{kind} from {source} (fingerprint {self.credential.fingerprint[:20]})"

    def _names(self) -> dict[str, str]:
        from ksef_auth.cli.session import component_names

        assert self.strategy is not None
        return component_names(self.strategy)

    def _signer(self) -> tuple[Status, str] | str:
        s, credential = self.strategy, self.credential
        assert s is not None and credential is not None
        check = getattr(s.signer, "check", None)
        if check is not None:
            check(s.environment, s.context)
        self._signer_notes: list[str] = []
        preflight = getattr(s.signer, "preflight", None)
        if preflight is not None:
            result = preflight(credential, s.context, s.environment)
            if isinstance(result, list | tuple):
                self._signer_notes = [str(n) for n in result]
        message = f"{self._names()['method']} accepts the {type(credential).__name__}"
        if self._signer_notes and not isinstance(credential, CertificateCredential):
            return "warn", "; ".join([message, *self._signer_notes])
        return message

    def _certificate(self) -> tuple[Status, str] | str:
        s, credential = self.strategy, self.credential
        assert s is not None
        if not isinstance(credential, CertificateCredential):
            return "ok", ""  # nothing to check: no line
        notes: list[str] = list(getattr(self, "_signer_notes", []))
        certificate = credential.certificate
        now = datetime.now(UTC)
        if certificate.not_valid_before_utc > now:
            raise _Failed(
                f"the certificate is not valid before {certificate.not_valid_before_utc:%Y-%m-%d}",
                "wait until then or use another certificate",
            )
        left = certificate.not_valid_after_utc - now
        if left <= timedelta(0):
            raise _Failed(
                f"the certificate expired on {certificate.not_valid_after_utc:%Y-%m-%d}",
                "renew the certificate",
            )
        subject_text = certificate.subject.rfc4514_string()
        nips = set(_CERT_NIP.findall(subject_text))
        expected = s.context.nip_part
        if nips and expected and expected not in nips:
            notes.append(
                f"the certificate names NIP {', '.join(sorted(nips))}, the context is {expected}:"
                " KSeF accepts it only if permissions were granted to this certificate's subject"
            )
        status: Status = "ok"
        if left < timedelta(days=EXPIRY_WARNING_DAYS):
            status = "warn"
            if not any("expires" in note for note in notes):  # the signer may have said it
                notes.append(f"expires in {left.days} days: renew it soon")
        elif notes:
            status = "warn"
        renewal = getattr(s.credential, "renewal_status", None)  # a source that renews it
        if renewal is not None:
            renewal_status, note = renewal(credential)
            notes.append(note)
            status = "warn" if renewal_status == "warn" else status
        message = f"valid until {certificate.not_valid_after_utc:%Y-%m-%d} ({left.days} days)" + (
            f", NIP {expected} matches" if expected in nips else ""
        )
        return status, "; ".join([message, *notes])

    # --- the store ------------------------------------------------------------------------------

    def _store(self) -> str:
        s = self.strategy
        assert s is not None
        key = f"ksef-auth-doctor|{uuid.uuid4().hex}"
        now = datetime.now(UTC)
        canary = SessionTokens(
            access_token=Token(f"doctor-{uuid.uuid4().hex}", now + timedelta(seconds=60)),
            refresh_token=None,
            reference_number="doctor-canary",
            context=s.context,
            environment=s.environment.base_url,
            credential_fingerprint="doctor",
            method="doctor",
            obtained_at=now,
        )
        check = getattr(s.store, "check", None)
        if check is not None:
            check(s.environment, s.context)
        started = time.monotonic()
        with s.store.lock(key, 5.0) as held:
            if not held:
                raise _Failed("could not take the store's lock within 5 s")
            s.store.put(key, canary)
            back = s.store.get(key)
            s.store.delete(key)
        if back is None or back.access_token.value != canary.access_token.value:
            raise _Failed("the store did not give back what was written to it")
        return f"{self._names()['store']}: write, read and delete ok ({_ms(started)})"

    # --- KSeF -----------------------------------------------------------------------------------

    def _flow(self) -> Any:
        from ksef_auth.flow import LoginFlow

        s = self.strategy
        assert s is not None
        return LoginFlow(s.environment, s.signer, poll_deadline=s.refresh.poll_deadline)

    def _challenge(self) -> str:
        started = time.monotonic()
        challenge = self._flow().challenge()
        return f"challenge {challenge.challenge} ({_ms(started)})"

    def _login(self) -> tuple[Status, str] | str:
        s, credential = self.strategy, self.credential
        assert s is not None and credential is not None
        try:
            method, took, after = self._try_login(credential)
        except AuthenticationFailed as exc:
            if not self._rotating() or exc.code not in REJECTION_STATUSES:
                raise
            return "warn", (
                f"KSeF refuses the primary ({exc.code}: {exc.description}): the secondary logs"
                " in meanwhile (a new token is Pending at first; a new certificate needs its"
                " permissions in the context)"
            )
        return f"logged in as {s.context} via {method} in {took}; session {after}"

    def _try_login(self, credential: Credential) -> tuple[str, str, str]:
        """A full login with ``credential``, revoked again at once: (method, time, what
        happened to the session)."""
        assert self.strategy is not None
        flow = self._flow()
        started = time.monotonic()
        tokens = flow.login(credential, self.strategy.context)
        took = _ms(started)
        try:
            flow.revoke(tokens)
            after = "revoked again"
        except KsefAuthError as exc:
            after = f"could not revoke it ({exc})"
        return tokens.method, took, after

    def _rotating(self) -> bool:
        from ksef_auth.strategy import CredentialRotation

        return self.strategy is not None and isinstance(
            self.strategy.credential, CredentialRotation
        )

    def _secondary(self) -> str:
        """A rotation's secondary: it loads and logs in (revoked again at once)."""
        if not self._rotating():
            return ""  # no rotation: no line
        s = self.strategy
        assert s is not None
        source = s.credential.source("secondary")  # type: ignore[attr-defined]
        credential = source.load(attrs.evolve(s.credential_request, purpose="check"))
        method, took, after = self._try_login(credential)
        return (
            f"secondary {type(credential).__name__} (fingerprint {credential.fingerprint[:20]})"
            f" logs in via {method} in {took}; session {after}"
        )

    def _session(self) -> str:
        """A rotation: which credential made the kept session."""
        if not self._rotating():
            return ""
        s = self.strategy
        assert s is not None
        tokens = s.session.stored()
        if tokens is None:
            return "no session kept yet"
        role = s.session.credential_role(tokens) or "an earlier credential"
        return f"kept session {tokens.reference_number} came from the {role}"

    def _system_warnings(self) -> tuple[Status, str] | str:
        from ksef_auth.cli.warnings import describe, recent

        if self.strategy is None:
            return "ok", ""
        rows = recent(self.strategy)
        if not rows:
            return "ok", ""  # KSeF sent none: no line
        return "warn", f"KSeF warns: {describe(rows)}"


def _ms(started: float) -> str:
    return f"{(time.monotonic() - started) * 1000:.0f} ms"


def _fix_for(error: KsefAuthError) -> str | None:
    from ksef_auth.errors import (
        AuthenticationFailed,
        CertificateError,
        NotAvailable,
        PollTimeout,
        StoreError,
        TransportError,
    )

    if isinstance(error, NotAvailable):
        return "export the variable (or create the file) the profile names"
    if isinstance(error, CertificateError):
        return "use a valid certificate whose identity matches the context"
    if isinstance(error, AuthenticationFailed):
        return "see `ksef-auth` docs, error reference, for the status code"
    if isinstance(error, PollTimeout):
        return "KSeF is slow to verify the credential: try again later"
    if isinstance(error, TransportError):
        return "check the network and the environment URL"
    if isinstance(error, StoreError):
        return "check the store: is Redis up, is the directory writable, is the key right?"
    return None


@contextmanager
def _quiet_logging() -> Iterator[None]:
    """Plugin warnings are in the report already: silence them, unless --verbose/--debug."""
    logger = logging.getLogger("ksef_auth")
    level = logger.level
    if level in (logging.NOTSET, logging.WARNING):
        logger.setLevel(logging.ERROR)
    handler = logging.NullHandler()
    logging.getLogger().addHandler(handler)
    try:
        yield
    finally:
        logging.getLogger().removeHandler(handler)
        logger.setLevel(level)


@click.command()
@profile_option
@config_option
@json_option
def doctor(profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Check a profile end to end: NIP, network, credential, certificate, store, login.

    Exit status 1 when any check fails (warnings do not count).
    """
    chosen = target(config_path, profile_name)
    with _quiet_logging():  # what plugins log as warnings is in the report already
        checks = Doctor(chosen).run()
    ok = not any(c.status == "fail" for c in checks)
    if as_json:
        emit_json({"profile": chosen.name, "ok": ok, "checks": [c.to_json() for c in checks]})
    else:
        click.echo(chosen.origin)
        width = max(len(c.name) for c in checks)
        for c in checks:
            line = f"{_LABELS[c.status]}  {c.name:<{width}}  {c.message}"
            if c.fix and c.status in ("fail", "warn"):
                line += f" -> fix: {c.fix}"
            click.secho(line, fg=_COLOURS[c.status])
    if not ok:
        raise SystemExit(1)
