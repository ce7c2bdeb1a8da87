"""Talking HTTP to KSeF: shared clients, retries, ``Retry-After``, and KSeF's error bodies.

One ``httpx.Client`` per environment base URL lives for the whole process (creating one costs
tens of milliseconds of certificate loading); :func:`client_for` hands it out. A fork clears the
cache, so a pre-forking server never shares sockets between workers.

**What is retried.** Every request is retried, with exponential backoff and full jitter, on
429 (waiting at least ``Retry-After``), on 502/503/504 and on connection errors, *if replaying
it is safe*. A request says how safe it is with ``replay``:

* ``"always"``: idempotent or harmless to repeat (challenge, public keys, status polls, refresh,
  session listing, revocation). Retried on all of the above.
* ``"unsent"``: one-shot requests whose effect must not happen twice or whose repetition would
  fail confusingly: the redeem (a second redeem is refused with 21301 and the first answer, with
  the tokens in it, is lost) and the identity submissions (the challenge is single-use). These are
  retried only when KSeF certainly did not process them: on 429 (the rate limiter answers before
  the request is handled) and when the connection could not be opened (nothing was sent). After
  a 502/503/504, a read timeout or a dropped connection the request may have been processed, so
  the response or error goes back to the login flow, which starts over with a fresh challenge.

A 429 whose ``Retry-After`` exceeds :attr:`RetryPolicy.max_retry_after`, or one still there when
the attempts run out, becomes :class:`~ksef_auth.errors.RateLimited`.

**Plain http.** A bearer token is only ever sent over https, or over http to a loopback address
(a local simulator); anything else is a :class:`~ksef_auth.errors.ConfigError`.
"""

from __future__ import annotations

import logging
import os
import random
import re
import threading
import time
from collections.abc import Mapping
from email.utils import parsedate_to_datetime
from ipaddress import ip_address
from typing import Any, Literal

import attrs
import httpx

from ksef_auth.errors import ConfigError, DeadlineExceeded, KsefError, RateLimited, TransportError
from ksef_auth.model import ContextIdentifier, Environment
from ksef_auth.pacing import Pacer, operation_of
from ksef_auth.secret import Secret

log = logging.getLogger("ksef_auth.transport")

Replay = Literal["always", "unsent"]

DEFAULT_TIMEOUT = httpx.Timeout(20.0, connect=5.0)
RETRYABLE_STATUSES = frozenset({429, 502, 503, 504})
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


