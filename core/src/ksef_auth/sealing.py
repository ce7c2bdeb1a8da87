"""Encryption at rest for sessions that leave the process (files, Redis, databases).

A sealed session is ``version (1 byte) | key id (4 bytes) | nonce (12 bytes) | AES-256-GCM
ciphertext and tag`` of the session's JSON. The entry is authenticated as associated data
together with the header: in version 2 (written since ksef-auth 0.3) that is the entry's name,
:func:`entry_name` of the store key (the SHA-256 of ``env|context|fingerprint``, which is also
the file or Redis key name), so a ciphertext copied under another name does not decrypt, and a
tool that sees only the names (``ksef-auth redis rekey``) can still re-seal every entry. Version
1 entries (bound to the store key itself) are still read. Keys are 32 random bytes written in
url-safe base64 (:func:`generate_key`).

**Rotation** is a :class:`KeyRing`: keys newest first (``"NEW,OLD"``). Sessions are sealed with
the newest and opened with whichever key sealed it (found by its key id, a 4-byte hash of the
key that says nothing about it); an entry sealed with an older key is re-sealed with the newest
at its next write, or at once by :meth:`KeyRing.reseal` (what the stores' ``rekey`` commands
run). Once nothing is sealed with the old key, drop it.

A store that cannot open an entry should treat it as a miss (log a warning, return None): a
changed deployment key then costs one new login per context, not an outage. ::

    ring = KeyRing.parse(SecretRef.env("KSEF_AUTH_STORE_KEY").get())
    blob = ring.seal(tokens, key)
    tokens = ring.unseal(blob, key)      # raises UnsealError when it cannot

Where a store's keys come from (an option, ``$KSEF_AUTH_STORE_KEY``, a generated file) is
:mod:`ksef_auth.store_keys`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import os
import re
import threading
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ksef_auth.errors import ConfigError, StoreError
from ksef_auth.model import ContextIdentifier, SessionTokens, Token, parse_timestamp
from ksef_auth.secret import Secret, note_secret

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

__all__ = [
    "KEY_SIZE",
    "VERSION",
    "KeyRing",
    "UnsealError",
    "entry_name",
    "generate_key",
    "key_id",
    "parse_keys",
    "seal",
    "unseal",
]

VERSION = 2
"""The format :meth:`KeyRing.seal` writes; versions 1 and 2 are read."""
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
    key = base64.urlsafe_b64encode(os.urandom(KEY_SIZE)).decode("ascii")
    note_secret(key)  # for a test's secret guard (does nothing otherwise)
    return key


def key_id(key: bytes) -> bytes:
    """The 4-byte identifier written beside each ciphertext: which configured key sealed it."""
    return hashlib.sha256(b"ksef-auth sealing key id\x00" + key).digest()[:_KEY_ID_SIZE]


def entry_name(key: str) -> str:
    """The name of a store key's entry: the SHA-256 of the key in hex (64 characters).

    Stores name files and Redis keys with it (a listing reveals no NIP), and version 2 seals
    bind each ciphertext to it."""
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


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


class KeyRing:
    """Encryption keys, newest first: the newest seals, any of them opens.

    Build it once per store (:meth:`parse`, or :func:`ksef_auth.store_keys.resolve_store_keys`)
    and reuse it: it keeps one AES-GCM cipher per key. Thread-safe; ``repr`` shows only how
    many keys it holds.
    """

    __slots__ = ("_ciphers", "_ids", "_newest_id", "keys")

    def __init__(self, keys: Sequence[bytes]) -> None:
        if not keys:
            raise ConfigError("no encryption key given: " + _HOW_TO_GENERATE)
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM

        self.keys: tuple[bytes, ...] = tuple(_check_raw(k, i + 1) for i, k in enumerate(keys))
        self._ids = tuple(key_id(k) for k in self.keys)
        self._newest_id = self._ids[0]
        self._ciphers: tuple[AESGCM, ...] = tuple(AESGCM(k) for k in self.keys)

    @classmethod
    def parse(cls, value: Secret | str | bytes | Sequence[Secret | str | bytes]) -> KeyRing:
        """A ring from key text (see :func:`parse_keys`); raises :class:`ConfigError`."""
        return cls(parse_keys(value))

    def __len__(self) -> int:
        return len(self.keys)

    def __repr__(self) -> str:
        return f"KeyRing({len(self.keys)} key{'s' if len(self.keys) != 1 else ''})"

    # --- sealing ---------------------------------------------------------------------------------

    def seal(self, tokens: SessionTokens, key: str) -> bytes:
        """Encrypt ``tokens`` with the newest key, bound to the entry of store key ``key``."""
        return self.seal_entry(tokens, entry_name(key))

    def seal_entry(self, tokens: SessionTokens, entry: str) -> bytes:
        """:meth:`seal` for an entry known by its name (:func:`entry_name`)."""
        plaintext = json.dumps(tokens.to_dict(), separators=(",", ":")).encode("utf-8")
        return self._seal_plaintext(plaintext, entry)

    def unseal(self, blob: bytes, key: str) -> SessionTokens:
        """Decrypt an entry stored under store key ``key`` with whichever key sealed it.

        Raises :class:`UnsealError` (a :class:`StoreError`) when no key of the ring opens it.
        """
        header = self._header(blob)
        aad = _aad(header, entry_name(key)) if blob[0] == VERSION else _aad(header, key)
        return _tokens_from_json(self._open(blob, header, aad))

    def is_current(self, blob: bytes) -> bool:
        """Whether ``blob`` is in the current format and sealed with the newest key (nothing to
        re-seal). Looks at the header only; says nothing about whether it opens."""
        return (
            len(blob) > _HEADER_SIZE
            and blob[0] == VERSION
            and blob[1:_HEADER_SIZE] == (self._newest_id)
        )

    def reseal(self, blob: bytes, entry: str) -> bytes | None:
        """``blob`` (an entry named ``entry``) sealed again with the newest key, or None when it
        already is. Works from the entry's name alone, for version 2 entries; raises
        :class:`UnsealError` when no key opens it or it is a version 1 entry (those are
        re-sealed at their next write)."""
        if self.is_current(blob):
            return None
        header = self._header(blob)
        if blob[0] != VERSION:
            raise UnsealError(
                f"stored session has format version {blob[0]}, which is bound to its store key"
                " and not to its name: it is re-sealed at its next write; keep the old key until"
                " then"
            )
        return self._seal_plaintext(self._open(blob, header, _aad(header, entry)), entry)

    # --- internals -------------------------------------------------------------------------------

    def _seal_plaintext(self, plaintext: bytes, entry: str) -> bytes:
        header = bytes([VERSION]) + self._newest_id
        nonce = os.urandom(_NONCE_SIZE)
        return header + nonce + self._ciphers[0].encrypt(nonce, plaintext, _aad(header, entry))

    def _header(self, blob: bytes) -> bytes:
        if len(blob) < _HEADER_SIZE + _NONCE_SIZE + _TAG_SIZE:
            raise UnsealError(
                f"stored session is truncated ({len(blob)} bytes); it will be re-created"
            )
        if blob[0] not in (1, VERSION):
            raise UnsealError(
                f"stored session has format version {blob[0]}, this ksef-auth reads versions"
                f" 1 and {VERSION}; the session will be re-created"
            )
        return blob[:_HEADER_SIZE]

    def _open(self, blob: bytes, header: bytes, aad: bytes) -> bytes:
        from cryptography.exceptions import InvalidTag

        nonce = blob[_HEADER_SIZE : _HEADER_SIZE + _NONCE_SIZE]
        ciphertext = blob[_HEADER_SIZE + _NONCE_SIZE :]
        wanted = header[1:]
        # The key id picks the key; every other key is still tried, so that a (2**-32) id
        # collision between two configured keys cannot lock a session out.
        order = [i for i, kid in enumerate(self._ids) if kid == wanted]
        order += [i for i in range(len(self._ids)) if i not in order]
        for index in order:
            try:
                return self._ciphers[index].decrypt(nonce, ciphertext, aad)
            except InvalidTag:
                continue
        if wanted in self._ids:
            raise UnsealError(
                "stored session does not authenticate under its store key: it was altered or"
                " copied from another key; the session will be re-created"
            )
        raise UnsealError(WRONG_KEY)


def _aad(header: bytes, bound_to: str) -> bytes:
    return header + bound_to.encode("utf-8")


# --- decoding a session that was sealed by us --------------------------------------------------

_CONTEXTS: dict[tuple[str, str], ContextIdentifier] = {}
_CONTEXTS_MAX = 65_536
_CONTEXTS_LOCK = threading.Lock()


def _context(data: dict[str, str]) -> ContextIdentifier:
    """The context of a stored session, built (and validated) once per process."""
    marker = (data["type"], data["value"])
    found = _CONTEXTS.get(marker)
    if found is None:
        found = ContextIdentifier(*marker)
        with _CONTEXTS_LOCK:
            if len(_CONTEXTS) >= _CONTEXTS_MAX:
                _CONTEXTS.clear()
            _CONTEXTS[marker] = found
    return found


def _when(text: str) -> datetime:
    try:  # what SessionTokens.to_dict writes (isoformat, with an offset) parses directly
        value = datetime.fromisoformat(text)
    except ValueError:
        value = parse_timestamp(text)  # anything else KSeF-style, the slow way
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _token(data: dict[str, str] | None) -> Token | None:
    return None if data is None else Token(data["token"], _when(data["validUntil"]))


def _tokens_from_json(plaintext: bytes) -> SessionTokens:
    try:
        data: dict[str, Any] = json.loads(plaintext)
        refreshed = data.get("refreshedAt")
        access = _token(data["accessToken"])
        if access is None:
            raise ValueError("a stored session has no access token")
        return SessionTokens(
            access_token=access,
            refresh_token=_token(data.get("refreshToken")),
            reference_number=data["referenceNumber"],
            context=_context(data["context"]),
            environment=data["environment"],
            credential_fingerprint=data["credentialFingerprint"],
            method=data["method"],
            obtained_at=_when(data["obtainedAt"]),
            refreshed_at=_when(refreshed) if refreshed else None,
        )
    except (ValueError, KeyError, TypeError) as exc:
        raise UnsealError(
            f"stored session decrypts but is not a session ({type(exc).__name__});"
            " it will be re-created"
        ) from None


# --- the functions of ksef-auth 0.2 (a ring per call; keep a KeyRing instead) -------------------

_RINGS: dict[tuple[bytes, ...], KeyRing] = {}


def _ring(keys: Sequence[bytes]) -> KeyRing:
    marker = tuple(keys)
    ring = _RINGS.get(marker)
    if ring is None:
        ring = KeyRing(marker)
        if len(_RINGS) > 64:
            _RINGS.clear()
        _RINGS[marker] = ring
    return ring


def seal(tokens: SessionTokens, key_name: str, keys: Sequence[bytes]) -> bytes:
    """Encrypt ``tokens`` with the first of ``keys``, bound to the store key ``key_name``
    (:meth:`KeyRing.seal`)."""
    if not keys:
        raise ConfigError("no encryption key given: " + _HOW_TO_GENERATE)
    return _ring(keys).seal(tokens, key_name)


def unseal(blob: bytes, key_name: str, keys: Sequence[bytes]) -> SessionTokens:
    """Decrypt a sealed session stored under ``key_name`` with whichever of ``keys`` sealed it
    (:meth:`KeyRing.unseal`). Raises :class:`UnsealError` when no configured key opens it."""
    if not keys:
        raise ConfigError("no encryption key given: " + _HOW_TO_GENERATE)
    return _ring(keys).unseal(blob, key_name)
