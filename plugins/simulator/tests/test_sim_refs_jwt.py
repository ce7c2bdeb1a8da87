"""Reference numbers with their CRC-8, KSeF timestamps, the HS256 codec."""

from __future__ import annotations

import pytest

from ksef_auth_simulator import jwt
from ksef_auth_simulator.refs import crc8, format_ticks, is_reference, iso, new_reference, to_ticks
from ksef_auth_simulator.simulator import lifetime

PUBLISHED = [
    "20250514-CR-226FB7B000-3ACF9BE4C0-10",
    "20250625-CR-20F5EE4000-DA48AE4124-46",
    "20251010-EC-1DCE3E3000-12ECB5B36E-45",
    "20251010-AU-19F5E39000-39B5B182BA-B8",
]


@pytest.mark.parametrize("ref", PUBLISHED)
def test_published_samples_have_valid_crc(ref: str) -> None:
    assert is_reference(ref)
    assert f"{crc8(ref[:33].encode()):02X}" == ref[-2:]


def test_new_references() -> None:
    for kind in ("CR", "AU", "EC"):
        ref = new_reference(kind, 1752236636.0)
        assert len(ref) == 36 and ref.startswith("20250711-" + kind) and is_reference(ref, kind)
    assert not is_reference("20250514-CR-226FB7B000-3ACF9BE4C0-11")
    assert not is_reference(PUBLISHED[0], "AU")


def test_timestamp_format() -> None:
    assert iso(1752236636.0154302) == "2025-07-11T12:23:56.0154302+00:00"
    ticks = to_ticks(1752236636.0154302)
    assert format_ticks(ticks) == "2025-07-11T12:23:56.0154302+00:00"
    assert ticks // 10_000 == 1752236636015


def test_jwt_round_trip_and_tamper() -> None:
    token = jwt.encode({"typ": "ContextToken", "exp": 1}, b"secret")
    assert jwt.decode(token, b"secret")["typ"] == "ContextToken"
    with pytest.raises(jwt.JwtError):
        jwt.decode(token, b"other")
    with pytest.raises(jwt.JwtError):
        jwt.decode(token + "x", b"secret")
    with pytest.raises(jwt.JwtError):
        jwt.decode("a.b", b"secret")


def test_lifetimes() -> None:
    assert lifetime(1000.7, 900.0) == (1000, 1900)
    iat, exp = lifetime(1000.7, 0.25)
    assert iat == 1000.7 and exp == 1000.95
