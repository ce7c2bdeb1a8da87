"""The ``ksef-token`` signer: KSeF 2.0's login with a KSeF token (``POST /auth/ksef-token``).

The token and the challenge's millisecond timestamp, ``"<token>|<timestampMs>"``, are encrypted
with RSA-OAEP (SHA-256, MGF1-SHA-256, no label) under KSeF's current ``KsefTokenEncryption``
public key, base64-encoded and sent with that key's ``publicKeyId``.
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


def encrypt_token(token: str, timestamp_ms: int, key: PublicKeyCertificate) -> str:
    """base64(RSA-OAEP-SHA256/MGF1-SHA256(``f"{token}|{timestamp_ms}"``)) under ``key``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding, rsa

    public_key = x509.load_der_x509_certificate(key.certificate).public_key()
    if not isinstance(public_key, rsa.RSAPublicKey):
        raise KsefAuthError(
            f"KSeF's {KEY_USAGE} key {key.public_key_id} is not RSA; only RSA-OAEP is supported"
        )
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None)
    plaintext = f"{token}|{timestamp_ms}".encode()
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
        if not credential.token or "|" not in credential.token.reveal().strip("|"):
            raise CredentialError(
                "this does not look like a KSeF 2.0 token (expected"
                " '<reference>|<context>|<hex>'; KSeF 1.0 tokens do not work in 2.0)"
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
