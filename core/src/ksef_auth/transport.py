"""Talking HTTP to KSeF: shared clients, timeouts, retries, pacing, and KSeF's error bodies.

One ``httpx.Client`` per environment base URL lives for the whole process (creating one costs
tens of milliseconds of certificate loading); :func:`client_for` hands it out. A fork clears the
cache, so a pre-forking server never shares sockets between workers.

**How long, how hard** (:class:`HttpPolicy`). Each attempt waits at most ``connect_timeout`` to
connect and ``read_timeout`` for each read, and reads the whole body within ``read_timeout`` of
its headers and at most :data:`MAX_ANSWER_BYTES` of it (a server that trickles a body byte by
byte, or sends one without end, is cut off); a request makes at most ``attempts`` attempts. A
strategy file's ``http`` table sets these; the environment variables
``KSEF_AUTH_CONNECT_TIMEOUT``, ``KSEF_AUTH_READ_TIMEOUT``, ``KSEF_AUTH_RETRY_ATTEMPTS`` and
``KSEF_AUTH_MAX_RETRY_AFTER`` set whatever the strategy leaves unset. A request may carry a
``deadline`` (the login's, which covers every attempt, poll and retry of one login): no
attempt's timeout, backoff or pacing wait reaches past it.

**What is retried.** Every request is retried, with exponential backoff and full jitter, on
429 (waiting at least ``Retry-After``), on 500/502/503/504, on timeouts and on connection errors,
*if replaying it is safe*. A request says how safe it is with ``replay``:

* ``"always"``: idempotent or harmless to repeat (challenge, public keys, status polls, refresh,
  session listing, revocation). Retried on all of the above.
* ``"unsent"``: one-shot requests whose effect must not happen twice or whose repetition would
  fail confusingly: the redeem (a second redeem is refused with 21301 and the first answer, with
  the tokens in it, is lost) and the identity submissions (the challenge is single-use). These are
  retried only when KSeF certainly did not process them: on 429 (the rate limiter answers before
  the request is handled) and when the connection could not be opened (nothing was sent). After
  a 5xx, a read timeout or a dropped connection the request may have been processed, so
  the response or error goes back to the login flow, which starts over with a fresh challenge.

A 429 whose ``Retry-After`` exceeds :attr:`HttpPolicy.max_retry_after`, or one still there when
the attempts run out, becomes :class:`~ksef_auth.errors.RateLimited`.

**Plain http.** Nothing is sent over plain http except to a loopback address (a local
simulator): :class:`~ksef_auth.model.Environment` refuses such a base URL when it is built, and
:class:`Transport` checks again before its first request. :func:`require_secure` is the same
check for URLs of users' own requests.

**Error bodies.** :func:`error_from_response` turns a failed answer into a typed error with
KSeF's code, words and trace id; a body that is not KSeF's JSON (a proxy's HTML page) is
described, never repeated, and tokens KSeF's words might quote are masked.

**System warnings.** ``X-System-Warning`` headers (KSeF's early notice of what it will reject
in future) are recorded per environment in :mod:`ksef_auth.system_warnings`, logged once per
distinct warning and handed to ``on_warning`` (the session manager turns them into an observer
event).
"""

from __future__ import annotations

import json
import logging
import math
import os
import random
import re
import threading
import time
from collections.abc import Callable, Mapping
from email.utils import parsedate_to_datetime
from typing import Any, Literal

import attrs
import httpx

from ksef_auth import system_warnings
from ksef_auth.answers import describe_body
from ksef_auth.errors import (
    ConfigError,
    DeadlineExceeded,
    KsefError,
    ProtocolError,
    RateLimited,
    TransportError,
)
from ksef_auth.model import ContextIdentifier, Environment, is_loopback_host
from ksef_auth.pacing import Pacer, operation_of
from ksef_auth.secret import Secret

log = logging.getLogger("ksef_auth.transport")

Replay = Literal["always", "unsent"]

