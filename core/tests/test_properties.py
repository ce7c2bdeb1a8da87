"""Property-based tests (hypothesis): strategy files and identifiers against generated input.

* Loading a strategy file never raises anything but :class:`ConfigError` (or its subclasses),
  whatever the TOML: generated structures with the keys a strategy file uses and random values,
  written as TOML text, and raw bytes that may not even be text.
* NIP and PESEL: every generated valid number is accepted (in every spelling a user might type),
  every single-digit typo is refused, and no input raises anything but ``ValueError``.
"""

from __future__ import annotations

import json
import math
from datetime import date, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ksef_auth import ConfigError, load
from ksef_auth.manager import PluginManager
from ksef_auth.nip import normalize_nip, normalize_pesel

SETTINGS = settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# --- strategy files -------------------------------------------------------------------------------

KEYS = [
    "defaults",
    "strategy",
    "current",
    "environment",
    "context",
    "contexts",
    "strict",
    "credential",
    "signer",
    "store",
    "refresh",
    "http",
    "description",
    "use",
    "var",
    "env",
    "file",
    "nip",
    "type",
    "value",
    "poll_deadline",
    "read_timeout",
    "attempts",
    "advisory_fraction",
    "lock_timeout",
    "max_entries",
    "shop",
    "x",
]
VALUES = [
    "test",
    "demo",
    "production",
    "http://127.0.0.1:9/v2",
    "http://ksef.example.com/v2",
    "https://u:p@ksef.example.com/v2",
    "5261040828",
    "5261040829",
    "InternalId:5261040828-00001",
    "env",
    "memory",
    "plain",
    "ksef-token",
    "KSEF_PROP_TOKEN",
    "nope",
    "",
]

scalars = st.one_of(
    st.sampled_from(VALUES),
    st.text(max_size=12),
    st.integers(min_value=-(2**63), max_value=2**63 - 1),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(min_size=1, max_size=8))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)),
    max_leaves=25,
)
documents = st.dictionaries(keys, values, max_size=5) | st.fixed_dictionaries(
    {"strategy": st.dictionaries(keys, st.dictionaries(keys, values, max_size=8), max_size=3)},
    optional={"defaults": st.dictionaries(keys, values, max_size=6)},
)


def toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value)  # a TOML basic string (lone surrogates make it invalid TOML)
    if isinstance(value, list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return "{" + ", ".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in value.items()) + "}"


def toml_document(document: dict[str, Any]) -> str:
    return "\n".join(f"{json.dumps(k)} = {toml_value(v)}" for k, v in document.items()) + "\n"


@pytest.fixture
def prop_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF_PROP_TOKEN", "20250101-EC-1111111111-2222222222-33|nip-1|ab")


def _load(source: Any, manager: PluginManager) -> None:
    try:
        load(source, manager=manager)
    except ConfigError:
        pass  # the only acceptable failure: typed, naming the file and key


@SETTINGS
@given(document=documents)
def test_any_toml_document_loads_or_raises_config_error(
    document: dict[str, Any], tmp_path: Path, manager: PluginManager, prop_env: None
) -> None:
    path = tmp_path / "ksef-auth.toml"
    path.write_text(toml_document(document), encoding="utf-8", errors="surrogatepass")
    _load(path, manager)
    _load(document, manager)  # the same structure as a dict


@SETTINGS
@given(content=st.binary(max_size=300))
def test_any_bytes_load_or_raise_config_error(
    content: bytes, tmp_path: Path, manager: PluginManager
) -> None:
    path = tmp_path / "ksef-auth.toml"
    path.write_bytes(content)
    _load(path, manager)


@SETTINGS
@given(
    prefix=st.sampled_from(["[strategy.a]\n", '[defaults]\nenvironment = "test"\n', ""]),
    lines=st.lists(
        st.sampled_from(
            [
                'environment = "http://127.0.0.1:9/v2"',
                'environment = "http://ksef.example.com/v2"',
                'context = "5261040828"',
                'contexts = ["5261040828", "nope"]',
                'credential = { use = "env", var = "KSEF_PROP_TOKEN" }',
                'credential = [{ use = "env", var = "{nip}" }]',
                'signer = "plain"',
                "refresh = { poll_deadline = nan }",
                "refresh = { poll_deadline = -1, lock_timeout = 1e400 }",
                'http = { read_timeout = "1", attempts = 0 }',
                "[strategy.b]",
                "[strategy.a.refresh]",
                "x = [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]",
                'current = "b"',
            ]
        ),
        max_size=8,
    ),
)
def test_near_miss_strategy_files_load_or_raise_config_error(
    prefix: str, lines: list[str], tmp_path: Path, manager: PluginManager, prop_env: None
) -> None:
    path = tmp_path / "ksef-auth.toml"
    path.write_text(prefix + "\n".join(lines) + "\n", encoding="utf-8")
    _load(path, manager)


