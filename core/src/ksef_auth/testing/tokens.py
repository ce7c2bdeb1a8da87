"""Realistic test values: session tokens with unique secrets, and the secrets a credential holds."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from ksef_auth.model import ContextIdentifier, SessionTokens, Token
from ksef_auth.secret import Secret

__all__ = ["NIPS", "make_tokens", "secrets_of"]

#: Three valid NIPs the kit uses as three different contexts (tax identifiers of no real firm
#: that matters here: checksums only).
NIPS = ("5261040828", "1234563218", "7791011327")


def make_tokens(
    *,
    nip: str = NIPS[0],
    access_ttl: float = 900.0,
    refresh_ttl: float | None = 7 * 86400.0,
    environment: str = "http://127.0.0.1:1/v2",
) -> SessionTokens:
    """Session tokens with unique token values, obtained now.

    ``access_ttl`` and ``refresh_ttl`` are the seconds each token has left (negative: already
    expired); ``refresh_ttl=None`` makes a session without a refresh token.
    """
    now = datetime.now(UTC)
    unique = uuid.uuid4().hex
    refresh = (
        Token(f"refresh-{unique}", now + timedelta(seconds=refresh_ttl))
        if refresh_ttl is not None
        else None
    )
    return SessionTokens(
        access_token=Token(f"access-{unique}", now + timedelta(seconds=access_ttl)),
        refresh_token=refresh,
        reference_number="20250101-AU-0000000000-0000000000-00",
        context=ContextIdentifier.nip(nip),
        environment=environment,
        credential_fingerprint="tok:" + unique[:16],
        method="ksef-token",
        obtained_at=now,
    )


def secrets_of(credential: Any) -> list[str]:
    """The secret strings inside a credential (a KSeF token, a shared secret), for leak checks."""
    return [
        value.reveal()
        for value in (getattr(credential, "token", None), getattr(credential, "secret", None))
        if isinstance(value, Secret)
    ]


vars_of = secrets_of  # the name of ksef-auth 0.2.0
