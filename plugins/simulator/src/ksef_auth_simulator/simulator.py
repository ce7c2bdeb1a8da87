"""The Simulator: all state of one simulated KSeF, its admin API and its credential checks.

The HTTP layer (``app.py``) is a thin mapping onto the flows in ``auth_flow.py``,
``sessions.py``, ``token_admin.py`` and ``hmac_flow.py``, which all operate on a Simulator.
"""

from __future__ import annotations

import json
import math
import secrets
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from ksef_auth.secret import note_secret

from ksef_auth_simulator import jwt
from ksef_auth_simulator.config import SimulatorConfig
from ksef_auth_simulator.counters import Counters
from ksef_auth_simulator.errors import ProblemError, forbidden, unauthorized
from ksef_auth_simulator.faults import FaultRule, FaultSet
from ksef_auth_simulator.keys import KeyRing
from ksef_auth_simulator.ksef_certificates import KsefCertificates
from ksef_auth_simulator.ratelimit import RateLimiter, group_limits
from ksef_auth_simulator.refs import KSEF_TOKEN, ksef_token_text, new_reference
from ksef_auth_simulator.state import (
    OWNER_PERMISSIONS,
    Challenge,
    KsefTokenRecord,
    Operation,
    ip_allowed,
)

if TYPE_CHECKING:
    from starlette.types import ASGIApp


def lifetime(now: float, ttl: float) -> tuple[float, float]:
    """(iat, exp) for a JWT: whole seconds for whole-second lifetimes (as KSeF issues them),
    millisecond floats for fractional test lifetimes (RFC 7519 allows non-integer NumericDate)."""
    if ttl >= 1 and float(ttl).is_integer():
        iat = math.floor(now)
        return iat, iat + int(ttl)
    return round(now, 3), round(now + ttl, 3)


