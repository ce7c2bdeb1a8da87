from __future__ import annotations

import base64

import pytest

from ksef_auth.errors import ConfigError, StoreError
from ksef_auth.sealing import (
    KEY_SIZE,
    VERSION,
    UnsealError,
    generate_key,
    key_id,
    parse_keys,
    seal,
    unseal,
)
from ksef_auth.secret import Secret
from ksef_auth.testing import make_tokens

NAME = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"


@pytest.fixture
def keys() -> list[bytes]:
    return parse_keys(generate_key())


def test_generate_key_is_32_bytes_of_urlsafe_base64() -> None:
    text = generate_key()
    assert len(text) == 44
    assert len(base64.urlsafe_b64decode(text)) == KEY_SIZE
    assert generate_key() != text


def test_round_trip(keys: list[bytes]) -> None:
    tokens = make_tokens()
    got = unseal(seal(tokens, NAME, keys), NAME, keys)
    assert got == tokens


def test_round_trip_without_refresh_token(keys: list[bytes]) -> None:
    tokens = make_tokens(refresh_ttl=None)
    assert unseal(seal(tokens, NAME, keys), NAME, keys) == tokens


def test_ciphertext_hides_the_tokens(keys: list[bytes]) -> None:
    tokens = make_tokens()
    blob = seal(tokens, NAME, keys)
    assert tokens.access_token.value.reveal().encode() not in blob
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.value.reveal().encode() not in blob
    assert b"5261040828" not in blob
    assert blob[0] == VERSION
    assert blob[1:5] == key_id(keys[0])


def test_nonce_is_random(keys: list[bytes]) -> None:
    tokens = make_tokens()
    assert seal(tokens, NAME, keys) != seal(tokens, NAME, keys)


def test_wrong_key_raises_a_store_error_that_says_what_happens(keys: list[bytes]) -> None:
    blob = seal(make_tokens(), NAME, keys)
    with pytest.raises(StoreError) as info:
        unseal(blob, NAME, parse_keys(generate_key()))
    assert isinstance(info.value, UnsealError)
    assert "cannot be decrypted with the configured key" in str(info.value)
    assert "was the key changed?" in str(info.value)
    assert "re-created" in str(info.value)


def test_ciphertext_cannot_move_to_another_store_key(keys: list[bytes]) -> None:
    blob = seal(make_tokens(), NAME, keys)
    with pytest.raises(UnsealError, match="altered or copied from another key"):
        unseal(blob, NAME.replace("5261040828", "1234563218"), keys)


@pytest.mark.parametrize("position", [0, 3, 10, 20, -1])
def test_any_flipped_bit_is_detected(keys: list[bytes], position: int) -> None:
    blob = bytearray(seal(make_tokens(), NAME, keys))
    blob[position] ^= 0x01
    with pytest.raises(UnsealError):
        unseal(bytes(blob), NAME, keys)


def test_truncated_and_unknown_version(keys: list[bytes]) -> None:
    blob = seal(make_tokens(), NAME, keys)
    with pytest.raises(UnsealError, match="truncated"):
        unseal(blob[:20], NAME, keys)
    with pytest.raises(UnsealError, match="format version 9"):
        unseal(b"\x09" + blob[1:], NAME, keys)


def test_rotation_encrypts_with_first_and_decrypts_with_any() -> None:
    old, new = generate_key(), generate_key()
    old_blob = seal(make_tokens(), NAME, parse_keys(old))
    rotated = parse_keys(f"{new},{old}")
    assert unseal(old_blob, NAME, rotated) is not None
    new_blob = seal(make_tokens(), NAME, rotated)
    assert new_blob[1:5] == key_id(parse_keys(new)[0])
    assert unseal(new_blob, NAME, parse_keys(new)) is not None
    with pytest.raises(UnsealError):
        unseal(new_blob, NAME, parse_keys(old))


def test_key_id_collision_still_finds_the_right_key(
    keys: list[bytes], monkeypatch: pytest.MonkeyPatch
) -> None:
    other = parse_keys(generate_key())[0]
    blob = seal(make_tokens(), NAME, keys)
    monkeypatch.setattr("ksef_auth.sealing.key_id", lambda key: b"\0\0\0\0")
    # both keys now claim the id; the blob header still has the real id, so neither matches it
    assert unseal(blob, NAME, [other, keys[0]]) is not None


def test_parse_keys_accepts_lists_secrets_raw_bytes_and_missing_padding() -> None:
    a, b = generate_key(), generate_key()
    raw_a = base64.urlsafe_b64decode(a)
    assert parse_keys(Secret(f"{a}\n {b}")) == [raw_a, base64.urlsafe_b64decode(b)]
    assert parse_keys([a.rstrip("="), raw_a]) == [raw_a, raw_a]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no encryption key given"),
        ("bad!key/+", "not url-safe base64"),
        (base64.urlsafe_b64encode(b"x" * 16).decode(), "is 16 bytes, not 32"),
    ],
)
def test_parse_keys_errors_are_config_errors_without_the_key(text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as info:
        parse_keys(text)
    if text:
        assert text not in str(info.value)
    assert "generate_key()" in str(info.value)


def test_seal_without_keys_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no encryption key"):
        seal(make_tokens(), NAME, [])
