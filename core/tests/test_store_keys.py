"""ksef_auth.store_keys: the key option, then $KSEF_AUTH_STORE_KEY, then a generated key file."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ksef_auth import ConfigError, SecretRef
from ksef_auth.sealing import generate_key, parse_keys
from ksef_auth.store_keys import KEY_ENV, StoreKeys, default_key_file, resolve_store_keys


@pytest.fixture(autouse=True)
def _no_key_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(KEY_ENV, raising=False)


def test_the_option_wins_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    mine, theirs = generate_key(), generate_key()
    monkeypatch.setenv(KEY_ENV, theirs)
    monkeypatch.setenv("MY_KEY", mine)
    keys = StoreKeys("redis", SecretRef.env("MY_KEY"))
    assert keys.ring().keys == tuple(parse_keys(mine))
    assert keys.origin() == "option 'key' (environment variable MY_KEY)"
    assert StoreKeys("redis").ring().keys == tuple(parse_keys(theirs))
    assert StoreKeys("redis").origin() == f"environment variable {KEY_ENV}"


def test_a_ring_of_several_keys_by_reference(tmp_path: Path) -> None:
    new, old = generate_key(), generate_key()
    file = tmp_path / "keys"
    file.write_text(f"{new}\n{old}\n")
    ring = resolve_store_keys(SecretRef.file(file), store="file")
    assert ring.keys == tuple(parse_keys([new, old]))


def test_a_shared_store_never_generates_a_key() -> None:
    keys = StoreKeys("redis")
    assert not keys.configured() and keys.origin() == "none"
    with pytest.raises(ConfigError) as info:
        keys.ring()
    message = str(info.value)
    assert "the redis store needs an encryption key" in message
    assert KEY_ENV in message and "generate_key()" in message


def test_a_machine_local_store_generates_one_private_key_once(tmp_path: Path) -> None:
    target = tmp_path / "state" / "store.key"
    keys = StoreKeys("file", generated=target)
    keys.check()  # creates nothing
    assert not target.exists()
    ring = keys.ring()
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert keys.ring().keys == ring.keys  # read back, not generated again
    assert keys.origin() == f"key file {target}"
    keys.check()


def test_errors_name_the_origin_never_the_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    short = "c2hvcnQ"
    monkeypatch.setenv(KEY_ENV, short)
    with pytest.raises(ConfigError) as info:
        StoreKeys("file").check()
    assert str(info.value).startswith(f"environment variable {KEY_ENV}: encryption key #1 is 5")
    assert short not in str(info.value)
    monkeypatch.delenv(KEY_ENV)
    loose = tmp_path / "store.key"
    loose.write_text(generate_key())
    loose.chmod(0o644)
    with pytest.raises(ConfigError, match="open to other users"):
        StoreKeys("file", generated=loose).check()
    with pytest.raises(ConfigError, match="environment variable UNSET_KEY_VAR is not set"):
        StoreKeys("file", SecretRef.env("UNSET_KEY_VAR")).ring()


def test_the_default_key_file_is_in_the_user_state_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import platformdirs

    assert default_key_file() == Path(platformdirs.user_state_dir("ksef-auth")) / "store.key"
    monkeypatch.setenv("XDG_STATE_HOME", str(tmp_path))
    if platformdirs.user_state_dir("ksef-auth").startswith(str(tmp_path)):  # Linux
        assert default_key_file() == tmp_path / "ksef-auth" / "store.key"