def is_loopback_host(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def require_secure(url: httpx.URL | str) -> None:
    """Refuse to send a bearer token to ``url`` over plain http, unless it is a loopback address."""
    url = httpx.URL(str(url))
    if url.scheme == "http" and not is_loopback_host(url.host):
        raise ConfigError(
            f"refusing to send a KSeF bearer token over plain http to {url.host}: use https"
            " (plain http is accepted only for loopback addresses such as a local simulator)"
        )


# --- KSeF's error bodies ------------------------------------------------------------------------

_JWT = re.compile(r"eyJ[\w-]{4,}\.[\w-]{4,}\.[\w-]*")


@attrs.frozen
class ErrorBody:
    """KSeF's error, read from either dialect (legacy ``exception`` JSON or problem+json)."""

    code: int | None = None
    description: str | None = None
    details: tuple[str, ...] = ()
    trace_id: str | None = None


def _clean(text: Any, limit: int = 300) -> str:
    text = _JWT.sub("<jwt>", str(text))
    return text if len(text) <= limit else text[: limit - 3] + "..."


def parse_error_body(response: httpx.Response) -> ErrorBody:
    """KSeF's code, description, details and trace id, whichever dialect the body is in.

    Legacy: ``{"exception": {"exceptionDetailList": [{exceptionCode, exceptionDescription,
    details}], "serviceCode": <trace id>}}``; problem+json: ``{"errors": [{code, description,
    details}], "detail", "title", "traceId", "reasonCode"}``; the deprecated 429 form:
    ``{"status": {"code", "description", "details"}}``.
    """
    try:
        body = response.json()
    except ValueError:
        text = response.text.strip()
        return ErrorBody(description=_clean(text) if text else None)
    if not isinstance(body, dict):
        return ErrorBody()
    exception = body.get("exception")
    if isinstance(exception, dict):
        entries = exception.get("exceptionDetailList") or []
        first = entries[0] if entries and isinstance(entries[0], dict) else {}
        details = [d for e in entries if isinstance(e, dict) for d in (e.get("details") or [])]
        descriptions = [str(e.get("exceptionDescription")) for e in entries if isinstance(e, dict)]
        return ErrorBody(
            code=_int(first.get("exceptionCode")),
            description=_clean("; ".join(d for d in descriptions if d)) or None,
            details=tuple(_clean(d) for d in details),
            trace_id=exception.get("serviceCode"),
        )
    errors = body.get("errors")
    if isinstance(errors, list) and errors:
        first = errors[0] if isinstance(errors[0], dict) else {}
        details = [d for e in errors if isinstance(e, dict) for d in (e.get("details") or [])]
        return ErrorBody(
            code=_int(first.get("code")),
            description=_clean(first.get("description") or body.get("detail") or ""),
            details=tuple(_clean(d) for d in details),
            trace_id=body.get("traceId"),
        )
    status = body.get("status")
    if isinstance(status, dict):
        return ErrorBody(
            code=_int(status.get("code")),
            description=_clean(status.get("description") or ""),
            details=tuple(_clean(d) for d in status.get("details") or []),
        )
    detail = body.get("detail") or body.get("title")
    reason = body.get("reasonCode")
    return ErrorBody(
        description=_clean(detail) if detail else None,
        details=(f"reasonCode: {reason}",) if reason else (),
        trace_id=body.get("traceId"),
    )


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


# --- requests with retries ----------------------------------------------------------------------


@attrs.frozen(kw_only=True)
class RetryPolicy:
    """How hard to try. ``attempts`` counts the first try; delays grow from ``base_delay`` by
    doubling up to ``max_delay``, each drawn uniformly from [0, that] (full jitter)."""

    attempts: int = 4
    base_delay: float = 0.25
    max_delay: float = 8.0
    max_retry_after: float = 30.0
    """A 429 asking to wait longer than this (s) is raised at once as ``RateLimited``."""

    def backoff(self, retry: int) -> float:
        return random.uniform(0.0, min(self.max_delay, self.base_delay * 2**retry))


_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class Transport:
    """Requests to one KSeF environment over the shared client, with retries.

    Returns the final ``httpx.Response`` whatever its status (the caller knows which statuses
    mean success); raises :class:`TransportError` when no answer came, and
    :class:`RateLimited` when 429s outlast the retry budget or ask for too long a wait.

    **Pacing.** With a :class:`~ksef_auth.pacing.Pacer`, every attempt first waits for a slot
    under KSeF's published limit of its operation (per IP, or per (context, IP) for protected
    operations: ``context`` says which), never longer than ``deadline`` leaves; a 429 holds
    everyone sharing the pacer's limiter back for its ``Retry-After``. Without one nothing is
    booked and nothing waits.

    **Deadline.** ``deadline`` (a ``time.monotonic()`` instant) bounds the whole request, its
    retries and their waits included.
    """

    def __init__(
        self,
        environment: Environment,
        *,
        retry: RetryPolicy | None = None,
        client: httpx.Client | None = None,
        pacer: Pacer | None = None,
    ) -> None:
        self.environment = environment
        self.retry = retry or RetryPolicy()
        self.pacer = pacer
        self._client = client
        self._sleep = time.sleep

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
            require_secure(self.environment.base_url)
            send_headers["Authorization"] = "Bearer " + bearer.reveal()
        client = self.client
        pacer = self.pacer
        operation = operation_of(method, path) if pacer is not None else None
        retry = 0
        while True:
            if pacer is not None:
                self._pace(pacer, operation, context, action, deadline)
            try:
                response = client.request(
                    method, path, content=content, params=params, headers=send_headers
                )
            except httpx.TransportError as exc:
                retryable = replay == "always" or isinstance(exc, _NOT_SENT)
                if retryable and retry + 1 < self.retry.attempts:
                    delay = self.retry.backoff(retry)
                    if _fits(delay, deadline):
                        log.info("%s: %s, retrying in %.2f s", action, type(exc).__name__, delay)
                        self._sleep(delay)
                        retry += 1
                        continue
                raise TransportError(
                    f"{action} failed: no answer from {self.environment.base_url}"
                    f" ({type(exc).__name__}: {_clean(exc)}); check the network and try again"
                ) from exc
            status = response.status_code
            if status not in RETRYABLE_STATUSES or (status != 429 and replay == "unsent"):
                return response
            wait = retry_after_of(response) if status == 429 else None
            if pacer is not None and status == 429:
                pacer.penalize(operation, context, wait or 0.0, base=self.environment.base_url)
            if retry + 1 >= self.retry.attempts:
                return response
            delay = self.retry.backoff(retry)
            if status == 429:
                if wait is not None and wait > self.retry.max_retry_after:
                    return response  # the caller raises RateLimited with retry_after
                delay = max(delay, wait or 0.0) + random.uniform(0.0, 0.1)
            if not _fits(delay, deadline):
                return response  # no time left to try again: the caller reports this answer
            log.info("%s: HTTP %s, retrying in %.2f s", action, status, delay)
            response.close()
            self._sleep(delay)
            retry += 1

    def _pace(
        self,
        pacer: Pacer,
        operation: str | None,
        context: ContextIdentifier | None,
        action: str,
        deadline: float | None,
    ) -> None:
        max_wait = float("inf") if deadline is None else max(0.0, deadline - time.monotonic())
        try:
            pacer.wait(operation, context, base=self.environment.base_url, max_wait=max_wait)
        except TimeoutError:
            raise DeadlineExceeded(
                f"{action}: KSeF's rate limit for {operation} leaves no slot before the"
                f" deadline ({max_wait:.1f} s left); try again later or allow more time"
            ) from None


def _fits(delay: float, deadline: float | None) -> bool:
    """Whether waiting ``delay`` seconds still leaves time before ``deadline``."""
    return deadline is None or time.monotonic() + delay < deadline
