"""The ``ksef-token`` signer: KSeF 2.0's login with a KSeF token (``POST /auth/ksef-token``).

The token and the challenge's millisecond timestamp, ``"<token>|<timestampMs>"``, are encrypted
with RSA-OAEP (SHA-256, MGF1-SHA-256, no label) under KSeF's current ``KsefTokenEncryption``
public key, base64-encoded and sent with that key's ``publicKeyId``.

Refused before anything is sent, with a :class:`~ksef_auth.errors.CredentialError` that never
contains the token: a credential that is not a KSeF token; a token that is not KSeF 2.0's shape
(``<reference>|<context>|<hex>``); one with characters that are not UTF-8 (bytes from a file or
a variable in another encoding); one whose text names another context than the login's
(``...|nip-5261040828|...`` for a login as another NIP: KSeF would end it with status 450,
which reads as a bad token); and one too long to encrypt under KSeF's key (RSA-OAEP with
SHA-256 takes at most the key's size in bytes - 66: 190 bytes under a 2048-bit key).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import attrs

from ksef_auth import (
    ContextIdentifier,
    Credential,
    CredentialError,
    Environment,
    KsefAuthError,
    KsefToken,
    PublicKeyCertificate,
    SignRequest,
    Submission,
)

KEY_USAGE = "KsefTokenEncryption"
MAX_IPS = 10


def _ip_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.split(",")
    return tuple(v.strip() for v in value if v.strip())


def _check_ips(instance: Any, attribute: Any, value: tuple[str, ...]) -> None:
    groups = _classify(value)
    for name, items in groups.items():
        if len(items) > MAX_IPS:
            raise ValueError(f"{attribute.name}: KSeF accepts at most {MAX_IPS} {name}")


def _classify(entries: Sequence[str]) -> dict[str, list[str]]:
    """Split IPv4 entries into KSeF's ``ip4Addresses``, ``ip4Ranges`` and ``ip4Masks``."""
    groups: dict[str, list[str]] = {"ip4Addresses": [], "ip4Ranges": [], "ip4Masks": []}
    for entry in entries:
        try:
            if "/" in entry:
                IPv4Network(entry, strict=False)
                groups["ip4Masks"].append(entry)
            elif "-" in entry:
                first, last = (IPv4Address(part.strip()) for part in entry.split("-", 1))
                if first > last:
                    raise ValueError("the range ends before it starts")
                groups["ip4Ranges"].append(f"{first}-{last}")
            else:
                groups["ip4Addresses"].append(str(IPv4Address(entry)))
        except ValueError as exc:
            raise ValueError(
                f"authorization_policy_ips: {entry!r} is not an IPv4 address, range"
                f" (a.b.c.d-e.f.g.h) or mask (a.b.c.d/n): {exc}"
            ) from None
    return groups


def current_key(
    keys: Sequence[PublicKeyCertificate], usage: str = KEY_USAGE
) -> PublicKeyCertificate:
    """The key for ``usage`` valid now; of several, the one with the latest ``validFrom``."""
    now = datetime.now(UTC)
    valid = [k for k in keys if usage in k.usage and k.valid_from <= now < k.valid_to]
    if not valid:
        raise KsefAuthError(
            f"KSeF lists no {usage} public key valid now ({len(keys)} keys listed);"
            " the environment may be rotating keys: try again later"
        )
    return max(valid, key=lambda k: k.valid_from)


#: bytes RSA-OAEP with SHA-256 adds: the plaintext may be at most key bytes - this
OAEP_OVERHEAD = 2 * 32 + 2
#: the token types KSeF writes in a token's middle part, by context type
_TOKEN_CONTEXT_TYPES = {
    "nip": "Nip",
    "internalid": "InternalId",
    "nipvatue": "NipVatUe",
    "peppolid": "PeppolId",
}


def token_bytes(token: str) -> bytes:
    """The token as UTF-8, or a :class:`CredentialError` saying where it is not."""
    try:
        return token.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CredentialError(
            f"the KSeF token has a character that is not UTF-8 at position {exc.start}"
            " (bytes in another encoding, e.g. from a file saved as latin-1 or UTF-16); KSeF"
            " tokens are ASCII: copy the token again from KSeF"
        ) from None