DEFAULT_TIMEOUT = httpx.Timeout(10.0, connect=5.0)
RETRYABLE_STATUSES = frozenset({429, 500, 502, 503, 504})
MAX_ANSWER_BYTES = 4 * 2**20
"""The largest answer read (decoded); KSeF's authentication and token answers are a few kB."""
USER_AGENT = "ksef-auth/0.2 (+httpx)"

# --- shared clients -----------------------------------------------------------------------------

_clients: dict[str, httpx.Client] = {}
_clients_lock = threading.Lock()


def client_for(environment: Environment) -> httpx.Client:
    """The process-wide ``httpx.Client`` for ``environment`` (created on first use)."""
    client = _clients.get(environment.base_url)
    if client is None:
        with _clients_lock:
            client = _clients.get(environment.base_url)
            if client is None or client.is_closed:
                client = httpx.Client(
                    base_url=environment.base_url,
                    timeout=DEFAULT_TIMEOUT,
                    headers={"User-Agent": USER_AGENT, "Accept": "application/json"},
                    limits=httpx.Limits(max_connections=32, max_keepalive_connections=16),
                    follow_redirects=False,
                )
                _clients[environment.base_url] = client
    return client


def close_clients() -> None:
    """Close every shared client (tests, interpreter shutdown). New ones are made on demand."""
    with _clients_lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


def _forget_clients_after_fork() -> None:
    global _clients_lock
    _clients.clear()  # the parent's sockets are not ours; never close them from the child
    _clients_lock = threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_clients_after_fork)

# --- plain-http guard ---------------------------------------------------------------------------


def require_secure(url: httpx.URL | str) -> None:
    """Refuse ``url`` if it is plain http to anything but a loopback address, or carries
    ``user:password@`` (the rule of :class:`~ksef_auth.model.Environment`)."""
    url = httpx.URL(str(url))
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise ConfigError(
            f"refusing to send anything for KSeF over plain http to {url.host}: use https"
            " (plain http is accepted only for loopback addresses such as a local simulator)"
        )
    if url.userinfo:
        raise ConfigError(
            f"refusing a KSeF URL with a user name or password in it ({url.host}): remove it"
        )


# --- KSeF's error bodies ------------------------------------------------------------------------

_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")
# a KSeF token ("<reference>|<context>|<hex>"), a long hex or base64 run (an encrypted token)
_KSEF_TOKEN = re.compile(r"[\w-]+\|[\w-]+\|[0-9a-fA-F]{16,}")
_LONG_BLOB = re.compile(r"[A-Za-z0-9+/=_-]{64,}")


@attrs.frozen
class ErrorBody:
    """KSeF's error, read from either dialect (legacy ``exception`` JSON or problem+json)."""

    code: int | None = None
    description: str | None = None
    details: tuple[str, ...] = ()
    trace_id: str | None = None


