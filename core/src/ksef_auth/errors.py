"""The error hierarchy. Everything ksef-auth raises on purpose derives from :class:`KsefAuthError`.

::

    KsefAuthError
    ├── ConfigError                 a strategy file or dict is wrong (names the file and key)
    │   ├── ConfigErrors            several of those, all found in one pass (``errors``)
    │   └── PluginNotFound          a configured plugin name is not installed
    ├── CredentialError             a credential could not be loaded or is unusable
    │   ├── NotAvailable            "not here": a chain moves on to its next source
    │   ├── CredentialChainError    every source of a chain failed (one report, per source)
    │   ├── CertificateError        expired, not yet valid, NIP mismatch, weak key, ...
    │   ├── WrongPassword           a PKCS#12 or key password (or a token PIN) is wrong or missing
    │   └── CredentialRejected      KSeF rejected this credential before; fail fast until it changes
    ├── KsefError                   KSeF answered with an error (code, description, trace id)
    │   ├── AuthenticationFailed    the login ended with a final status (415, 450, 460, ...)
    │   ├── SessionInvalid          the refresh token is expired or revoked (21301, 401)
    │   └── RateLimited             429, with ``retry_after`` seconds
    ├── ProtocolError               an answer is not what KSeF documents (HTML, garbage, {})
    ├── DeadlineExceeded            a login or refresh did not finish within its deadline
    │   └── PollTimeout             ... because KSeF was still verifying (status 100)
    ├── StoreError                  the session store is unreachable or refused an operation
    ├── NoSession                   no stored session to show or revoke (log in first)
    └── TransportError              no answer from KSeF (also an ``httpx.TransportError``)

No message ever contains a secret: messages are built from identifiers, codes and file names.
"""

from __future__ import annotations

from collections.abc import Sequence

import httpx


class KsefAuthError(Exception):
    """Root of every error ksef-auth raises on purpose."""


class ConfigError(KsefAuthError):
    """A strategy configuration is wrong. ``source`` is the file or ``<dict>``, ``key`` the path."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        self.source = source
        self.key = key
        self.reason = message
        where = ":".join(p for p in (source, key) if p)
        super().__init__(f"{where}: {message}" if where else message)


class ConfigErrors(ConfigError):
    """Every problem found in one pass over a configuration. ``errors`` holds each one (a
    :class:`ConfigError` with its own ``source`` and ``key``: ``file:key`` or ``file:line``);
    the message gives the count and the first ``shown`` in full."""

    def __init__(
        self, errors: Sequence[ConfigError], *, source: str | None = None, shown: int = 20
    ) -> None:
        self.errors = tuple(errors)
        count = len(self.errors)
        head = f"{count:,} problems" if count != 1 else "1 problem"
        if count > shown:
            head += f", the first {shown} shown"
        lines = [f"  {str(e).replace(chr(10), chr(10) + '    ')}" for e in self.errors[:shown]]
        if count > shown:
            lines.append(f"  ... and {count - shown:,} more (ksef-auth config check --json)")
        super().__init__(head + ":\n" + "\n".join(lines), source=source)


class PluginNotFound(ConfigError):
    """A configured plugin name is not installed (the message lists what is)."""


class CredentialError(KsefAuthError):
    """A credential could not be loaded, or is not usable for this strategy."""


class NotAvailable(CredentialError):
    """The source has nothing here (variable unset, file absent): a chain tries the next one."""


class CredentialChainError(CredentialError):
    """Every source of a credential chain failed. ``attempts`` is ``[(source name, reason)]``."""

    def __init__(self, attempts: Sequence[tuple[str, str]]) -> None:
        self.attempts = list(attempts)
        lines = "\n".join(f"  - {name}: {reason}" for name, reason in self.attempts)
        super().__init__(f"no credential source could provide a credential:\n{lines}")


class CertificateError(CredentialError):
    """A certificate or key is unusable (expired, mismatched, too weak, wrong identity)."""


class WrongPassword(CredentialError):
    """The password that opens a credential (a PKCS#12 file, an encrypted key, a token's PIN)
    is wrong, or none is set. The message says where the password came from, never what it is."""


class CredentialRejected(CredentialError):
    """KSeF rejected this credential recently; ksef-auth will not retry it until it changes or
    the back-off passes. ``cause`` is the original :class:`AuthenticationFailed`."""

    def __init__(self, message: str, *, retry_at: float, cause: KsefError) -> None:
        self.retry_at = retry_at
        self.cause = cause
        super().__init__(message)


class KsefError(KsefAuthError):
    """KSeF answered with an error.

    ``http_status`` is the HTTP status, ``code`` KSeF's exception or status code, ``description``
    and ``details`` its words, ``trace_id`` the id to quote to KSeF support.
    """

    def __init__(
        self,
        message: str,
        *,
        http_status: int | None = None,
        code: int | None = None,
        description: str | None = None,
        details: Sequence[str] = (),
        trace_id: str | None = None,
    ) -> None:
        self.http_status = http_status
        self.code = code
        self.description = description
        self.details = tuple(details)
        self.trace_id = trace_id
        super().__init__(message)


class AuthenticationFailed(KsefError):
    """The login ended with a final status: 415 no permission, 425 revoked, 450 bad token,
    460 certificate, 470 deceased person, 480 blocked, 500 unknown."""


class SessionInvalid(KsefError):
    """The session cannot be refreshed any more (expired or revoked refresh token)."""


class RateLimited(KsefError):
    """KSeF answered 429. ``retry_after`` is the number of seconds it asked to wait."""

    def __init__(self, message: str, *, retry_after: float, **kwargs: object) -> None:
        self.retry_after = retry_after
        super().__init__(message, **kwargs)  # type: ignore[arg-type]


class ProtocolError(KsefAuthError):
    """An answer is not what KSeF 2.0 documents: not JSON (an HTML page from a captive portal or
    a proxy), empty, ``{}``, or a field missing or of the wrong type. ``endpoint`` is the request
    (``"POST /v2/auth/challenge"``), ``http_status`` its status, ``reason`` what was wrong. The
    body is never repeated: it may hold tokens."""

    def __init__(
        self, message: str, *, endpoint: str = "", http_status: int | None = None, reason: str = ""
    ) -> None:
        self.endpoint = endpoint
        self.http_status = http_status
        self.reason = reason
        super().__init__(message)


class DeadlineExceeded(KsefAuthError):
    """A login or refresh did not finish within its deadline (``RefreshPolicy.poll_deadline``,
    which covers every attempt, poll, retry and wait of one login); the message says where it
    stood."""


class PollTimeout(DeadlineExceeded):
    """The authentication operation was still in progress (status 100) at the login deadline."""


class StoreError(KsefAuthError):
    """The session store is unreachable or refused an operation (the message says which)."""


class NoSession(KsefAuthError):
    """There is no stored session to show, list or revoke, and the command was not asked to log
    in (``ksef-auth login`` first)."""


class TransportError(KsefAuthError, httpx.TransportError):
    """No answer from KSeF (connection refused, timeout, reset). Also an ``httpx.HTTPError``,
    so code that already catches httpx's errors keeps working; the original is ``__cause__``."""
