"""Opaque continuation tokens (``x-continuation-token``) and ``pageSize`` checks."""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import TypeVar

from ksef_auth_simulator.errors import KsefError

T = TypeVar("T")


def page_size(raw: str | None) -> int:
    if raw is None or raw == "":
        return 10
    try:
        size = int(raw)
    except ValueError as exc:
        raise KsefError(21405, ["pageSize musi być liczbą całkowitą."]) from exc
    if not 10 <= size <= 100:
        raise KsefError(21405, ["pageSize musi mieć wartość od 10 do 100."])
    return size


def _mac(secret: bytes, scope: str, offset: int) -> str:
    return hmac.new(secret, f"{scope}:{offset}".encode(), hashlib.sha256).hexdigest()[:16]


def encode(secret: bytes, scope: str, offset: int) -> str:
    raw = f"{offset}:{_mac(secret, scope, offset)}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode(secret: bytes, scope: str, token: str | None) -> int:
    """Offset carried by ``token`` (0 when absent); 21418 when it is not one of ours."""
    if not token:
        return 0
    try:
        offset_text, mac = base64.urlsafe_b64decode(token.encode("ascii")).decode().split(":")
        offset = int(offset_text)
    except (ValueError, UnicodeError) as exc:
        raise KsefError(21418, []) from exc
    if offset < 0 or not hmac.compare_digest(mac, _mac(secret, scope, offset)):
        raise KsefError(21418, [])
    return offset


def page(
    items: list[T], offset: int, size: int, secret: bytes, scope: str
) -> tuple[list[T], str | None]:
    chunk = items[offset : offset + size]
    more = offset + size < len(items)
    return chunk, encode(secret, scope, offset + size) if more else None