def _clean(text: Any, limit: int = 300) -> str:
    text = _JWT.sub("<jwt>", str(text))
    text = _KSEF_TOKEN.sub("<ksef-token>", text)
    text = _LONG_BLOB.sub("<redacted>", text)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_error_body(response: httpx.Response) -> ErrorBody:
    """KSeF's code, description, details and trace id, whichever dialect the body is in.

    Legacy: ``{"exception": {"exceptionDetailList": [{exceptionCode, exceptionDescription,
    details}], "serviceCode": <trace id>}}``; problem+json: ``{"errors": [{code, description,
    details}], "detail", "title", "traceId", "reasonCode"}``; the deprecated 429 form:
    ``{"status": {"code", "description", "details"}}``.
    """
    try:
        body = json.loads(response.content)
    except (ValueError, RecursionError):  # a proxy's page: described, never repeated
        if not response.content.strip():
            return ErrorBody()
        return ErrorBody(description=f"the answer is {describe_body(response)}, not KSeF's JSON")
    if not isinstance(body, dict):
        return ErrorBody()
    exception = body.get("exception")
    if isinstance(exception, dict):
        entries = _list(exception.get("exceptionDetailList"))
        first = entries[0] if entries and isinstance(entries[0], dict) else {}
        details = [d for e in entries if isinstance(e, dict) for d in _list(e.get("details"))]
        descriptions = [str(e.get("exceptionDescription")) for e in entries if isinstance(e, dict)]
        return ErrorBody(
            code=_int(first.get("exceptionCode")),
            description=_clean("; ".join(d for d in descriptions if d)) or None,
            details=tuple(_clean(d) for d in details),
            trace_id=_text(exception.get("serviceCode")),
        )
    errors = _list(body.get("errors"))
    if errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        details = [d for e in errors if isinstance(e, dict) for d in _list(e.get("details"))]
        return ErrorBody(
            code=_int(first.get("code")),
            description=_clean(first.get("description") or body.get("detail") or ""),
            details=tuple(_clean(d) for d in details),
            trace_id=_text(body.get("traceId")),
        )
    status = body.get("status")
    if isinstance(status, dict):
        return ErrorBody(
            code=_int(status.get("code")),
            description=_clean(status.get("description") or ""),
            details=tuple(_clean(d) for d in _list(status.get("details"))),
        )
    detail = body.get("detail") or body.get("title")
    reason = body.get("reasonCode")
    return ErrorBody(
        description=_clean(detail) if detail else None,
        details=(f"reasonCode: {_clean(reason)}",) if reason else (),
        trace_id=_text(body.get("traceId")),
    )


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: Any) -> str | None:
    return _clean(value, 100) if isinstance(value, str | int) and value != "" else None


def _int(value: Any) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None


# What to do next, by KSeF exception code or HTTP status (messages never hold a secret).
HINTS: dict[int, str] = {
    21111: "the challenge is unknown, expired or already used: log in again with a fresh one",
    21301: "the session cannot give tokens any more (already redeemed, revoked or expired):"
    " log in again",
    21304: "KSeF does not know this authentication operation: log in again",
    21405: "KSeF rejected the request data: check the context identifier and the signer options",
    21418: "the continuation token is invalid: list again from the first page",
    21470: "KSeF does not accept the public key used: re-fetch the key list and sign again",
    401: "the bearer token is missing, expired or invalid: obtain a new one",
    403: "the token may not do this (permissions, IP policy or blocked context)",
    410: "the operation is older than KSeF keeps (7 days): log in again",
    429: "KSeF's rate limit was hit: wait Retry-After seconds before trying again",
    500: "KSeF had an internal error: try again later",
    502: "KSeF's gateway failed: try again later",
    503: "KSeF is unavailable (maintenance?): try again later",
    504: "KSeF's gateway timed out: try again later",
}


def error_from_response(
    response: httpx.Response, action: str, *, cls: type[KsefError] = KsefError
) -> KsefError:
    """A typed error for a failed response: what was tried, what KSeF said, what to do next."""
    body = parse_error_body(response)
    status = response.status_code
    parts = [f"{action} failed: KSeF answered HTTP {status}"]
    if body.code is not None and body.code != status:
        parts.append(f" (code {body.code})")
    if body.description:
        parts.append(f": {body.description}")
    if body.details:
        parts.append(" [" + "; ".join(body.details) + "]")
    hint = HINTS.get(body.code or 0) or HINTS.get(status)
    if hint:
        parts.append(f". {hint[0].upper()}{hint[1:]}")
    if body.trace_id:
        parts.append(f" (trace id {body.trace_id})")
    message = "".join(parts)
    kwargs: dict[str, Any] = {
        "http_status": status,
        "code": body.code,
        "description": body.description,
        "details": body.details,
        "trace_id": body.trace_id,
    }
    if status == 429:
        return RateLimited(message, retry_after=retry_after_of(response) or 0.0, **kwargs)
    return cls(message, **kwargs)


def retry_after_of(response: httpx.Response) -> float | None:
    """``Retry-After`` in seconds (delta-seconds or an HTTP date), or None."""
    value = response.headers.get("Retry-After")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        return max(0.0, parsedate_to_datetime(value).timestamp() - time.time())
    except (TypeError, ValueError):
        return None


# --- how long and how hard ---------------------------------------------------------------------

