"""Reference numbers, challenges and KSeF-style timestamps.

Reference numbers and challenges are 36-char strings ``YYYYMMDD-TT-HHHHHHHHHH-HHHHHHHHHH-CC``:
a date, a two-letter type code (``CR`` challenge, ``AU`` authentication, ``EC`` KSeF token), two
groups of 10 uppercase hex digits and a CRC-8 (poly 0x07, init 0, no reflection, no xor-out) over
the first 33 characters, dashes included, as 2 uppercase hex digits.
"""

from __future__ import annotations

import re
import secrets
from datetime import UTC, datetime

from ksef_auth.secret import note_secret

_REF = re.compile(r"^\d{8}-[A-Z]{2}-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2}$")
#: a KSeF 2.0 token: ``<EC reference>|<nip|internalId>-<context value>|<64 lowercase hex>``
KSEF_TOKEN = re.compile(
    r"^(?P<ref>\d{8}-EC-[A-F0-9]{10}-[A-F0-9]{10}-[A-F0-9]{2})"
    r"\|(?P<prefix>nip|internalId)-(?P<context>[0-9]{10}(-[0-9]{5})?)\|(?P<secret>[0-9a-f]{64})$"
)
_TOKEN_PREFIX = {"Nip": "nip", "InternalId": "internalId"}
TICKS_PER_SECOND = 10_000_000  # .NET ticks: 100 ns, hence 7 fractional digits


def _crc8_bitwise(data: bytes) -> int:
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


_CRC8_TABLE = bytes(_crc8_bitwise(bytes([i])) for i in range(256))


def crc8(data: bytes) -> int:
    """CRC-8 with polynomial 0x07, initial value 0, no reflection and no final xor."""
    crc = 0
    for byte in data:
        crc = _CRC8_TABLE[crc ^ byte]
    return crc


def new_reference(kind: str, when: float) -> str:
    """A fresh reference number of type ``kind`` (``CR``, ``AU``, ``EC``...) dated ``when``."""
    day = datetime.fromtimestamp(when, UTC).strftime("%Y%m%d")
    body = f"{day}-{kind}-{secrets.token_hex(5).upper()}-{secrets.token_hex(5).upper()}"
    return f"{body}-{crc8(body.encode('ascii')):02X}"


def ksef_token_text(ref: str, context_type: str, context_value: str) -> str:
    """A fresh KSeF token in KSeF's format for the ``EC`` reference ``ref`` (its secret part is
    64 random lowercase hex digits)."""
    prefix = _TOKEN_PREFIX[context_type]
    token = f"{ref}|{prefix}-{context_value}|{secrets.token_hex(32)}"
    note_secret(token)  # a test's secret guard learns every token issued
    return token


def ksef_token_context(token: str) -> str | None:
    """The context value a well-formed KSeF token names (``nip-<NIP>``...), else None."""
    match = KSEF_TOKEN.match(token)
    return match.group("context") if match else None


def is_reference(value: str, kind: str | None = None) -> bool:
    """True when ``value`` is well formed, its CRC-8 suffix matches and (if given) its type."""
    if not isinstance(value, str) or not _REF.match(value):
        return False
    if kind is not None and value[9:11] != kind:
        return False
    return f"{crc8(value[:33].encode('ascii')):02X}" == value[34:]


def to_ticks(when: float) -> int:
    """Seconds since the epoch -> 100 ns ticks (the precision KSeF timestamps are printed in)."""
    return round(when * TICKS_PER_SECOND)


def format_ticks(ticks: int) -> str:
    """ISO-8601 with 7 fractional digits and an explicit ``+00:00`` offset, as .NET prints it."""
    seconds, fraction = divmod(ticks, TICKS_PER_SECOND)
    stamp = datetime.fromtimestamp(seconds, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{fraction:07d}+00:00"


def iso(when: float) -> str:
    """Format seconds since the epoch the way KSeF does (``2025-07-11T12:23:56.0154302+00:00``)."""
    return format_ticks(to_ticks(when))


def ticks_to_ms(ticks: int) -> int:
    """The same instant truncated to milliseconds (what ``timestampMs`` carries)."""
    return ticks // 10_000