def token_context(token: str) -> ContextIdentifier | None:
    """The context a KSeF 2.0 token's text names (``<ref>|nip-5261040828|<hex>``), or None
    when its middle part is not a context this signer can read."""
    parts = token.split("|")
    if len(parts) != 3:
        return None
    kind, _, value = parts[1].partition("-")
    context_type = _TOKEN_CONTEXT_TYPES.get(kind.lower())
    if context_type is None or not value:
        return None
    try:
        return ContextIdentifier(context_type, value)
    except ValueError:
        return None


def _other_context(named: ContextIdentifier, context: ContextIdentifier) -> bool:
    """Whether a token naming ``named`` certainly belongs to another context than ``context``:
    the same type with another value, or another NIP altogether."""
    if named.type == context.type:
        return named.value != context.value
    return named.nip_part is not None and named.nip_part != context.nip_part


def encrypt_token(token: str, timestamp_ms: int, key: PublicKeyCertificate) -> str:
    """base64(RSA-OAEP-SHA256/MGF1-SHA256(``f"{token}|{timestamp_ms}"``)) under ``key``.

    Raises :class:`CredentialError` when the token is not UTF-8 or too long for ``key``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public_key = x509.load_der_x509_certificate(key.certificate).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KsefAuthError(
            f"KSeF's {KEY_USAGE} key {key.public_key_id} is not RSA; only RSA-OAEP is supported"
        )
    plaintext = token_bytes(token) + f"|{timestamp_ms}".encode()
    room = public_key.key_size // 8 - OAEP_OVERHEAD
    if len(plaintext) > room:
        raise CredentialError(
            f"the KSeF token is {len(plaintext) - len(str(timestamp_ms)) - 1} bytes long;"
            f" with the timestamp that is more than RSA-OAEP under KSeF's"
            f" {public_key.key_size}-bit key can encrypt ({room} bytes). KSeF tokens are about"
            " 120 characters: check that the source holds the token alone (no extra text)"
        )
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    return base64.b64encode(public_key.encrypt(plaintext, oaep)).decode("ascii")


@attrs.frozen
class KsefTokenSigner:
    """Log in with a KSeF token: RSA-OAEP encrypted under KSeF's public key (the official way)."""

    # plain class attributes (not attrs fields, so not options)
    method = "ksef-token"
    challenge_path = "/auth/challenge"
    submit_path = "/auth/ksef-token"
    uses_public_keys = True

    authorization_policy_ips: tuple[str, ...] = attrs.field(
        default=(),
        converter=_ip_list,
        validator=_check_ips,
        metadata={
            "help": "IPv4 addresses, ranges (a-b) or masks (a/n) the session's tokens may be used"
            " from (KSeF's authorizationPolicy.allowedIps); empty: no restriction."
        },
    )

    def preflight(
        self, credential: Credential, context: ContextIdentifier, environment: Environment
    ) -> None:
        """Refuse an unusable credential before any network call."""
        if not isinstance(credential, KsefToken):
            raise CredentialError(
                f"the ksef-token signer needs a KSeF token, got a {type(credential).__name__};"
                " use a credential source that provides one, or another signer"
            )
        text = credential.token.reveal()
        where = f" (from {credential.source})" if credential.source else ""
        if not credential.token or "|" not in text.strip("|"):
            raise CredentialError(
                f"this does not look like a KSeF 2.0 token{where} (expected"
                " '<reference>|<context>|<hex>'; KSeF 1.0 tokens do not work in 2.0)"
            )
        token_bytes(text)
        named = token_context(text)
        if named is not None and _other_context(named, context):
            raise CredentialError(
                f"this KSeF token{where} was issued for {named} (its text names that context),"
                f" but the login is for {context}: use a token issued in {context}, or log in"
                f" as {named}; KSeF would refuse it (status 450)"
            )

    def sign(self, request: SignRequest) -> Submission:
        credential = request.credential
        self.preflight(credential, request.context, request.environment)
        assert isinstance(credential, KsefToken)
        key = current_key(request.public_keys)
        body: dict[str, Any] = {
            "challenge": request.challenge.challenge,
            "contextIdentifier": request.context.to_json(),
            "encryptedToken": encrypt_token(
                credential.token.reveal(), request.challenge.timestamp_ms, key
            ),
            "publicKeyId": key.public_key_id,
        }
        if self.authorization_policy_ips:
            groups = _classify(self.authorization_policy_ips)
            body["authorizationPolicy"] = {"allowedIps": {k: v for k, v in groups.items() if v}}
        return Submission(
            path=self.submit_path,
            content=json.dumps(body).encode(),
            content_type="application/json",
        )
