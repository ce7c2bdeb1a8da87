"""Encryption at rest for sessions that leave the process (files, Redis, databases).

A sealed session is ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | AES-256-GCM
ciphertext and tag`` of the session's JSON. The store key (``env|context|fingerprint``) is
authenticated as associated data together with the header, so a ciphertext copied to another key
does not decrypt. Keys are 32 random bytes written in url-safe base64 (:func:`generate_key`).

Rotation: give several keys, newest first (``"NEW,OLD"``); sessions are sealed with the first and
opened with whichever key sealed them (found by its key id, a 4-byte hash of the key that says
nothing about it). Once every live session has been rewritten, drop the old key.

A store that cannot open an entry should treat it as a miss (log a warning, return None): a
changed deployment key then costs one new login per context, not an outage. ::

    keys = parse_keys(SecretRef.env("KSEF_AUTH_STORE_KEY").get())
    blob = seal(tokens, key, keys)
    tokens = unseal(blob, key, keys)      # raises UnsealError when it cannot
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
from collections.abc import Sequence

from ksef_auth.errors import ConfigError, StoreError
from ksef_auth.model import SessionTokens
from ksef_auth.secret import Secret

__all__ = [
    "KEY_SIZE",
    "VERSION",
    "UnsealError",
    "generate_key",
    "key_id",
    "parse_keys",
    "seal",
    "unseal",
]

VERSION = 1
KEY_SIZE = 32
_KEY_ID_SIZE = 4
_NONCE_SIZE = 12
_HEADER_SIZE = 1 + _KEY_ID_SIZE
_TAG_SIZE = 16

WRONG_KEY = (
    "stored session cannot be decrypted with the configured key: was the key changed?"
    " the session will be re-created"
)


class UnsealError(StoreError):
    """A stored session cannot be opened: wrong or rotated-away key, tampering, another key's
    entry, or a format this version does not know. Stores treat it as a miss."""


def generate_key() -> str:
    """A new random 256-bit key in url-safe base64 (44 characters), for a store's ``key``."""
    return base64.urlsafe_b64encode(os.urandom(KEY_SIZE)).decode("ascii")


def key_id(key: bytes) -> bytes:
    """The 4-byte identifier written beside each ciphertext: which configured key sealed it."""
    return hashlib.sha256(b"ksef-auth sealing key id\x00" + key).digest()[:_KEY_ID_SIZE]


def parse_keys(value: Secret | str | bytes | Sequence[Secret | str | bytes]) -> list[bytes]:
    """Keys from their url-safe base64 text: one key, or several (newest first) separated by
    commas, spaces or newlines, or a list. Raw 32-byte ``bytes`` are taken as they are.

    Raises :class:`ConfigError` on a malformed key; the message never contains the key.
    """
    items: list[Secret | str | bytes] = (
        [value] if isinstance(value, Secret | str | bytes) else list(value)
    )
    keys: list[bytes] = []
    for item in items:
        if isinstance(item, bytes):
            keys.append(_check_raw(item, len(keys) + 1))
            continue
        text = item.reveal() if isinstance(item, Secret) else item
        for part in re.split(r"[\s,]+", text.strip()):
            if part:
                keys.append(_decode(part, len(keys) + 1))
    if not keys:
        raise ConfigError("no encryption key given: " + _HOW_TO_GENERATE)
    return keys


_HOW_TO_GENERATE = (
    "a key is 32 random bytes in url-safe base64; make one with"
    ' python -c "from ksef_auth.sealing import generate_key; print(generate_key())"'
)


def _decode(text: str, position: int) -> bytes:
    if not re.fullmatch(r"[A-Za-z0-9_-]+={0,2}", text):
        raise ConfigError(f"encryption key #{position} is not url-safe base64; {_HOW_TO_GENERATE}")
    padded = text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4)
    try:
        raw = base64.urlsafe_b64decode(padded.encode("ascii"))
    except (binascii.Error, ValueError, UnicodeEncodeError):
        raise ConfigError(
            f"encryption key #{position} is not url-safe base64; {_HOW_TO_GENERATE}"
        ) from None
    return _check_raw(raw, position)


def _check_raw(raw: bytes, position: int) -> bytes:
    if len(raw) != KEY_SIZE:
        raise ConfigError(
            f"encryption key #{position} is {len(raw)} bytes, not {KEY_SIZE}; {_HOW_TO_GENERATE}"
        )
    return raw


def _aad(header: bytes, key_name: str) -> bytes:
    return header + key_name.encode("utf-8")


def seal(tokens: SessionTokens, key_name: str, keys: Sequence[bytes]) -> bytes:
    """Encrypt ``tokens`` with the first of ``keys``, bound to the store key ``key_name``."""
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if not keys:
        raise ConfigError("no encryption key given: " + _HOW_TO_GENERATE)
    key = keys[0]
    header = bytes([VERSION]) + key_id(key)
    nonce = os.urandom(_NONCE_SIZE)
    plaintext = json.dumps(tokens.to_dict(), separators=(",", ":")).encode("utf-8")
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, _aad(header, key_name))


def unseal(blob: bytes, key_name: str, keys: Sequence[bytes]) -> SessionTokens:
    """Decrypt a sealed session stored under ``key_name`` with whichever of ``keys`` sealed it.

    Raises :class:`UnsealError` (a :class:`StoreError`) when no configured key opens it.
    """
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    if len(blob) < _HEADER_SIZE + _NONCE_SIZE + _TAG_SIZE:
        raise UnsealError(f"stored session is truncated ({len(blob)} bytes); it will be re-created")
    if blob[0] != VERSION:
        raise UnsealError(
            f"stored session has format version {blob[0]}, this ksef-auth reads version"
            f" {VERSION}; the session will be re-created"
        )
    header = blob[:_HEADER_SIZE]
    nonce = blob[_HEADER_SIZE : _HEADER_SIZE + _NONCE_SIZE]
    ciphertext = blob[_HEADER_SIZE + _NONCE_SIZE :]
    wanted = header[1:]
    # The key id picks the key; every other key is still tried, so that a (2**-32) id
    # collision between two configured keys cannot lock a session out.
    candidates = sorted(keys, key=lambda k: key_id(k) != wanted)
    for key in candidates:
        try:
            plaintext = AESGCM(key).decrypt(nonce, ciphertext, _aad(header, key_name))
        except InvalidTag:
            continue
        try:
            return SessionTokens.from_dict(json.loads(plaintext))
        except (ValueError, KeyError, TypeError) as exc:
            raise UnsealError(
                f"stored session decrypts but is not a session ({type(exc).__name__});"
                " it will be re-created"
            ) from None
    if any(key_id(k) == wanted for k in keys):
        raise UnsealError(
            "stored session does not authenticate under its store key: it was altered or"
            " copied from another key; the session will be re-created"
        )
    raise UnsealError(WRONG_KEY)