class Simulator:
    """A local KSeF 2.0 authentication service. ``sim.app`` is its ASGI application."""

    def __init__(self, config: SimulatorConfig | None = None) -> None:
        self.config = config or SimulatorConfig()
        self.lock = threading.RLock()
        self.secret = self.config.jwt_secret or secrets.token_bytes(32)
        self.keys = KeyRing(rotate=self.config.rotate_keys)
        self.limiter = RateLimiter(self.config.rate_limit_scale)
        self.faults = FaultSet()
        self.stats = Counters()
        self.challenges: dict[str, Challenge] = {}
        self.hmac_challenges: dict[str, Challenge] = {}
        self.operations: dict[str, Operation] = {}
        self.tokens_by_ref: dict[str, KsefTokenRecord] = {}
        self.tokens_by_secret: dict[str, KsefTokenRecord] = {}
        self.blocked: set[str] = set()
        self.pesel_links: dict[str, dict[str, bool]] = {}
        self.grants: dict[str, dict[tuple[str, str], list[str]]] = {}
        self.ksef_certificates = KsefCertificates(self.config.certificates)
        self._app: ASGIApp | None = None

    # -- clock and ASGI app ----------------------------------------------------------------
    def now(self) -> float:
        return self.config.clock()

    @property
    def app(self) -> ASGIApp:
        """The ASGI application (Starlette routes behind the fault layer; built lazily)."""
        if self._app is None:
            from ksef_auth_simulator.app import build_app

            self._app = build_app(self)
        return self._app

    # -- admin API: KSeF tokens ----------------------------------------------------------------
    def issue_ksef_token(
        self,
        nip: str,
        permissions: list[str] | None = None,
        description: str = "Token wydany przez symulator",
        *,
        active: bool = True,
    ) -> str:
        """Create an (Active) KSeF token for the ``Nip`` context ``nip``; return its secret,
        in KSeF's format ``<EC reference>|nip-<NIP>|<64 hex>``."""
        now = self.now()
        ref = new_reference("EC", now)
        secret = ksef_token_text(ref, "Nip", nip)
        self._store_token(
            ref,
            secret,
            nip,
            permissions,
            description,
            now if active else now + self.config.token_activation_delay,
            ("Nip", nip),
        )
        return secret

    def issue_ksef_tokens(
        self,
        nips: Iterable[str],
        permissions: list[str] | None = None,
        description: str = "Token wydany przez symulator",
    ) -> dict[str, str]:
        """One Active KSeF token per NIP (thousands per second): ``{nip: token}``, in order.
        A NIP given twice gets one token."""
        return {
            nip: self.issue_ksef_token(nip, permissions, description) for nip in dict.fromkeys(nips)
        }

    def register_ksef_token(
        self, nip: str, token: str, permissions: list[str] | None = None
    ) -> str:
        """Register an existing token string as Active for ``nip``; return its ``EC`` reference:
        the one the token names when it is in KSeF's format, else a new one (any string is
        accepted, for tests of clients' handling of odd tokens)."""
        match = KSEF_TOKEN.match(token)
        ref = match.group("ref") if match else new_reference("EC", self.now())
        with self.lock:
            if token in self.tokens_by_secret or ref in self.tokens_by_ref:
                raise ValueError("this token is already registered")
        self._store_token(
            ref, token, nip, permissions, "Token zarejestrowany", self.now(), ("Nip", nip)
        )
        return ref

    def _store_token(
        self,
        ref: str,
        secret: str,
        context_value: str,
        permissions: list[str] | None,
        description: str,
        active_from: float,
        author: tuple[str, str],
        context_type: str = "Nip",
    ) -> KsefTokenRecord:
        record = KsefTokenRecord(
            ref=ref,
            secret=secret,
            context_type=context_type,
            context_value=context_value,
            author_type=author[0],
            author_value=author[1],
            description=description,
            permissions=list(permissions if permissions is not None else OWNER_PERMISSIONS),
            created=self.now(),
            active_from=active_from,
        )
        with self.lock:
            self.tokens_by_ref[ref] = record
            self.tokens_by_secret[secret] = record
        self.stats.event("tokens_issued", context_value)
        return record

    def revoke_ksef_token(self, token: str) -> None:
        """Revoke by secret or by ``EC`` reference number."""
        with self.lock:
            record = self.tokens_by_secret.get(token) or self.tokens_by_ref.get(token)
            if record is None:
                raise KeyError("unknown KSeF token")
            record.revoked = True

    def activate_ksef_token(self, token: str) -> None:
        """Make a ``Pending`` KSeF token ``Active`` now (by secret or ``EC`` reference number),
        as KSeF does after a while."""
        with self.lock:
            record = self.tokens_by_secret.get(token) or self.tokens_by_ref.get(token)
            if record is None:
                raise KeyError("unknown KSeF token")
            record.active_from = min(record.active_from, self.now())

    def token_status(self, token: str) -> str:
        with self.lock:
            record = self.tokens_by_secret.get(token) or self.tokens_by_ref.get(token)
        if record is None:
            raise KeyError("unknown KSeF token")
        return record.status(self.now())

    # -- admin API: contexts, people, grants -------------------------------------------------
    def block_context(self, identifier: str) -> None:
        """Authentications in this context (and its ``<NIP>-...`` sub-contexts) end with 480."""
        with self.lock:
            self.blocked.add(identifier)

    def unblock_context(self, identifier: str) -> None:
        with self.lock:
            self.blocked.discard(identifier)

    def is_blocked(self, value: str) -> bool:
        with self.lock:
            return any(value == b or value.startswith(b + "-") for b in self.blocked)

    def link_pesel(self, nip: str, pesel: str, *, deceased: bool = False) -> None:
        """A certificate with this PESEL becomes an owner of ``nip`` (470 when ``deceased``)."""
        with self.lock:
            self.pesel_links.setdefault(nip, {})[pesel] = deceased

    def grant_subject(
        self,
        nip: str,
        identifier_type: str,
        value: str,
        permissions: list[str] | None = None,
    ) -> None:
        """Grant permissions in context ``nip`` to a ``Nip``/``Pesel``/``Fingerprint`` subject."""
        with self.lock:
            self.grants.setdefault(nip, {})[(identifier_type, value.upper())] = list(
                permissions or ["InvoiceRead", "InvoiceWrite"]
            )

    def grant_in_contexts(
        self,
        nips: Iterable[str],
        identifier_type: str,
        value: str,
        permissions: list[str] | None = None,
    ) -> int:
        """:meth:`grant_subject` in every context of ``nips`` (a firm's seal, a person or a
        certificate fingerprint acting for thousands of clients); the number of contexts."""
        count = 0
        for nip in dict.fromkeys(nips):
            self.grant_subject(nip, identifier_type, value, permissions)
            count += 1
        return count

    def grant_fingerprint(
        self, nip: str, fingerprint: str, permissions: list[str] | None = None
    ) -> None:
        """Grant permissions in ``nip`` to the certificate with this SHA-256 fingerprint."""
        self.grant_subject(nip, "Fingerprint", fingerprint, permissions)

    def permissions_for(self, context_value: str, subject_type: str, value: str) -> list[str]:
        """Owner (NIP match, linked PESEL) gets all; else granted permissions; else none."""
        nip = context_value.split("-", 1)[0]
        with self.lock:
            if subject_type == "Nip" and value == nip:
                return ["Owner", *OWNER_PERMISSIONS]
            if subject_type == "Pesel" and value in self.pesel_links.get(nip, {}):
                return ["Owner", *OWNER_PERMISSIONS]
            return list(self.grants.get(context_value, {}).get((subject_type, value.upper()), []))

    def is_deceased(self, pesel: str) -> bool:
        with self.lock:
            return any(links.get(pesel) for links in self.pesel_links.values())

    # -- admin API: faults, keys, counters ----------------------------------------------------
    def add_fault(self, rule: FaultRule) -> FaultRule:
        return self.faults.add(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    def counters(self, context: str | None = None) -> dict[str, Any]:
        """Everything (``events``, ``endpoints``, ``contexts``), or one context's own
        ``{"context", "events", "endpoints"}`` (its requests per operation and status)."""
        if context is not None:
            return self.stats.context(context)
        return self.stats.snapshot()

    def rate_limits(self) -> dict[str, dict[str, int]]:
        """The effective limits per group, as ``GET /rate-limits`` reports them (the published
        ones times ``rate_limit_scale``; -1 where no limit applies)."""
        return group_limits(self.config.rate_limit_scale)

    def reset_counters(self) -> None:
        self.stats.reset()
        self.limiter.reset()

    def retire_key(self, public_key_id: str) -> None:
        self.keys.retire(public_key_id)

    def rotate_keys(self) -> list[str]:
        return self.keys.rotate()

    def public_keys(self) -> list[dict[str, object]]:
        return self.keys.listing()

    # -- JWTs and bearer checks -------------------------------------------------------------
    def issue_jwt(
        self, typ: str, arn: str, ttl: float, extra: dict[str, Any] | None = None
    ) -> tuple[str, float]:
        iat, exp = lifetime(self.now(), ttl)
        claims: dict[str, Any] = {"typ": typ, "arn": arn}
        claims.update(extra or {})
        claims.update(
            {
                "exp": exp,
                "iat": iat,
                "iss": self.config.issuer,
                "aud": self.config.issuer,
                "jti": secrets.token_hex(8),
            }
        )
        token = jwt.encode(claims, self.secret)
        note_secret(token)  # a test's secret guard learns every token issued
        return token, float(exp)

    def access_claims(self, op: Operation) -> dict[str, Any]:
        claims: dict[str, Any] = {
            "cit": op.context_type,
            "civ": op.context_value,
            "aum": op.method,
            "sud": json.dumps(op.subject, ensure_ascii=False),
            "per": json.dumps(op.permissions),
        }
        if op.allowed_ips:
            claims["ipp"] = json.dumps(op.allowed_ips)
        return claims

    def decode_bearer(
        self, header: str | None, types: tuple[str, ...], *, check_exp: bool = True
    ) -> dict[str, Any]:
        """Claims of a valid bearer JWT of one of ``types``; 401 problem otherwise."""
        if not header or not header.lower().startswith("bearer "):
            raise unauthorized()
        try:
            claims = jwt.decode(header[7:].strip(), self.secret)
        except jwt.JwtError as exc:
            raise unauthorized("Nieprawidłowy token uwierzytelniający.") from exc
        if claims.get("typ") not in types:
            raise unauthorized("Token nie jest przeznaczony do tej operacji.")
        if check_exp and self.now() >= float(claims.get("exp", 0)):
            raise unauthorized("Token wygasł.")
        return claims

    def access(self, header: str | None, client_ip: str) -> tuple[dict[str, Any], Operation]:
        """An access (context) token: valid, its session known, the IP policy satisfied."""
        claims = self.decode_bearer(header, ("ContextToken",))
        with self.lock:
            op = self.operations.get(str(claims.get("arn")))
        if op is None:
            raise unauthorized("Sesja uwierzytelniania nie istnieje.")
        if not ip_allowed(client_ip, op.allowed_ips):
            raise forbidden(
                "ip-not-allowed",
                "Żądanie pochodzi z adresu IP innego niż wskazany podczas uwierzytelnienia.",
                clientIp=client_ip,
            )
        return claims, op

    def whoami(self, access_token: str, client_ip: str = "127.0.0.1") -> dict[str, Any]:
        """Who an access token (or ``Bearer <token>``) speaks for, after the checks of a
        protected KSeF call (401/403 ``ProblemError`` otherwise): what ``/_sim/whoami`` answers.

        ``context`` ({type, value}), ``subject`` (``subjectIdentifier`` and the certificate's
        details), ``permissions``, ``authenticationMethod``, ``referenceNumber`` (the ``AU``
        operation), ``ksefTokenReference`` (the ``EC`` number of the KSeF token it logged in
        with, or None) and the raw ``claims``.
        """
        header = access_token.strip()
        if not header:
            raise unauthorized()
        if not header.lower().startswith("bearer "):
            header = f"Bearer {header}"
        claims, op = self.access(header, client_ip)
        return {
            "context": {"type": op.context_type, "value": op.context_value},
            "subject": op.subject,
            "permissions": json.loads(claims.get("per") or "[]"),
            "authenticationMethod": op.method,
            "referenceNumber": op.ref,
            "ksefTokenReference": op.ksef_token_ref,
            "claims": claims,
        }

    def require(self, claims: dict[str, Any], any_of: tuple[str, ...]) -> list[str]:
        present = json.loads(claims.get("per") or "[]")
        if "Owner" in present or any(p in present for p in any_of):
            return present
        raise ProblemError(
            403,
            "Brak wymaganych uprawnień do wykonania operacji w bieżącym kontekście.",
            {
                "reasonCode": "missing-permissions",
                "security": {
                    "requiredAnyOfPermissions": list(any_of),
                    "presentPermissions": present,
                },
            },
        )
