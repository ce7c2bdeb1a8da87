"""Value types: environments, context identifiers, credentials, and session tokens.

All frozen attrs classes, validated when built, with secrets redacted from every repr.
"""

from __future__ import annotations

import re
import string
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from ipaddress import ip_address
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urlsplit

import attrs

from ksef_auth.nip import normalize_nip
from ksef_auth.secret import Secret

if TYPE_CHECKING:
    from cryptography import x509

    from ksef_auth.keys import KeyHandle

# --- environments -------------------------------------------------------------------------------

OFFICIAL_BASE_URLS = {
    "test": "https://api-test.ksef.mf.gov.pl/v2",
    "demo": "https://api-demo.ksef.mf.gov.pl/v2",
    "production": "https://api.ksef.mf.gov.pl/v2",
}
_ALIASES = {"prod": "production", "prd": "production", "te": "test", "tr": "demo"}
URL_OVERRIDE = "KSEF_AUTH_{NAME}_URL"
"""``KSEF_AUTH_TEST_URL`` (``_DEMO_``, ``_PRODUCTION_``): another base URL for that environment
name, e.g. a local simulator in CI, so scripts that say ``test`` run unchanged against it. The
name's rules stay (test certificates only on test); the https rule applies to the URL."""


def official_url(name: str) -> str:
    """The base URL of ``test``, ``demo`` or ``production``: KSeF's, unless
    ``KSEF_AUTH_<NAME>_URL`` names another (:data:`URL_OVERRIDE`)."""
    import os

    return os.environ.get(URL_OVERRIDE.format(NAME=name.upper())) or OFFICIAL_BASE_URLS[name]


def _strip_slash(url: object) -> str:
    return str(url).rstrip("/")


def is_loopback_host(host: str) -> bool:
    """``localhost`` or a loopback IP address (``127.0.0.0/8``, ``::1``)."""
    host = host.strip("[]").lower()
    if host == "localhost":
        return True
    try:
        return ip_address(host).is_loopback
    except ValueError:
        return False


def redact_url(url: str) -> str:
    """``url`` without a ``user:password@`` part, for messages."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url.split("@")[-1] if "@" in url else url
    netloc, slash, path = rest.partition("/")
    return f"{scheme}://{netloc.rpartition('@')[2]}{slash}{path}"


def _check_base_url(instance: object, attribute: object, value: str) -> None:
    shown = redact_url(value)
    try:
        parts = urlsplit(value)
        host = parts.hostname
        parts.port  # noqa: B018 (raises ValueError for a port that is not a number)
    except ValueError:
        raise ValueError(f"base URL {shown!r} is not a valid URL") from None
    if parts.scheme not in ("http", "https") or not host:
        raise ValueError(f"base URL must be an https URL with a host, got {shown!r}")
    if "@" in parts.netloc:
        raise ValueError(
            f"base URL {shown!r} carries a user name or password (user:password@host): remove"
            " it; KSeF authenticates with tokens, and the URL is shown in messages and status"
        )
    if parts.scheme == "http" and not is_loopback_host(host):
        raise ValueError(
            f"base URL {shown!r} uses plain http: use https (plain http is accepted only for"
            " loopback addresses such as a local simulator, http://127.0.0.1:8765/v2)"
        )


@attrs.frozen
class Environment:
    """A KSeF environment: ``name`` (test, demo, production, or custom) and its API base URL.

    Build one with :meth:`Environment.of`: ``Environment.of("test")`` or, for a local simulator,
    ``Environment.of("http://127.0.0.1:8765/v2")``.

    **The rule: https everywhere except loopback.** A base URL must be ``https://``, or
    ``http://`` to a loopback address (``localhost``, ``127.0.0.1``, ``[::1]``: a simulator on
    this machine), and must not carry ``user:password@``; anything else is refused here, when the
    environment is built, so no request (public keys and challenge included) and no message ever
    sees it. The transport checks again before its first request.
    """

    name: str
    base_url: str = attrs.field(converter=_strip_slash, validator=_check_base_url)

    @classmethod
    def of(cls, value: str | Environment) -> Environment:
        """An environment from a name (``test``, ``demo``, ``production``) or a base URL."""
        if isinstance(value, Environment):
            return value
        text = str(value).strip()
        name = _ALIASES.get(text.lower(), text.lower())
        if name in OFFICIAL_BASE_URLS:
            return cls(name, official_url(name))
        if "://" in text:
            for official, url in OFFICIAL_BASE_URLS.items():
                if text.rstrip("/") == url:
                    return cls(official, url)
            return cls("custom", text)
        raise ValueError(
            f"unknown environment {redact_url(text)!r}: use test, demo, production, or a base"
            " URL such as https://ksef.example.com/v2 (http only for loopback addresses)"
        )

    @property
    def is_official(self) -> bool:
        """True for KSeF's own TEST, DEMO and PRODUCTION."""
        return self.name in OFFICIAL_BASE_URLS

    @property
    def accepts_test_certificates(self) -> bool:
        """Self-signed test certificates work on TEST and local/custom URLs, never DEMO or PRD."""
        return self.name not in ("demo", "production")

    @property
    def is_loopback(self) -> bool:
        return is_loopback_host(urlsplit(self.base_url).hostname or "")


