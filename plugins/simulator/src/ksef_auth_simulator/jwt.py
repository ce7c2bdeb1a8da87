"""A minimal HS256 JWS encoder/decoder (the simulator's own; no PyJWT).

KSeF signs its three JWTs (authentication, access and refresh tokens) with a server-side secret;
clients cannot verify them. Every token the simulator issues carries a unique ``jti``, so two
tokens issued within the same second differ (real KSeF can return identical JWTs on refreshes
within one second; the simulator deliberately does not, so tests can tell tokens apart).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any

_HEADER = {"alg": "HS256", "typ": "JWT"}


class JwtError(ValueError):
    """The string is not a JWT this server signed (malformed, wrong algorithm or signature)."""


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    padded = text + "=" * (-len(text) % 4)
    try:
        return base64.urlsafe_b64decode(padded.encode("ascii"))
    except (ValueError, UnicodeEncodeError) as exc:
        raise JwtError("bad base64url segment") from exc


def _json(data: dict[str, Any]) -> bytes:
    return json.dumps(data, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def encode(claims: dict[str, Any], secret: bytes) -> str:
    """Sign ``claims`` with HMAC-SHA256 and return the compact JWS."""
    signing_input = f"{_b64encode(_json(_HEADER))}.{_b64encode(_json(claims))}"
    mac = hmac.new(secret, signing_input.encode("ascii"), hashlib.sha256).digest()
    return f"{signing_input}.{_b64encode(mac)}"


def decode(token: str, secret: bytes) -> dict[str, Any]:
    """Verify the signature and return the claims (expiry is the caller's business)."""
    parts = token.split(".")
    if len(parts) != 3:
        raise JwtError("a JWT has three dot-separated parts")
    header_raw, payload_raw, signature = parts
    try:
        header = json.loads(_b64decode(header_raw))
    except json.JSONDecodeError as exc:
        raise JwtError("header is not JSON") from exc
    if not isinstance(header, dict) or header.get("alg") != "HS256":
        raise JwtError("only HS256 tokens are issued here")
    expected = hmac.new(secret, f"{header_raw}.{payload_raw}".encode("ascii"), hashlib.sha256)
    if not hmac.compare_digest(_b64encode(expected.digest()), signature):
        raise JwtError("signature mismatch")
    try:
        claims = json.loads(_b64decode(payload_raw))
    except json.JSONDecodeError as exc:
        raise JwtError("payload is not JSON") from exc
    if not isinstance(claims, dict):
        raise JwtError("payload is not a JSON object")
    return claims
