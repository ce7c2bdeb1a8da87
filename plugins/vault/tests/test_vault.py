"""The vault file and the ``vault`` credential source: real files in a temporary folder."""

from __future__ import annotations

import base64
import json
import logging
import stat
from collections.abc import Callable
from pathlib import Path

import pytest
from vault_support import TOKEN

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    Secret,
    SecretRef,
    SharedSecret,
)
from ksef_auth.components import options_of
from ksef_auth.sealing import generate_key
from ksef_auth.testing import NIPS, CredentialSourceContract
from ksef_auth_vault import KEY_FILE, Vault, VaultError, VaultSource
from ksef_auth_vault.vault import default_path

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

WRONG_KEY = (
    "the stored token 'shop' cannot be decrypted with the configured key (was the key changed?):"
    " store it again with `ksef-auth vault set shop --path {path}`"
)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def stored(path: Path, key: str | None, name: str = "shop", value: str = TOKEN) -> Vault:
    vault = Vault(path, SecretRef.value(key) if key else None)
    vault.set(name, Secret(value))
    return vault


class TestVaultSourceContract(CredentialSourceContract):
    @pytest.fixture
    def source(self, vault_path: Path, key: str) -> VaultSource:
        stored(vault_path, key)
        return VaultSource(name="shop", path=vault_path, key=SecretRef.value(key))

    @pytest.fixture
    def unavailable_source(self, vault_path: Path, key: str) -> VaultSource:
        stored(vault_path, key)
        return VaultSource(name="absent", path=vault_path, key=SecretRef.value(key))

    @pytest.fixture
    def public_files(self, vault_path: Path) -> list[Path]:
        return [vault_path]  # every value in it is encrypted

    @pytest.fixture
    def rotate(self, vault_path: Path, key: str) -> Callable[[], None]:
        return lambda: stored(vault_path, key, value=TOKEN[::-1])

    @pytest.fixture
    def keyed_source(self, vault_path: Path, key: str) -> VaultSource:
        for n, nip in enumerate(NIPS[:2]):
            stored(vault_path, key, name=f"client-{nip}", value=f"{TOKEN}-{n}")
        return VaultSource(name="client-{nip}", path=vault_path, key=SecretRef.value(key))

    @pytest.fixture
    def failing_sources(self, tmp_path: Path, vault_path: Path, key: str) -> dict[str, VaultSource]:
        stored(vault_path, key)
        damaged = tmp_path / "damaged.json"
        damaged.write_text("{ not json")
        altered = tmp_path / "altered.json"
        document = json.loads(vault_path.read_text())
        entry = document["entries"]["shop"]
        entry["ciphertext"] = entry["ciphertext"][:-8] + "AAAAAAA="
        altered.write_text(json.dumps(document))
        return {
            "changed key": VaultSource(
                name="shop", path=vault_path, key=SecretRef.value(generate_key())
            ),
            "damaged vault": VaultSource(name="shop", path=damaged, key=SecretRef.value(key)),
            "altered entry": VaultSource(name="shop", path=altered, key=SecretRef.value(key)),
            "no key": VaultSource(name="shop", path=vault_path),
        }


class TestVaultKeyFileContract(TestVaultSourceContract):
    """The default key: a key file generated beside the vault, which holds a secret."""

    @pytest.fixture
    def source(self, vault_path: Path) -> VaultSource:
        stored(vault_path, None)
        return VaultSource(name="shop", path=vault_path)

    @pytest.fixture
    def secret_files(self, vault_path: Path) -> list[Path]:
        return [vault_path.parent / KEY_FILE]

    @pytest.fixture
    def rotate(self, vault_path: Path) -> Callable[[], None]:
        return lambda: stored(vault_path, None, value=TOKEN[::-1])

    @pytest.fixture
    def failing_sources(self) -> dict[str, VaultSource]:
        return {}