# --- context identifiers ------------------------------------------------------------------------

ContextType = Literal["Nip", "InternalId", "NipVatUe", "PeppolId"]
_TYPE_NAMES: dict[str, ContextType] = {
    "nip": "Nip",
    "internalid": "InternalId",
    "nipvatue": "NipVatUe",
    "peppolid": "PeppolId",
}
_INTERNAL_ID = re.compile(r"^(\d{10})-(\d{5})$")
_NIP_VAT_UE = re.compile(r"^(\d{10})-([A-Z]{2}[A-Z0-9+*]{2,13})$")
_PEPPOL_ID = re.compile(r"^P[A-Z]{2}[0-9]{6}$")


def _context_type(value: str) -> ContextType:
    key = str(value).replace("_", "").replace("-", "").lower()
    if key not in _TYPE_NAMES:
        raise ValueError(
            f"unknown context type {value!r}: use Nip, InternalId, NipVatUe or PeppolId"
        )
    return _TYPE_NAMES[key]


@attrs.frozen
class ContextIdentifier:
    """The tax context a session acts for: ``ContextIdentifier.nip("526-104-08-28")``.

    NIPs are normalized (spaces, dashes, ``PL`` prefix removed) and their checksum verified.
    """

    type: ContextType = attrs.field(converter=_context_type)
    value: str = attrs.field(converter=str)

    def __attrs_post_init__(self) -> None:
        value = self.value.strip()
        if self.type == "Nip":
            value = normalize_nip(value)
        elif self.type in ("InternalId", "NipVatUe"):
            value = re.sub(r"\s", "", value).upper()
            pattern = _INTERNAL_ID if self.type == "InternalId" else _NIP_VAT_UE
            match = pattern.match(value)
            if not match:
                example = (
                    "5265877635-12345" if self.type == "InternalId" else "5265877635-ATU1234567"
                )
                raise ValueError(f"{self.type} must look like {example}, got {value!r}")
            normalize_nip(match.group(1))
        elif not _PEPPOL_ID.match(value):
            raise ValueError(f"PeppolId must look like PPL123456, got {value!r}")
        object.__setattr__(self, "value", value)

    @classmethod
    def nip(cls, value: str) -> ContextIdentifier:
        return cls("Nip", value)

    @classmethod
    def internal_id(cls, value: str) -> ContextIdentifier:
        return cls("InternalId", value)

    @classmethod
    def nip_vat_ue(cls, value: str) -> ContextIdentifier:
        return cls("NipVatUe", value)

    @classmethod
    def peppol_id(cls, value: str) -> ContextIdentifier:
        return cls("PeppolId", value)

    @property
    def nip_part(self) -> str | None:
        """The NIP this context belongs to (None for a Peppol id)."""
        return None if self.type == "PeppolId" else self.value[:10]

    def to_json(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}

    def __str__(self) -> str:
        return f"{self.type}:{self.value}"


# --- credentials --------------------------------------------------------------------------------


@attrs.frozen
class KsefToken:
    """A KSeF token: the long-lived secret issued in the KSeF portal or by ``POST /tokens``."""

    token: Secret = attrs.field(converter=Secret)
    source: str = attrs.field(default="", kw_only=True)

    @property
    def fingerprint(self) -> str:
        return "tok:" + self.token.fingerprint()


@attrs.frozen
class SharedSecret:
    """A shared secret for challenge-HMAC schemes (not part of the official KSeF 2.0 API)."""

    secret: Secret = attrs.field(converter=Secret)
    source: str = attrs.field(default="", kw_only=True)

    @property
    def fingerprint(self) -> str:
        return "sec:" + self.secret.fingerprint()


def _as_tuple(items: Iterable[Any]) -> tuple[Any, ...]:
    return tuple(items)


