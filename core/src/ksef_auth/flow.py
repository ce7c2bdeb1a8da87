"""The KSeF 2.0 login protocol: challenge, sign, submit, poll, redeem; refresh, revoke, list.

:class:`LoginFlow` is stateless apart from the public-key cache and what it learns of how long
verification takes, and makes no decision about *when* to log in (that is
:mod:`ksef_auth.session`). One login::

    preflight  signer.preflight(credential, context, environment)   optional, no network
    challenge  POST {signer.challenge_path}                          -> Challenge
    sign       signer.sign(SignRequest(...))                         -> Submission (no network)
    submit     POST submission.path
      kind="operation": 202 {referenceNumber, authenticationToken}
        poll   GET /auth/{ref}  (Bearer authenticationToken; first where verification usually
               ends, then gently backing off: :mod:`ksef_auth.polling`)
               100 wait | 200 redeem | 550 start over | 4xx and 500 final -> AuthenticationFailed
        redeem POST /auth/token/redeem (once, never replayed) -> access + refresh token
      kind="session":   200 {sessionToken{token, validUntil}} (challenge-HMAC schemes; no refresh)

**One deadline** (``poll_deadline``, the strategy's ``refresh.poll_deadline``) covers the whole
login: every attempt, poll, retry, start-over and rate-limit wait. Past it the login raises
:class:`~ksef_auth.errors.DeadlineExceeded` (:class:`~ksef_auth.errors.PollTimeout` when KSeF
was still verifying). A refresh gets a deadline of the same length.

**Starting over.** A login starts over from a fresh challenge (at most ``max_restarts`` times)
when the attempt may have been processed without us seeing the answer: 5xx or no answer to the
submission or the redeem, or status 550. A submission refused with 21111 (challenge already
used) or a redeem refused with 21301 (already redeemed) means something between us and KSeF
sent the request twice and we saw the second answer: that starts over *once*.

**Answers** are read through :class:`~ksef_auth.answers.Answer`: anything but the JSON KSeF
documents is a :class:`~ksef_auth.errors.ProtocolError`, never a ``KeyError``.

KSeF's public keys (``GET /security/public-key-certificates``) are cached per environment for
24 h and fetched again when a submission is refused with 21470 (unknown key); the submission
is then signed again, once, over a fresh challenge. A signer that does not encrypt anything may
set ``uses_public_keys = False`` to skip the key list.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import attrs
import httpx

from ksef_auth.answers import Answer
from ksef_auth.components import Signer
from ksef_auth.errors import (
    AuthenticationFailed,
    DeadlineExceeded,
    KsefError,
    PollTimeout,
    SessionInvalid,
    TransportError,
)
from ksef_auth.model import (
    Challenge,
    ContextIdentifier,
    Credential,
    Environment,
    PublicKeyCertificate,
    SessionTokens,
    SignRequest,
    Submission,
    Token,
)
from ksef_auth.polling import PollSchedule, VerificationTimes, verification_times
from ksef_auth.secret import Secret
from ksef_auth.transport import Transport, error_from_response, parse_error_body

log = logging.getLogger("ksef_auth.flow")

KEY_CACHE_SECONDS = 24 * 3600.0
#: final statuses that say the credential itself was refused (the session manager fails fast)
REJECTION_STATUSES = frozenset({415, 450, 460, 470, 480})
#: codes that mean a one-shot request reached KSeF twice (a middlebox replayed it)
ANSWERED_TWICE = frozenset({21111, 21301})

STATUS_HINTS: dict[int, str] = {
    415: "the credential has no permissions in this context: grant permissions for it in KSeF"
    " or use a credential of the context's owner",
    425: "the authentication was revoked: log in again",
    450: "KSeF refused the KSeF token: check that it is active, not revoked and issued for this"
    " context; generate a new token if needed",
    460: "KSeF refused the certificate (invalid, expired, revoked or untrusted chain): use a"
    " valid certificate accepted in this environment",
    470: "the credential belongs to a deceased person and cannot be used",
    480: "authentication for this context is blocked (suspected security incident): contact"
    " the Ministry of Finance (KSeF support)",
    500: "KSeF failed with an unknown error: try again later",
    550: "KSeF cancelled the operation: try again",
}

_keys: dict[str, tuple[float, tuple[PublicKeyCertificate, ...]]] = {}
_keys_lock = threading.Lock()


def forget_public_keys() -> None:
    """Empty the public-key cache of every environment (tests, key rotation drills)."""
    with _keys_lock:
        _keys.clear()


@attrs.frozen
class AuthSession:
    """One entry of ``GET /auth/sessions``: an authentication session of the current context."""

    reference_number: str
    is_current: bool
    start_date: datetime | None
    method: str | None
    status_code: int | None
    status_description: str | None
    is_token_redeemed: bool | None
    refresh_token_valid_until: datetime | None

    @classmethod
    def from_answer(cls, item: Answer) -> AuthSession:
        status = item.optional_item("status")
        info = item.optional_item("authenticationMethodInfo")
        return cls(
            reference_number=item.text("referenceNumber"),
            is_current=bool(item.optional_bool("isCurrent")),
            start_date=item.optional_timestamp("startDate"),
            method=(info.optional_text("code") if info else None)
            or item.optional_text("authenticationMethod"),
            status_code=status.optional_integer("code") if status else None,
            status_description=status.optional_text("description") if status else None,
            is_token_redeemed=item.optional_bool("isTokenRedeemed"),
            refresh_token_valid_until=item.optional_timestamp("refreshTokenValidUntil"),
        )


class _StartOver(Exception):
    """Internal: this attempt cannot finish, but a new one from a fresh challenge may.
    ``twice``: because a one-shot request was answered twice (21111/21301)."""

    def __init__(self, error: Exception, *, twice: bool = False) -> None:
        self.error = error
        self.twice = twice


class LoginFlow:
    """The protocol for one environment and one signer. Thread-safe; holds no session.

    ``poll_first_delay`` (None: learned), ``poll_interval`` and ``poll_interval_max`` shape the
    status polls (:class:`~ksef_auth.polling.PollSchedule`); ``learned`` is where verification
    times are remembered (the process-wide :data:`~ksef_auth.polling.verification_times`).
    """

    def __init__(
        self,
        environment: Environment,
        signer: Signer,
        *,
        transport: Transport | None = None,
        poll_deadline: float = 120.0,
        poll_first_delay: float | None = None,
        poll_interval: float = 0.05,
        poll_interval_max: float = 2.0,
        max_restarts: int = 2,
        learned: VerificationTimes | None = None,
    ) -> None:
        self.environment = environment
        self.signer = signer
        self.transport = transport or Transport(environment)
        self.poll_deadline = poll_deadline
        self.poll_first_delay = poll_first_delay
        self.poll_interval = poll_interval
        self.poll_interval_max = poll_interval_max
        self.max_restarts = max_restarts
        self.learned = learned if learned is not None else verification_times
        self._sleep: Callable[[float], None] = time.sleep

    # --- login ----------------------------------------------------------------------------------

    def login(self, credential: Credential, context: ContextIdentifier) -> SessionTokens:
        """Log in with ``credential`` for ``context``; the new session's tokens.

        Raises :class:`AuthenticationFailed` (final status), :class:`DeadlineExceeded` (or its
        :class:`PollTimeout`), :class:`KsefError` (a refused request), :class:`ProtocolError`
        (an answer that is not KSeF's), :class:`TransportError`, or whatever the signer raises
        for an unusable credential (before any network call).
        """
        preflight = getattr(self.signer, "preflight", None)
        if preflight is not None:
            preflight(credential, context, self.environment)
        deadline = time.monotonic() + self.poll_deadline
        restarts = 0
        answered_twice = False
        while True:
            try:
                return self._attempt(credential, context, deadline)
            except _StartOver as start_over:
                if start_over.twice:
                    if answered_twice:
                        raise start_over.error from None
                    answered_twice = True  # once, and it does not count against max_restarts
                elif restarts >= self.max_restarts:
                    raise start_over.error from None
                else:
                    restarts += 1
                if time.monotonic() >= deadline:
                    raise start_over.error from None
                log.info("login for %s starts over (%s)", context, start_over.error)

    def _attempt(
        self, credential: Credential, context: ContextIdentifier, deadline: float
    ) -> SessionTokens:
        method = self.signer.method
        refetched = False
        while True:
            keys = (
                self.public_keys(refetch=refetched, deadline=deadline) if self._uses_keys() else ()
            )
            challenge = self.challenge(context=context, deadline=deadline)
            submission = self.signer.sign(
                SignRequest(challenge, context, credential, self.environment, keys)
            )
            response = self._submit(submission, context, deadline)
            if response.status_code == 400 and not refetched and _code(response) == 21470:
                log.info("KSeF refused the public key; fetching the key list again")
                refetched = True
                continue
            break
        submitted = time.monotonic()
        action = f"{method} login for {context}"
        if response.status_code >= 500:
            raise _StartOver(error_from_response(response, action))
        if response.status_code >= 300:
            error = error_from_response(response, action)
            if response.status_code == 400 and error.code in ANSWERED_TWICE:
                raise _StartOver(error, twice=True)
            raise error
        answer = Answer.of(response, action)
        fingerprint = credential.fingerprint
        if submission.kind == "session":
            return SessionTokens(
                access_token=answer.token("sessionToken"),
                refresh_token=None,
                reference_number=answer.optional_text("referenceNumber") or challenge.challenge,
                context=context,
                environment=self.environment.base_url,
                credential_fingerprint=fingerprint,
                method=method,
                obtained_at=datetime.now(UTC),
            )
        reference = answer.text("referenceNumber")
        auth_token = Secret(answer.item("authenticationToken").text("token"))
        self._poll(reference, auth_token, context, deadline, submitted)
        access, refresh = self._redeem(reference, auth_token, context, deadline)
        return SessionTokens(
            access_token=access,
            refresh_token=refresh,
            reference_number=reference,
            context=context,
            environment=self.environment.base_url,
            credential_fingerprint=fingerprint,
            method=method,
            obtained_at=datetime.now(UTC),
        )

    def _uses_keys(self) -> bool:
        return bool(getattr(self.signer, "uses_public_keys", True))

    def challenge(
        self, *, context: ContextIdentifier | None = None, deadline: float | None = None
    ) -> Challenge:
        """``POST {signer.challenge_path}`` (no body)."""
        action = "getting a challenge"
        response = self.transport.request(
            "POST", self.signer.challenge_path, action=action, context=context, deadline=deadline
        )
        if response.status_code != 200:
            raise error_from_response(response, action)
        answer = Answer.of(response, action)
        stamp = answer.timestamp("timestamp")
        timestamp_ms = answer.optional_integer("timestampMs")
        if timestamp_ms is None:
            epoch = datetime(1970, 1, 1, tzinfo=UTC)
            timestamp_ms = (stamp - epoch) // timedelta(milliseconds=1)
        return Challenge(
            challenge=answer.text("challenge"),
            timestamp=answer.text("timestamp"),
            timestamp_ms=timestamp_ms,
            client_ip=answer.optional_text("clientIp"),
        )

    def _submit(
        self, submission: Submission, context: ContextIdentifier, deadline: float
    ) -> httpx.Response:
        try:
            return self.transport.request(
                "POST",
                submission.path,
                action=f"submitting the {self.signer.method} proof",
                content=submission.content,
                content_type=submission.content_type,
                params=submission.params,
                replay="unsent",
                context=context,
                deadline=deadline,
            )
        except TransportError as exc:
            raise _StartOver(exc) from exc

    def _poll(
        self,
        reference: str,
        auth_token: Secret,
        context: ContextIdentifier,
        deadline: float,
        submitted: float,
    ) -> None:
        base, method = self.environment.base_url, self.signer.method
        schedule = PollSchedule(
            typical=self.learned.typical(base, method),
            first_delay=self.poll_first_delay,
            interval=self.poll_interval,
            interval_max=self.poll_interval_max,
        )
        action = f"checking authentication {reference}"
        polls = 0

        def timeout(cause: str = "") -> PollTimeout:
            return PollTimeout(
                f"authentication {reference} for {context} was still in progress (status 100)"
                f" at the login's deadline of {self.poll_deadline:g} s ({polls} status checks"
                f"{cause}); KSeF may still be verifying the credential: try again later or"
                " raise refresh.poll_deadline"
            )

        for wait in schedule:
            self._sleep(max(0.0, min(wait, deadline - time.monotonic())))
            if time.monotonic() >= deadline:
                raise timeout()
            sent = time.monotonic()
            try:
                response = self.transport.request(
                    "GET",
                    f"/auth/{reference}",
                    action=action,
                    bearer=auth_token,
                    context=context,
                    deadline=deadline,
                )
            except DeadlineExceeded as exc:
                raise timeout(", the last one unanswered") from exc
            polls += 1
            if response.status_code != 200:
                raise error_from_response(response, action)
            status = Answer.of(response, action).item("status")
            code = status.integer("code")
            if code == 200:
                self.learned.note(base, method, sent - submitted)
                return
            if code == 100:
                continue
            error = _status_error(reference, context, code, status)
            if code == 550:
                raise _StartOver(error)
            raise error

    def _redeem(
        self, reference: str, auth_token: Secret, context: ContextIdentifier, deadline: float
    ) -> tuple[Token, Token]:
        action = f"redeeming the tokens of {reference}"
        try:
            response = self.transport.request(
                "POST",
                "/auth/token/redeem",
                action=action,
                bearer=auth_token,
                replay="unsent",
                context=context,
                deadline=deadline,
            )
        except TransportError as exc:
            raise _StartOver(exc) from exc
        if response.status_code >= 500:
            raise _StartOver(error_from_response(response, action))
        if response.status_code != 200:
            error = error_from_response(response, action)
            if response.status_code == 400 and error.code in ANSWERED_TWICE:
                raise _StartOver(error, twice=True)
            raise error
        answer = Answer.of(response, action)
        return answer.token("accessToken"), answer.token("refreshToken")

    # --- public keys ----------------------------------------------------------------------------

    def public_keys(
        self, *, refetch: bool = False, deadline: float | None = None
    ) -> tuple[PublicKeyCertificate, ...]:
        """KSeF's public key certificates, cached per environment for 24 h."""
        url = self.environment.base_url
        cached = _keys.get(url)
        if cached is not None and not refetch and time.monotonic() - cached[0] < KEY_CACHE_SECONDS:
            return cached[1]
        action = "fetching KSeF's public keys"
        response = self.transport.request(
            "GET", "/security/public-key-certificates", action=action, deadline=deadline
        )
        if response.status_code != 200:
            raise error_from_response(response, action)
        keys = tuple(_public_key(item) for item in Answer.list_of(response, action))
        with _keys_lock:
            _keys[url] = (time.monotonic(), keys)
        return keys

    # --- after login ----------------------------------------------------------------------------

    def refresh(self, tokens: SessionTokens) -> SessionTokens:
        """A new access token from the refresh token (``POST /auth/token/refresh``).

        Raises :class:`SessionInvalid` when the refresh token is missing, expired or revoked.
        """
        action = f"refreshing session {tokens.reference_number}"
        refresh = tokens.refresh_token
        if refresh is None:
            raise SessionInvalid(f"{action}: this session has no refresh token; log in again")
        if refresh.valid_until <= datetime.now(UTC):
            raise SessionInvalid(f"{action}: the refresh token has expired; log in again")
        response = self.transport.request(
            "POST",
            "/auth/token/refresh",
            action=action,
            bearer=refresh.value,
            context=tokens.context,
            deadline=time.monotonic() + self.poll_deadline,
        )
        if response.status_code == 200:
            access = Answer.of(response, action).token("accessToken")
            return attrs.evolve(tokens, access_token=access, refreshed_at=datetime.now(UTC))
        if response.status_code == 401 or (
            response.status_code == 400 and _code(response) in (21301, 21304)
        ):
            raise error_from_response(response, action, cls=SessionInvalid)
        raise error_from_response(response, action)

    def revoke(self, tokens: SessionTokens) -> None:
        """End the session (``DELETE /auth/sessions/current``): its refresh token stops working;
        access tokens already issued live on until they expire. Raises :class:`SessionInvalid`
        when KSeF no longer knows the session."""
        action = f"revoking session {tokens.reference_number}"
        bearer = tokens.access_token
        if tokens.refresh_token is not None and tokens.refresh_token.valid_until > datetime.now(
            UTC
        ):
            bearer = tokens.refresh_token  # still valid when the access token is not
        response = self.transport.request(
            "DELETE",
            "/auth/sessions/current",
            action=action,
            bearer=bearer.value,
            context=tokens.context,
            deadline=time.monotonic() + self.poll_deadline,
        )
        if response.status_code in (200, 204):
            return
        cls = SessionInvalid if response.status_code in (400, 401) else KsefError
        raise error_from_response(response, action, cls=cls)

    def revoke_session(self, tokens: SessionTokens, reference_number: str) -> None:
        """End another session of the same context (``DELETE /auth/sessions/{ref}``), acting
        with ``tokens``' access token. Raises :class:`SessionInvalid` when KSeF no longer knows
        that session (400) or refuses the token (401)."""
        action = f"revoking session {reference_number}"
        response = self.transport.request(
            "DELETE",
            f"/auth/sessions/{reference_number}",
            action=action,
            bearer=tokens.access_token.value,
            context=tokens.context,
            deadline=time.monotonic() + self.poll_deadline,
        )
        if response.status_code in (200, 204):
            return
        cls = SessionInvalid if response.status_code in (400, 401) else KsefError
        raise error_from_response(response, action, cls=cls)

    def list_sessions(self, tokens: SessionTokens, page_size: int = 100) -> list[AuthSession]:
        """Every authentication session of the context (``GET /auth/sessions``, all pages)."""
        action = "listing sessions"
        result: list[AuthSession] = []
        continuation: str | None = None
        seen: set[str] = set()
        while True:
            headers = {"x-continuation-token": continuation} if continuation else None
            response = self.transport.request(
                "GET",
                "/auth/sessions",
                action=action,
                bearer=tokens.access_token.value,
                params={"pageSize": str(page_size)},
                headers=headers,
                context=tokens.context,
                deadline=time.monotonic() + self.poll_deadline,
            )
            if response.status_code != 200:
                raise error_from_response(response, action)
            answer = Answer.of(response, action)
            result.extend(AuthSession.from_answer(item) for item in answer.items("items"))
            continuation = answer.optional_text("continuationToken") or None
            if not continuation or continuation in seen:  # a repeated token would loop forever
                return result
            seen.add(continuation)


def _public_key(item: Answer) -> PublicKeyCertificate:
    try:
        der = base64.b64decode(item.text("certificate"), validate=True)
    except (binascii.Error, ValueError):
        item.invalid("certificate", "is not base64")
    return PublicKeyCertificate(
        certificate=der,
        public_key_id=item.optional_text("publicKeyId")
        or item.optional_text("certificateId")
        or "",
        usage=item.strings("usage"),  # type: ignore[arg-type]
        valid_from=item.timestamp("validFrom"),
        valid_to=item.timestamp("validTo"),
    )


def _code(response: httpx.Response) -> int | None:
    return parse_error_body(response).code


def _status_error(
    reference: str, context: ContextIdentifier, code: int, status: Answer
) -> AuthenticationFailed:
    description = status.optional_text("description")
    details = status.strings("details")
    message = f"authentication {reference} for {context} ended with status {code}"
    if description:
        message += f": {description}"
    if details:
        message += " [" + "; ".join(details) + "]"
    hint = STATUS_HINTS.get(code)
    if hint:
        message += f". {hint[0].upper()}{hint[1:]}"
    return AuthenticationFailed(
        message, http_status=200, code=code, description=description, details=details
    )
