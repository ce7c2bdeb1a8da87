"""Polish tax and person identifiers: NIP (10 digits) and PESEL (11 digits), with checksums.

These are plain value checks, shared by the client side and the simulator alike.
"""

from __future__ import annotations

import re
from datetime import date

_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)
_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_SEPARATORS = re.compile(r"[\s\-]")
_NIP_PATTERN = re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$")  # open-api.json, schema Nip


def normalize_nip(value: str) -> str:
    """Return the NIP as 10 digits, spaces and dashes removed (``PL`` prefix allowed).

    Raises ``ValueError`` with the reason when it is not a valid NIP.
    """
    text = _SEPARATORS.sub("", str(value))
    if text[:2].upper() == "PL":
        text = text[2:]
    if not (len(text) == 10 and text.isascii() and text.isdigit()):
        raise ValueError(f"NIP must be 10 digits (got {len(text)} characters: {text!r})")
    if not _NIP_PATTERN.match(text):
        raise ValueError(
            f"NIP {text} is invalid: its first three digits (the tax office code) cannot start"
            " with 0 or end in 00"
        )
    digits = [int(c) for c in text]
    remainder = sum(w * d for w, d in zip(_NIP_WEIGHTS, digits, strict=False)) % 11
    if remainder == 10:
        raise ValueError(f"NIP {text} is invalid: its checksum remainder is 10, no NIP has that")
    if remainder != digits[9]:
        raise ValueError(
            f"NIP {text} is invalid: check digit is {digits[9]}, the checksum gives {remainder}"
            " (a typo in one of the digits?)"
        )
    return text


def is_valid_nip(value: str) -> bool:
    """True when ``value`` is a NIP with a correct checksum (spaces and dashes ignored)."""
    try:
        normalize_nip(value)
    except ValueError:
        return False
    return True


def normalize_pesel(value: str) -> str:
    """Return the PESEL as 11 digits; raise ``ValueError`` with the reason when invalid."""
    text = _SEPARATORS.sub("", str(value))
    if not (len(text) == 11 and text.isascii() and text.isdigit()):
        raise ValueError(f"PESEL must be 11 digits (got {len(text)} characters)")
    digits = [int(c) for c in text]
    check = (10 - sum(w * d for w, d in zip(_PESEL_WEIGHTS, digits, strict=False)) % 10) % 10
    if check != digits[10]:
        raise ValueError("PESEL is invalid: its check digit does not match")
    month = digits[2] * 10 + digits[3]
    if month % 20 not in range(1, 13):
        raise ValueError("PESEL is invalid: its month digits are out of range")
    century = {0: 1900, 20: 2000, 40: 2100, 60: 2200, 80: 1800}[month - month % 20]
    try:
        date(century + digits[0] * 10 + digits[1], month % 20, digits[4] * 10 + digits[5])
    except ValueError:
        raise ValueError("PESEL is invalid: its birth date does not exist") from None
    return text


def is_valid_pesel(value: str) -> bool:
    """True when ``value`` is a PESEL with a correct check digit and month encoding."""
    try:
        normalize_pesel(value)
    except ValueError:
        return False
    return True


def example_nips(count: int, *, start: int = 0) -> list[str]:
    """``count`` distinct valid NIPs (a deterministic sequence from ``start``), for tests,
    benchmarks and docs: stems 100000000 + n with the check digit computed, skipping the stems
    no NIP can have."""
    result: list[str] = []
    number = start
    while len(result) < count:
        stem = f"{100_000_000 + number * 7919 % 900_000_000:09d}"
        number += 1
        if not _NIP_PATTERN.match(stem + "0"):
            continue
        remainder = sum(w * int(d) for w, d in zip(_NIP_WEIGHTS, stem, strict=True)) % 11
        if remainder == 10:
            continue
        nip = stem + str(remainder)
        result.append(nip)
    return result
