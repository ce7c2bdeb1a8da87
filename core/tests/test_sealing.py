from __future__ import annotations

import base64

import attrs
import pytest

from ksef_auth.errors import ConfigError, StoreError
from ksef_auth.sealing import (
    KEY_SIZE,
    VERSION,
    KeyRing,
    UnsealError,
    entry_name,
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


# --- the key ring ------------------------------------------------------------------------------


def seal_v1(tokens: object, name: str, key: bytes) -> bytes:
    """An entry as ksef-auth 0.2 wrote it: version 1, bound to the store key itself."""
    import json
    import os

    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    header = b"\x01" + key_id(key)
    nonce = os.urandom(12)
    plaintext = json.dumps(tokens.to_dict()).encode()  # type: ignore[attr-defined]
    return header + nonce + AESGCM(key).encrypt(nonce, plaintext, header + name.encode())


def test_the_ring_seals_with_the_newest_and_opens_with_any() -> None:
    old, new = generate_key(), generate_key()
    before = KeyRing.parse(old)
    after = KeyRing.parse(f"{new},{old}")
    tokens = make_tokens()
    blob = before.seal(tokens, NAME)
    assert after.unseal(blob, NAME) == tokens
    assert not after.is_current(blob) and before.is_current(blob)
    resealed = after.reseal(blob, entry_name(NAME))
    assert resealed is not None and after.is_current(resealed)
    assert after.reseal(resealed, entry_name(NAME)) is None  # nothing left to do
    assert KeyRing.parse(new).unseal(resealed, NAME) == tokens  # the old key can go
    assert repr(after) == "KeyRing(2 keys)" and old not in repr(after)


def test_version_2_is_bound_to_the_entry_name() -> None:
    old = generate_key()
    blob = KeyRing.parse(old).seal(make_tokens(), NAME)
    assert blob[0] == 2
    with pytest.raises(UnsealError, match="altered or copied from another key"):
        KeyRing.parse(f"{generate_key()},{old}").reseal(blob, entry_name(NAME + "x"))
    assert len(entry_name(NAME)) == 64


def test_version_1_entries_are_read_and_resealed_at_their_next_write() -> None:
    ring = KeyRing.parse(generate_key())
    tokens = make_tokens()
    old = seal_v1(tokens, NAME, ring.keys[0])
    assert ring.unseal(old, NAME) == tokens
    assert not ring.is_current(old)
    with pytest.raises(UnsealError, match="re-sealed at its next write"):
        ring.reseal(old, entry_name(NAME))
    with pytest.raises(UnsealError, match="altered or copied"):
        ring.unseal(old, NAME.replace("5261040828", "1234563218"))


def test_a_decoded_session_equals_the_model_s_own_decoding() -> None:
    from ksef_auth.model import SessionTokens

    ring = KeyRing.parse(generate_key())
    for tokens in (make_tokens(), make_tokens(refresh_ttl=None)):
        tokens = attrs.evolve(tokens, refreshed_at=tokens.obtained_at)
        got = ring.unseal(ring.seal(tokens, NAME), NAME)
        assert got == tokens == SessionTokens.from_dict(tokens.to_dict())
        assert got.access_token.valid_until.tzinfo is not None


def test_a_sealed_non_session_is_an_unseal_error() -> None:
    ring = KeyRing.parse(generate_key())
    blob = ring._seal_plaintext(b'{"accessToken": null}', entry_name(NAME))
    with pytest.raises(UnsealError, match="decrypts but is not a session"):
        ring.unseal(blob, NAME)


def test_an_empty_ring_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="no encryption key"):
        KeyRing([])
    with pytest.raises(ConfigError, match="is 3 bytes"):
        KeyRing([b"abc"])
