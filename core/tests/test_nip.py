from __future__ import annotations

import pytest

from ksef_auth.nip import is_valid_nip, is_valid_pesel, normalize_nip, normalize_pesel

VALID_NIPS = [
    ("5261040828", "5261040828"),  # Ministerstwo Finansów
    ("526-104-08-28", "5261040828"),
    ("526 104 08 28", "5261040828"),
    ("PL5261040828", "5261040828"),
    ("pl 526-10-40-828", "5261040828"),
    ("1234563218", "1234563218"),
    ("7740001454", "7740001454"),
    ("9542751368", "9542751368"),
    ("5213017228", "5213017228"),
]

INVALID_NIPS = [
    ("5261040827", "check digit is 7, the checksum gives 8"),
    ("1234567890", "checksum remainder is 10"),
    ("123456321", "must be 10 digits"),
    ("12345632180", "must be 10 digits"),
    ("52610408A8", "must be 10 digits"),
    ("", "must be 10 digits"),
    ("0000000000", "tax office code"),
    ("1001234567", "tax office code"),
    ("５２６１０４０８２８", "must be 10 digits"),  # full-width digits are not ASCII
]


@pytest.mark.parametrize(("raw", "expected"), VALID_NIPS)
def test_valid_nips_normalize(raw: str, expected: str) -> None:
    assert normalize_nip(raw) == expected
    assert is_valid_nip(raw)


@pytest.mark.parametrize(("raw", "reason"), INVALID_NIPS)
def test_invalid_nips_say_why(raw: str, reason: str) -> None:
    assert not is_valid_nip(raw)
    with pytest.raises(ValueError, match=reason):
        normalize_nip(raw)


def test_every_single_digit_typo_is_caught() -> None:
    nip = "5261040828"
    for position in range(10):
        for digit in "0123456789":
            if digit == nip[position]:
                continue
            typo = nip[:position] + digit + nip[position + 1 :]
            assert not is_valid_nip(typo), typo


@pytest.mark.parametrize("pesel", ["44051401359", "02070803628", "02270803624"])
def test_valid_pesels(pesel: str) -> None:
    assert is_valid_pesel(pesel)
    assert normalize_pesel(pesel) == pesel


@pytest.mark.parametrize(
    ("pesel", "reason"),
    [("44051401358", "check digit"), ("4405140135", "11 digits"), ("44150401353", "month")],
)
def test_invalid_pesels(pesel: str, reason: str) -> None:
    assert not is_valid_pesel(pesel)
    with pytest.raises(ValueError, match=reason):
        normalize_pesel(pesel)