# --- NIP ------------------------------------------------------------------------------------------

_NIP_WEIGHTS = (6, 5, 7, 2, 3, 4, 5, 6, 7)


def _nip(office: int, rest: int) -> str:
    """A valid NIP, built independently of ksef_auth.nip: a tax office code (three digits, not
    starting with 0, not ending in 00), six digits, and the mod-11 check digit (a stem whose
    checksum is 10 has no NIP: the next stem is used)."""
    while True:
        stem = f"{office}{rest:06d}"
        check = sum(w * int(d) for w, d in zip(_NIP_WEIGHTS, stem, strict=True)) % 11
        if check != 10:
            return stem + str(check)
        rest = (rest + 1) % 1_000_000


def nips() -> st.SearchStrategy[str]:
    offices = st.integers(min_value=100, max_value=999).filter(lambda o: o % 100 != 0)
    return st.builds(_nip, offices, st.integers(min_value=0, max_value=999_999))


@SETTINGS
@given(nip=nips(), position=st.integers(min_value=0, max_value=9), shift=st.integers(1, 9))
def test_every_single_digit_typo_in_a_nip_is_refused(nip: str, position: int, shift: int) -> None:
    typo = nip[:position] + str((int(nip[position]) + shift) % 10) + nip[position + 1 :]
    with pytest.raises(ValueError):
        normalize_nip(typo)


@SETTINGS
@given(text=st.text(max_size=30) | st.from_regex(r"\A(PL)?[0-9 -]{8,14}\Z"))
def test_no_text_makes_the_nip_check_raise_anything_but_value_error(text: str) -> None:
    try:
        normalize_nip(text)
    except ValueError as exc:
        assert len(str(exc)) < 200
    else:
        assert sum(c.isdigit() for c in text) >= 10


# --- PESEL ----------------------------------------------------------------------------------------

_PESEL_WEIGHTS = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
_CENTURY = {1800: 80, 1900: 0, 2000: 20, 2100: 40, 2200: 60}


def pesel_of(born: date, serial: int) -> str:
    """The PESEL of someone born on ``born`` (the month carries the century)."""
    month = born.month + _CENTURY[born.year // 100 * 100]
    stem = f"{born.year % 100:02d}{month:02d}{born.day:02d}{serial:04d}"
    check = (10 - sum(w * int(d) for w, d in zip(_PESEL_WEIGHTS, stem, strict=True)) % 10) % 10
    return stem + str(check)


births = st.dates(min_value=date(1800, 1, 1), max_value=date(2299, 12, 31))


@SETTINGS
@given(born=births, serial=st.integers(0, 9999))
def test_every_valid_pesel_is_accepted(born: date, serial: int) -> None:
    pesel = pesel_of(born, serial)
    assert normalize_pesel(pesel) == pesel
    assert normalize_pesel(f"{pesel[:6]} {pesel[6:]}") == pesel


@SETTINGS
@given(
    born=births,
    serial=st.integers(0, 9999),
    position=st.integers(min_value=0, max_value=10),
    shift=st.integers(1, 9),
)
def test_every_single_digit_typo_in_a_pesel_is_refused(
    born: date, serial: int, position: int, shift: int
) -> None:
    pesel = pesel_of(born, serial)
    typo = pesel[:position] + str((int(pesel[position]) + shift) % 10) + pesel[position + 1 :]
    with pytest.raises(ValueError):
        normalize_pesel(typo)


@SETTINGS
@given(born=births, serial=st.integers(0, 9999), data=st.data())
def test_a_pesel_with_a_date_that_does_not_exist_is_refused(
    born: date, serial: int, data: st.DataObject
) -> None:
    """Day 0, day 32, February 30th: the check digit may match, the date does not exist."""
    pesel = pesel_of(born, serial)
    last = (born.replace(day=28) + timedelta(days=4)).replace(day=1) - timedelta(days=1)
    bad_day = data.draw(st.sampled_from([0, *range(last.day + 1, 100)]))
    stem = pesel[:4] + f"{bad_day:02d}" + pesel[6:10]
    check = (10 - sum(w * int(d) for w, d in zip(_PESEL_WEIGHTS, stem, strict=True)) % 10) % 10
    with pytest.raises(ValueError, match="date"):
        normalize_pesel(stem + str(check))


@SETTINGS
@given(text=st.text(max_size=30))
def test_no_text_makes_the_pesel_check_raise_anything_but_value_error(text: str) -> None:
    try:
        normalize_pesel(text)
    except ValueError:
        pass