#: environment variable -> HttpPolicy field, for what a strategy leaves unset
ENV_VARIABLES: dict[str, str] = {
    "KSEF_AUTH_CONNECT_TIMEOUT": "connect_timeout",
    "KSEF_AUTH_READ_TIMEOUT": "read_timeout",
    "KSEF_AUTH_RETRY_ATTEMPTS": "attempts",
    "KSEF_AUTH_MAX_RETRY_AFTER": "max_retry_after",
}
MAX_ATTEMPTS = 10


def _seconds(instance: Any, attribute: attrs.Attribute[float], value: float) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        kind = type(value).__name__
        raise ValueError(f"{attribute.name} must be a number of seconds, got {kind}")
    if not math.isfinite(value) or value <= 0 or value > 3600:
        raise ValueError(f"{attribute.name} must be more than 0 and at most 3600 s, got {value}")


def _attempts(instance: Any, attribute: attrs.Attribute[int], value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ATTEMPTS:
        raise ValueError(f"attempts must be a whole number from 1 to {MAX_ATTEMPTS}, got {value!r}")


@attrs.frozen(kw_only=True)
class HttpPolicy:
    """How long to wait for KSeF and how hard to try (a strategy's ``http`` table).

    ``attempts`` counts the first try (1: never retry); retry delays grow from ``base_delay`` by
    doubling up to ``max_delay``, each drawn uniformly from [0, that] (full jitter). Every value
    is bounded by the login's deadline (``refresh.poll_deadline``) as well.
    """

    connect_timeout: float = attrs.field(default=5.0, validator=_seconds)
    """Seconds to wait for a connection (TCP and TLS)."""
    read_timeout: float = attrs.field(default=10.0, validator=_seconds)
    """Seconds to wait for each read of an answer (KSeF answers in well under a second)."""
    attempts: int = attrs.field(default=4, validator=_attempts)
    """Attempts per request, the first included (the retry budget)."""
    base_delay: float = attrs.field(default=0.25, validator=_seconds)
    max_delay: float = attrs.field(default=8.0, validator=_seconds)
    max_retry_after: float = attrs.field(default=30.0, validator=_seconds)
    """A 429 asking to wait longer than this (s) is raised at once as ``RateLimited``."""

    def backoff(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2**retry))

    def timeout(self, left: float | None) -> httpx.Timeout:
        """The timeouts of one attempt, none past ``left`` seconds (the deadline's rest)."""
        connect, read = self.connect_timeout, self.read_timeout
        if left is not None:
            left = max(left, 0.001)
            connect, read = min(connect, left), min(read, left)
        return httpx.Timeout(read, connect=connect, pool=connect)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> HttpPolicy:
        """A policy from ``KSEF_AUTH_*`` variables (see :data:`ENV_VARIABLES`), ``overrides``
        (a strategy's own values) winning. Raises :class:`ConfigError` naming the variable."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for variable, name in ENV_VARIABLES.items():
            raw = environ.get(variable)
            if raw is None or name in overrides:
                continue
            try:
                values[name] = int(raw) if name == "attempts" else float(raw)
            except ValueError:
                kind = "a whole number" if name == "attempts" else "a number of seconds"
                raise ConfigError(
                    f"must be {kind}, got {raw[:40]!r}", source="environment", key=variable
                ) from None
            try:
                cls(**{name: values[name]})
            except ValueError as exc:
                raise ConfigError(str(exc), source="environment", key=variable) from None
        return cls(**{**values, **overrides})


RetryPolicy = HttpPolicy  # the name before 0.3; HttpPolicy also holds the timeouts

# --- requests -----------------------------------------------------------------------------------

_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
_FRAMING = frozenset({"content-encoding", "content-length", "transfer-encoding"})
"""Headers of the wire framing, dropped when an answer read in full is handed on."""
WARNING_HEADER = "X-System-Warning"


class Transport:
    """Requests to one KSeF environment over the shared client, with timeouts and retries.

    Returns the final ``httpx.Response`` whatever its status (the caller knows which statuses
    mean success); raises :class:`TransportError` when no answer came, :class:`DeadlineExceeded`
    when the deadline left no time for one, and the caller turns a final 429 into
    :class:`RateLimited`.

    **Pacing.** With a :class:`~ksef_auth.pacing.Pacer`, every attempt first waits for a slot
    under KSeF's published limit of its operation (per IP, or per (context, IP) for protected
    operations: ``context`` says which), never longer than ``deadline`` leaves; a 429 holds
    everyone sharing the pacer's limiter back for its ``Retry-After``. Without one nothing is
    booked and nothing waits.

    **Deadline.** ``deadline`` (a ``time.monotonic()`` instant) bounds the whole request: each
    attempt's timeouts, the backoff between attempts and the pacing waits.
    """

    def __init__(
        self,
        environment: Environment,
        *,
        policy: HttpPolicy | None = None,
        retry: HttpPolicy | None = None,
        client: httpx.Client | None = None,
        pacer: Pacer | None = None,
        on_warning: Callable[[system_warnings.SystemWarning], None] | None = None,
    ) -> None:
        require_secure(environment.base_url)  # before the first request, whatever built it
        if client is not None:
            require_secure(client.base_url)
        self.environment = environment
        self.policy = policy or retry or HttpPolicy.from_env()
        self.pacer = pacer
        self.on_warning = on_warning
        self._client = client
        self._sleep = time.sleep

    @property
    def retry(self) -> HttpPolicy:  # the name before 0.3
        return self.policy

    @property
    def client(self) -> httpx.Client:
        return self._client if self._client is not None else client_for(self.environment)

    def request(
        self,
        method: str,
        path: str,
        *,
        action: str,
        bearer: Secret | None = None,
        content: bytes | None = None,
        content_type: str | None = None,
        params: Mapping[str, str] | None = None,
        headers: Mapping[str, str] | None = None,
        replay: Replay = "always",
        context: ContextIdentifier | None = None,
        deadline: float | None = None,
    ) -> httpx.Response:
        send_headers = dict(headers or {})
        if content_type:
            send_headers["Content-Type"] = content_type
        if bearer is not None:
            send_headers["Authorization"] = "Bearer " + bearer.reveal()
        policy = self.policy
        client = self.client
        pacer = self.pacer
        operation = operation_of(method, path) if pacer is not None else None
        retry = 0
        while True:
            left = None if deadline is None else deadline - time.monotonic()
            if left is not None and left <= 0:
                raise self._out_of_time(action, deadline)
            if pacer is not None:
                self._pace(pacer, operation, context, action, left)
                left = None if deadline is None else deadline - time.monotonic()
            try:
                request = client.build_request(
                    method,
                    path,
                    content=content,
                    params=params,
                    headers=send_headers,
                    timeout=policy.timeout(left),
                )
                response = self._exchange(client, request, action, policy, deadline)
            except httpx.TransportError as exc:
                retryable = replay == "always" or isinstance(exc, _NOT_SENT)
                if retryable and retry + 1 < policy.attempts:
                    delay = policy.backoff(retry)
                    if _fits(delay, deadline):
                        log.info("%s: %s, retrying in %.2f s", action, type(exc).__name__, delay)
                        self._sleep(delay)
                        retry += 1
                        continue
                if deadline is not None and time.monotonic() >= deadline - 0.01:
                    raise self._out_of_time(action, deadline, exc) from exc
                raise TransportError(
                    f"{action} failed: no answer from {self.environment.base_url}"
                    f" ({type(exc).__name__}: {_clean(exc) or 'no details'}) after"
                    f" {retry + 1} attempt(s); check the network and try again"
                ) from exc
            if WARNING_HEADER in response.headers:
                self._warned(response, method, path)
            status = response.status_code
            if status not in RETRYABLE_STATUSES or (status != 429 and replay == "unsent"):
                return response
            wait = retry_after_of(response) if status == 429 else None
            if pacer is not None and status == 429:
                pacer.penalize(operation, context, wait or 0.0, base=self.environment.base_url)
            if retry + 1 >= policy.attempts:
                return response
            delay = policy.backoff(retry)
            if status == 429:
                if wait is not None and wait > policy.max_retry_after:
                    return response  # the caller raises RateLimited with retry_after
                delay = max(delay, wait or 0.0) + random.uniform(0.0, 0.1)
            if not _fits(delay, deadline):
                return response  # no time left to try again: the caller reports this answer
            log.info("%s: HTTP %s, retrying in %.2f s", action, status, delay)
            response.close()
            self._sleep(delay)
            retry += 1

    def _exchange(
        self,
        client: httpx.Client,
        request: httpx.Request,
        action: str,
        policy: HttpPolicy,
        deadline: float | None,
    ) -> httpx.Response:
        """Send ``request`` and read its answer within bounds: at most :data:`MAX_ANSWER_BYTES`
        (decoded), the whole body within ``read_timeout`` of the headers and before
        ``deadline``. A server that trickles or floods a body is cut off there (a read timeout,
        retried like one, or :class:`DeadlineExceeded`; a body too large is a ProtocolError)."""
        response = client.send(request, stream=True)
        ends = time.monotonic() + policy.read_timeout
        if deadline is not None:
            ends = min(ends, deadline)
        body = bytearray()
        try:
            for chunk in response.iter_bytes():
                body += chunk
                if len(body) > MAX_ANSWER_BYTES:
                    raise ProtocolError(
                        f"{action}: the answer from {self.environment.base_url} is larger than"
                        f" {MAX_ANSWER_BYTES // 2**20} MB (KSeF's answers are a few kB); a"
                        " proxy or a server that is not KSeF answered: check the base URL",
                        endpoint=f"{request.method} {request.url.path}",
                        http_status=response.status_code,
                        reason="answer too large",
                    )
                if time.monotonic() > ends:
                    if deadline is not None and ends >= deadline:
                        raise self._out_of_time(action, deadline)
                    raise httpx.ReadTimeout(
                        f"the answer's body did not arrive within {policy.read_timeout:g} s",
                        request=request,
                    )
        finally:
            response.close()
        headers = [(k, v) for k, v in response.headers.multi_items() if k.lower() not in _FRAMING]
        return httpx.Response(
            response.status_code, headers=headers, content=bytes(body), request=request
        )

    def _pace(
        self,
        pacer: Pacer,
        operation: str | None,
        context: ContextIdentifier | None,
        action: str,
        left: float | None,
    ) -> None:
        max_wait = float("inf") if left is None else max(0.0, left)
        try:
            pacer.wait(operation, context, base=self.environment.base_url, max_wait=max_wait)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{action}: KSeF's rate limit for {operation} leaves no slot before the"
                f" deadline ({max_wait:.1f} s left); try again later or allow more time"
            ) from None

    def _out_of_time(
        self, action: str, deadline: float | None, exc: Exception | None = None
    ) -> DeadlineExceeded:
        last = f" (the last attempt: {type(exc).__name__})" if exc is not None else ""
        return DeadlineExceeded(
            f"{action}: no answer from {self.environment.base_url} before the deadline{last};"
            " KSeF or the network is slow: try again later, or raise refresh.poll_deadline"
            " or the http timeouts"
        )

    def _warned(self, response: httpx.Response, method: str, path: str) -> None:
        endpoint = f"{method} {path}"
        for text in response.headers.get_list(WARNING_HEADER):
            for warning in system_warnings.record(self.environment.base_url, text, endpoint):
                log.warning(
                    "KSeF warns (%s, %s): %s%s",
                    self.environment.base_url,
                    endpoint,
                    f"[{warning.code}] " if warning.code else "",
                    warning.message,
                )
                if self.on_warning is not None:
                    try:
                        self.on_warning(warning)
                    except Exception:  # an observer must never break a request
                        log.exception("the system-warning callback failed")


def _fits(delay: float, deadline: float | None) -> bool:
    """Whether waiting ``delay`` seconds still leaves time before ``deadline``."""
    return deadline is None or time.monotonic() + delay < deadline