@attrs.frozen
class CertificateCredential:
    """A certificate with the key that signs for it. The key is a :class:`ksef_auth.keys.KeyHandle`:
    it signs, it never hands out its bytes, so a hardware token or a cloud KMS can stand in."""

    certificate: x509.Certificate
    key: KeyHandle
    chain: tuple[x509.Certificate, ...] = attrs.field(default=(), converter=_as_tuple)
    source: str = attrs.field(default="", kw_only=True)

    @property
    def fingerprint(self) -> str:
        """SHA-256 of the DER certificate, 64 uppercase hex chars (KSeF's fingerprint format)."""
        from cryptography.hazmat.primitives import hashes

        return self.certificate.fingerprint(hashes.SHA256()).hex().upper()

    def __repr__(self) -> str:
        subject = self.certificate.subject.rfc4514_string()
        return f"CertificateCredential(subject={subject!r}, fingerprint={self.fingerprint[:16]}...)"


Credential = KsefToken | SharedSecret | CertificateCredential

# --- what a credential source is asked for ------------------------------------------------------

#: Placeholders a source option may use to name a credential per context (``KSEF_TOKEN_{nip}``).
PLACEHOLDERS: dict[str, str] = {
    "nip": "the context's NIP (Nip contexts only)",
    "context": "the context identifier's value (any type), e.g. 5265877635-12345",
    "context_type": "the context identifier's type: Nip, InternalId, NipVatUe or PeppolId",
    "environment": "the environment's name: test, demo, production or custom",
}

Purpose = Literal["login", "check"]


def template_fields(text: str) -> tuple[str, ...]:
    """The placeholders ``text`` uses, in order (``()`` for a plain name).

    Raises ``ValueError`` for an unknown placeholder, a format spec, a conversion, an attribute
    or index access, or an unbalanced brace; the message lists the placeholders there are.
    Sources call it in their option validators, so a typo is reported when a strategy is loaded.
    """
    fields: list[str] = []
    known = ", ".join("{" + name + "}" for name in PLACEHOLDERS)
    try:
        parsed = list(_FORMATTER.parse(text))
    except ValueError as exc:
        raise ValueError(
            f"{text!r} is not a valid name template ({exc}); placeholders: {known}"
        ) from None
    for _, field, spec, conversion in parsed:
        if field is None:
            continue
        if field not in PLACEHOLDERS or spec or conversion:
            raise ValueError(
                f"{text!r} uses {{{field}{'!' + conversion if conversion else ''}"
                f"{':' + spec if spec else ''}}}, which is not a placeholder; use {known}"
            )
        fields.append(field)
    return tuple(fields)


_FORMATTER = string.Formatter()


@attrs.frozen(kw_only=True)
class CredentialRequest:
    """What a credential source is asked for: the login it serves.

    ``environment`` and ``context`` are those of the login (a strategy that serves many contexts
    asks once per context, never handing one context's credential to another); ``method`` is the
    signer that will use the credential (``ksef-token``, ``xades``, ``hmac``, ...), so a source
    holding several kinds can return the right one; ``purpose`` is ``"login"`` when a login
    (or the session key of one) needs the credential, ``"check"`` when ``doctor`` or
    ``config check`` only asks whether it can be had; ``strategy`` names the strategy in messages.

    :meth:`fill` puts the context into a source's name template: ``"KSEF_TOKEN_{nip}"``.
    """

    environment: Environment
    context: ContextIdentifier
    method: str = ""
    purpose: Purpose = "login"
    strategy: str = ""

    @classmethod
    def for_login(
        cls,
        environment: Environment | str,
        context: ContextIdentifier | str,
        *,
        method: str = "",
        strategy: str = "",
    ) -> CredentialRequest:
        """A login request from an environment name or URL and a NIP (tests, scripts)."""
        if isinstance(context, str):
            context = ContextIdentifier.nip(context)
        return cls(
            environment=Environment.of(environment),
            context=context,
            method=method,
            strategy=strategy,
        )

    def values(self) -> dict[str, str]:
        """The placeholder values for this request (``nip`` only for a Nip context)."""
        values = {
            "context": self.context.value,
            "context_type": self.context.type,
            "environment": self.environment.name,
        }
        if self.context.type == "Nip":
            values["nip"] = self.context.value
        return values

    def fill(self, text: str) -> str:
        """``text`` with its placeholders replaced by this request's values.

        Raises :class:`~ksef_auth.errors.CredentialError` when ``text`` uses ``{nip}`` for a
        context that is not a NIP (use ``{context}``), or is not a valid template.
        """
        from ksef_auth.errors import CredentialError

        try:
            fields = template_fields(text)
        except ValueError as exc:
            raise CredentialError(str(exc)) from None
        if not fields:
            return text
        values = self.values()
        if "nip" in fields and "nip" not in values:
            raise CredentialError(
                f"{text!r} uses {{nip}}, but this login is for {self.context} (not a NIP);"
                " use {context} for contexts of other types"
            )
        return text.format_map(values)


