"""Sample identifiers for tests, benches and docs: valid NIPs by the thousand.

The numbers are made up (a prefix, a counter, the check digit KSeF's validation expects); they
pass the simulator's checksum check and ``ksef_auth.nip.is_valid_nip``.
"""

from __future__ import annotations

_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def sample_nips(count: int, prefix: str = "111") -> list[str]:
    """``count`` distinct valid NIPs starting with ``prefix`` (1-8 digits, not starting with 0),
    in increasing order; numbers whose check digit would be 10 are skipped."""
    if not (prefix.isdigit() and 1 <= len(prefix) <= 8 and prefix[0] != "0"):
        raise ValueError("prefix must be 1-8 digits, not starting with 0")
    width = 9 - len(prefix)
    if count < 0 or count > 10**width:
        raise ValueError(f"count must be within 0..{10**width} for a {len(prefix)}-digit prefix")
    found: list[str] = []
    number = 0
    while len(found) < count and number < 10**width:
        base = f"{prefix}{number:0{width}d}"
        number += 1
        digit = sum(int(d) * w for d, w in zip(base, _WEIGHTS, strict=True)) % 11
        if digit != 10:
            found.append(f"{base}{digit}")
    return found