def test_round_trip_with_the_env_key(
    vault_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", key)
    assert Vault(vault_path).set("shop", Secret(TOKEN)) is False
    credential = VaultSource(name="shop", path=vault_path).load(REQUEST)
    assert isinstance(credential, KsefToken)
    assert credential.token.reveal() == TOKEN
    assert credential.source == "vault:shop"
    assert not (vault_path.parent / KEY_FILE).exists()  # the env key: no key file


def test_shared_secret_kind(vault_path: Path, key: str) -> None:
    vault = Vault(vault_path, SecretRef.value(key))
    vault.set("hmac", Secret("s3cr3t-value"), "shared-secret")
    credential = vault.load("hmac")
    assert isinstance(credential, SharedSecret) and credential.secret.reveal() == "s3cr3t-value"


def test_set_replaces_and_reports_it(vault_path: Path, key: str) -> None:
    vault = stored(vault_path, key)
    assert vault.set("shop", Secret("newer-token")) is True
    assert vault.load("shop").fingerprint == KsefToken("newer-token").fingerprint


def test_file_and_folder_modes(vault_path: Path) -> None:
    stored(vault_path, None)  # the default key: generated beside the vault
    assert mode(vault_path.parent) == 0o700
    assert mode(vault_path) == 0o600
    assert mode(vault_path.parent / KEY_FILE) == 0o600
    assert mode(vault_path.parent / "vault.json.lock") == 0o600


def test_an_open_folder_of_ours_is_tightened(tmp_path: Path, key: str) -> None:
    folder = tmp_path / "open"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    stored(folder / "vault.json", key)
    assert mode(folder) == 0o700


def test_a_key_file_open_to_others_is_refused(vault_path: Path) -> None:
    vault = stored(vault_path, None)
    (vault_path.parent / KEY_FILE).chmod(0o644)
    with pytest.raises(ConfigError, match="open to other users"):
        vault.load("shop")


def test_the_file_on_disk_holds_no_token(vault_path: Path, key: str) -> None:
    stored(vault_path, key)
    raw = vault_path.read_bytes()
    assert TOKEN.encode() not in raw
    assert TOKEN.split("|")[-1].encode() not in raw  # not even the random part
    for entry in json.loads(raw)["entries"].values():
        blob = base64.urlsafe_b64decode(entry["ciphertext"])
        assert TOKEN.encode() not in blob
    assert key.encode() not in raw


def test_the_key_file_is_generated_once(vault_path: Path) -> None:
    stored(vault_path, None)
    first = (vault_path.parent / KEY_FILE).read_bytes()
    stored(vault_path, None, name="other")
    assert (vault_path.parent / KEY_FILE).read_bytes() == first
    assert Vault(vault_path).load("shop").token.reveal() == TOKEN  # type: ignore[union-attr]


def test_a_changed_key_is_a_clear_credential_error(vault_path: Path, key: str) -> None:
    stored(vault_path, key)
    source = VaultSource(name="shop", path=vault_path, key=SecretRef.value(generate_key()))
    with pytest.raises(CredentialError) as info:
        source.load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    assert str(info.value) == WRONG_KEY.format(path=vault_path)
    assert TOKEN not in str(info.value) and key not in str(info.value)
    ciphertext = json.loads(vault_path.read_text())["entries"]["shop"]["ciphertext"]
    assert ciphertext not in str(info.value)


def test_a_lost_key_file_is_a_clear_credential_error(vault_path: Path) -> None:
    stored(vault_path, None)
    (vault_path.parent / KEY_FILE).unlink()
    with pytest.raises(CredentialError, match="no key is configured") as info:
        VaultSource(name="shop", path=vault_path).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    assert "ksef-auth vault set shop" in str(info.value)


def test_the_message_on_the_default_path_is_the_short_command(key: str) -> None:
    vault = Vault(default_path(), SecretRef.value(key))
    assert vault.set_command("shop") == "ksef-auth vault set shop"


def test_rotation_old_key_second_still_decrypts_then_rekey(vault_path: Path) -> None:
    old, new = generate_key(), generate_key()
    stored(vault_path, old)
    both = Vault(vault_path, SecretRef.value(f"{new},{old}"))
    assert both.load("shop").token.reveal() == TOKEN  # type: ignore[union-attr]
    # a newly stored entry uses the newest key
    both.set("other", Secret("other-token"))
    assert Vault(vault_path, SecretRef.value(new)).load("other")
    # the old entry still needs the old key ...
    with pytest.raises(CredentialError, match="was the key changed"):
        Vault(vault_path, SecretRef.value(new)).load("shop")
    # ... until rekey re-encrypts everything with the newest one
    assert both.rekey() == 2
    new_only = Vault(vault_path, SecretRef.value(new))
    assert new_only.load("shop").token.reveal() == TOKEN  # type: ignore[union-attr]
    assert new_only.load("other")
    with pytest.raises(CredentialError, match="was the key changed"):
        Vault(vault_path, SecretRef.value(old)).load("shop")


def test_rekey_keeps_names_kinds_and_creation_times(vault_path: Path, key: str) -> None:
    vault = stored(vault_path, key)
    vault.set("hmac", Secret("s3cr3t-value"), "shared-secret")
    before = vault.entries()
    new = generate_key()
    Vault(vault_path, SecretRef.value(f"{new},{key}")).rekey()
    assert Vault(vault_path, SecretRef.value(new)).entries() == before


def test_rekey_refuses_when_an_entry_does_not_open(vault_path: Path, key: str) -> None:
    stored(vault_path, key)
    other = generate_key()
    stored(vault_path, other, name="other")
    before = vault_path.read_bytes()
    with pytest.raises(CredentialError, match="'shop' cannot be decrypted") as info:
        Vault(vault_path, SecretRef.value(other)).rekey()
    assert "Nothing was changed" in str(info.value)
    assert vault_path.read_bytes() == before


def test_rekey_with_a_new_key_file(vault_path: Path) -> None:
    vault = stored(vault_path, None)
    key_file = vault_path.parent / KEY_FILE
    old = key_file.read_text().strip()
    assert vault.rekey(new_key=True) == 1
    new = key_file.read_text().strip()
    assert new != old and "," not in new and "\n" not in new
    assert mode(key_file) == 0o600
    assert vault.load("shop").token.reveal() == TOKEN  # type: ignore[union-attr]
    with pytest.raises(CredentialError, match="was the key changed"):
        Vault(vault_path, SecretRef.value(old)).load("shop")


def test_rekey_new_key_refused_with_an_env_key(
    vault_path: Path, key: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSEF_AUTH_VAULT_KEY", key)
    with pytest.raises(ConfigError, match="put the new key first yourself"):
        Vault(vault_path).rekey(new_key=True)


def tamper(path: Path, name: str, field: str, change: object) -> None:
    document = json.loads(path.read_text())
    entry = document["entries"][name]
    entry[field] = change(entry[field]) if callable(change) else change
    path.write_text(json.dumps(document))


def flip_a_byte(text: str) -> str:
    blob = bytearray(base64.urlsafe_b64decode(text))
    blob[-1] ^= 1
    return base64.urlsafe_b64encode(bytes(blob)).decode()


@pytest.mark.parametrize(
    ("field", "change"),
    [
        ("ciphertext", flip_a_byte),
        ("ciphertext", "bm90IGEgcmVhbCBjaXBoZXJ0ZXh0IGF0IGFsbA=="),
        ("ciphertext", "!!"),
        ("kind", "shared-secret"),  # the kind is authenticated too
    ],
)
def test_tampering_is_a_credential_error(
    vault_path: Path, key: str, field: str, change: object
) -> None:
    stored(vault_path, key)
    tamper(vault_path, "shop", field, change)
    with pytest.raises(CredentialError, match="does not authenticate") as info:
        VaultSource(name="shop", path=vault_path, key=SecretRef.value(key)).load(REQUEST)
    assert not isinstance(info.value, NotAvailable)
    assert TOKEN not in str(info.value)


def test_an_entry_copied_to_another_name_does_not_open(vault_path: Path, key: str) -> None:
    vault = stored(vault_path, key)
    vault.set("other", Secret("other-token"))
    document = json.loads(vault_path.read_text())
    document["entries"]["other"] = document["entries"]["shop"]
    vault_path.write_text(json.dumps(document))
    with pytest.raises(CredentialError, match="does not authenticate"):
        vault.load("other")
    assert vault.entries(with_status=True)[0].status == "altered"


@pytest.mark.parametrize(
    "content", ["not json", "[]", '{"entries": {}}', '{"ksef-auth-vault": 1, "entries": {"a": 1}}']
)
def test_a_damaged_vault_is_a_vault_error(vault_path: Path, key: str, content: str) -> None:
    stored(vault_path, key)
    vault_path.write_text(content)
    with pytest.raises(VaultError, match="is damaged"):
        VaultSource(name="shop", path=vault_path, key=SecretRef.value(key)).load(REQUEST)
    with pytest.raises(VaultError):  # and is not overwritten by a write
        Vault(vault_path, SecretRef.value(key)).set("x", Secret("y"))
    assert vault_path.read_text() == content


def test_a_newer_format_asks_for_an_upgrade(vault_path: Path, key: str) -> None:
    vault_path.parent.mkdir(parents=True)
    vault_path.write_text('{"ksef-auth-vault": 2, "entries": {}}')
    with pytest.raises(VaultError, match="upgrade ksef-auth-vault"):
        Vault(vault_path, SecretRef.value(key)).load("shop")


def test_a_missing_entry_or_vault_is_not_available(vault_path: Path, key: str) -> None:
    source = VaultSource(name="shop", path=vault_path, key=SecretRef.value(key))
    with pytest.raises(NotAvailable, match="does not exist"):
        source.load(REQUEST)
    stored(vault_path, key, name="other")
    with pytest.raises(NotAvailable, match="no entry 'shop'.*ksef-auth vault set shop"):
        source.load(REQUEST)


def test_check_reports_a_changed_key_at_strategy_load(vault_path: Path, key: str) -> None:
    stored(vault_path, key)
    source = VaultSource(name="shop", path=vault_path, key=SecretRef.value(generate_key()))
    with pytest.raises(CredentialError, match="was the key changed"):
        source.check(Environment.of("test"), ContextIdentifier.nip("5261040828"))


def test_a_malformed_key_is_a_config_error(vault_path: Path, key: str) -> None:
    stored(vault_path, key)
    with pytest.raises(ConfigError, match="vault key") as info:
        Vault(vault_path, SecretRef.value("not-a-key")).load("shop")
    assert "not-a-key" not in str(info.value)


def test_delete(vault_path: Path, key: str) -> None:
    vault = stored(vault_path, key)
    assert vault.delete("shop") is True
    assert vault.delete("shop") is False
    with pytest.raises(NotAvailable):
        vault.load("shop")


@pytest.mark.parametrize("name", ["", "a b", "-x", "x;rm", "a" * 129, "ą"])
def test_invalid_names_are_refused(vault_path: Path, key: str, name: str) -> None:
    with pytest.raises(ValueError, match="vault entry name"):
        VaultSource(name=name, path=vault_path)
    with pytest.raises(ValueError, match="vault entry name"):
        Vault(vault_path, SecretRef.value(key)).set(name, Secret(TOKEN))


def test_empty_secret_is_refused(vault_path: Path, key: str) -> None:
    with pytest.raises(CredentialError, match="empty"):
        Vault(vault_path, SecretRef.value(key)).set("shop", Secret("  \n"))


def test_options_as_the_core_reads_them() -> None:
    options = {o.name: o for o in options_of(VaultSource)}
    assert set(options) == {"name", "path", "key"}
    assert options["name"].required
    assert options["path"].path and not options["path"].required
    assert options["key"].secret


def test_no_secret_in_repr_entries_or_logs(
    vault_path: Path, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    vault = stored(vault_path, key)
    source = VaultSource(name="shop", path=vault_path, key=SecretRef.value(key))
    credential = source.load(REQUEST)
    shown = " ".join(
        [
            repr(vault),
            repr(source),
            repr(credential),
            str(credential),
            repr(vault.entries(with_status=True)),
            json.dumps([e.to_dict() for e in vault.entries(with_status=True)]),
            caplog.text,
        ]
    )
    for secret in (TOKEN, key):
        assert secret not in shown


WRITER = """
import sys
from ksef_auth import Secret, SecretRef
from ksef_auth_vault import Vault

path, key, prefix = sys.argv[1:4]
vault = Vault(path, SecretRef.value(key))
for i in range(25):
    vault.set(f"{prefix}-{i}", Secret(f"value-{prefix}-{i}"))
"""


def test_concurrent_writers_in_several_processes_lose_nothing(vault_path: Path, key: str) -> None:
    import subprocess
    import sys

    stored(vault_path, key, name="first")
    writers = [
        subprocess.Popen([sys.executable, "-c", WRITER, str(vault_path), key, f"p{n}"])
        for n in range(4)
    ]
    for writer in writers:
        assert writer.wait(timeout=60) == 0
    names = {info.name for info in Vault(vault_path, SecretRef.value(key)).entries()}
    assert names == {"first"} | {f"p{n}-{i}" for n in range(4) for i in range(25)}