# --- the protocol's exchanged values ------------------------------------------------------------


@attrs.frozen
class Challenge:
    """An answer of ``POST /auth/challenge`` (or of a signer's own challenge endpoint)."""

    challenge: str
    timestamp: str
    timestamp_ms: int
    client_ip: str | None = None


@attrs.frozen
class PublicKeyCertificate:
    """One entry of ``GET /security/public-key-certificates``."""

    certificate: bytes = attrs.field(repr=False)  # DER
    public_key_id: str
    usage: tuple[str, ...] = attrs.field(converter=tuple)
    valid_from: datetime
    valid_to: datetime


@attrs.frozen
class SignRequest:
    """What a signer gets: the challenge, the context, the credential, and KSeF's public keys."""

    challenge: Challenge
    context: ContextIdentifier
    credential: Credential
    environment: Environment
    public_keys: Sequence[PublicKeyCertificate] = ()


@attrs.frozen
class Submission:
    """What a signer returns: the request that proves identity.

    ``kind="operation"``: KSeF answers 202 with an operation to poll and redeem (the KSeF 2.0 way).
    ``kind="session"``: the answer holds a session token directly (challenge-HMAC schemes).
    """

    path: str
    content: bytes = attrs.field(repr=False)
    content_type: str
    params: Mapping[str, str] = attrs.field(factory=dict)
    kind: Literal["operation", "session"] = "operation"


# --- sessions -----------------------------------------------------------------------------------


def _utc(value: datetime | str) -> datetime:
    if isinstance(value, str):
        value = parse_timestamp(value)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def parse_timestamp(text: str) -> datetime:
    """Parse KSeF's ISO-8601 timestamps (up to 7 fractional digits, ``Z`` or an offset)."""
    text = text.strip().replace("Z", "+00:00")
    match = _FRACTION.match(text)
    if match:  # Python's fromisoformat takes at most 6 fractional digits
        text = match.group(1) + match.group(2)[:6] + match.group(3)
    value = datetime.fromisoformat(text)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


_FRACTION = re.compile(r"^(.*T\d{2}:\d{2}:\d{2}\.)(\d+)(.*)$")


@attrs.frozen
class Token:
    """A bearer token and the instant it stops being valid."""

    value: Secret = attrs.field(converter=Secret)
    valid_until: datetime = attrs.field(converter=_utc)

    def to_dict(self) -> dict[str, str]:
        return {"token": self.value.reveal(), "validUntil": self.valid_until.isoformat()}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Token:
        return cls(data["token"], data["validUntil"])


@attrs.frozen
class SessionTokens:
    """An authenticated KSeF session: access and refresh tokens and where they came from.

    Immutable: a refresh makes a new ``SessionTokens``, so a reader never sees half of one.
    """

    access_token: Token
    refresh_token: Token | None
    reference_number: str
    context: ContextIdentifier
    environment: str  # base URL
    credential_fingerprint: str
    method: str
    obtained_at: datetime = attrs.field(converter=_utc)
    refreshed_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-able dict *with the secrets in clear*: only for stores that encrypt it."""
        return {
            "accessToken": self.access_token.to_dict(),
            "refreshToken": self.refresh_token.to_dict() if self.refresh_token else None,
            "referenceNumber": self.reference_number,
            "context": self.context.to_json(),
            "environment": self.environment,
            "credentialFingerprint": self.credential_fingerprint,
            "method": self.method,
            "obtainedAt": self.obtained_at.isoformat(),
            "refreshedAt": self.refreshed_at.isoformat() if self.refreshed_at else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> SessionTokens:
        refresh = data.get("refreshToken")
        refreshed = data.get("refreshedAt")
        return cls(
            access_token=Token.from_dict(data["accessToken"]),
            refresh_token=Token.from_dict(refresh) if refresh else None,
            reference_number=data["referenceNumber"],
            context=ContextIdentifier(data["context"]["type"], data["context"]["value"]),
            environment=data["environment"],
            credential_fingerprint=data["credentialFingerprint"],
            method=data["method"],
            obtained_at=_utc(data["obtainedAt"]),
            refreshed_at=_utc(refreshed) if refreshed else None,
        )
