"""Profiles: the file is a strategy file, written 0600 and atomically, holding no secret."""

from __future__ import annotations

import stat
import tomllib
from pathlib import Path

import pytest

import ksef_auth
from ksef_auth.errors import ConfigError
from ksef_auth.manager import PluginManager
from ksef_auth.profiles import Profile, ProfileStore, default_path, dump_toml

NIP = "5261040828"


@pytest.fixture
def store(tmp_path: Path) -> ProfileStore:
    return ProfileStore(tmp_path / "conf" / "profiles.toml")


def test_default_path_follows_ksef2_config(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("KSEF2_CONFIG", str(tmp_path / "x.toml"))
    assert default_path() == tmp_path / "x.toml"
    assert ProfileStore.default().path == tmp_path / "x.toml"
    monkeypatch.delenv("KSEF2_CONFIG")
    assert default_path().name == "profiles.toml"
    assert "ksef-auth" in str(default_path())


def test_saved_file_is_private_and_a_strategy_file(
    store: ProfileStore, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSEF2_TOKEN", "secret-token-value")
    store.save("shop", Profile("test", "526-104-08-28", {"use": "env"}, "plain", "memory"))
    mode = stat.S_IMODE(store.path.stat().st_mode)
    assert mode == 0o600
    text = store.path.read_text()
    assert "secret-token-value" not in text
    assert 'current = "shop"' in text
    config = ksef_auth.config.load(store.path, manager=manager)
    assert config.names() == ["shop"] and config.current == "shop"
    strategy = config.strategy()
    assert strategy.context.value == NIP
    assert strategy.environment.name == "test"


def test_first_profile_is_current_and_use_switches(store: ProfileStore) -> None:
    store.save("a", Profile.token("test", NIP))
    store.save("b", Profile.token("demo", NIP, token_env="OTHER"))
    assert store.current() == "a"
    store.use("b")
    assert store.current() == "b"
    assert store.get("b").credential == {"use": "env", "var": "OTHER"}
    assert store.get("b").signer == "ksef-token"


def test_env_var_selects_profile(store: ProfileStore, monkeypatch: pytest.MonkeyPatch) -> None:
    store.save("a", Profile.token("test", NIP))
    store.save("b", Profile.token("test", NIP))
    monkeypatch.setenv("KSEF2_PROFILE", "b")
    assert store.resolve() == "b"
    monkeypatch.setenv("KSEF2_PROFILE", "zzz")
    with pytest.raises(ConfigError, match="no profile named 'zzz'"):
        store.resolve()


def test_existing_profile_needs_overwrite(store: ProfileStore) -> None:
    store.save("a", Profile.token("test", NIP))
    with pytest.raises(ConfigError, match="exists"):
        store.save("a", Profile.token("demo", NIP))
    store.save("a", Profile.token("demo", NIP), overwrite=True)
    assert store.get("a").environment == "demo"


def test_delete_current_leaves_none_current(store: ProfileStore) -> None:
    store.save("a", Profile.token("test", NIP))
    store.save("b", Profile.token("test", NIP))
    store.delete("a")
    assert store.names() == ["b"]
    assert store.current() == "b"  # the only one left
    store.delete("b")
    assert store.names() == []
    with pytest.raises(ConfigError, match="no profiles yet"):
        store.resolve()


def test_invalid_values_are_refused(store: ProfileStore) -> None:
    with pytest.raises(ConfigError, match="invalid"):
        Profile.token("test", "5261040829")
    with pytest.raises(ConfigError, match="unknown environment"):
        Profile.token("staging", NIP)
    with pytest.raises(ValueError, match="profile name"):
        store.save("no spaces", Profile.token("test", NIP))


def test_hand_written_tables_survive_a_rewrite(store: ProfileStore) -> None:
    store.path.parent.mkdir(parents=True)
    store.path.write_text(
        '[defaults]\nenvironment = "test"\n\n'
        '[strategy.chain]\ncontext = "5261040828"\n'
        'credential = [{ use = "env", var = "A" }, { use = "env", var = "B" }]\n'
        'signer = "ksef-token"\nrefresh = { advisory_fraction = 0.3 }\n'
    )
    store.save("new", Profile.token("demo", NIP))
    data = tomllib.loads(store.path.read_text())
    assert data["defaults"] == {"environment": "test"}
    assert data["strategy"]["chain"]["refresh"] == {"advisory_fraction": 0.3}
    assert len(data["strategy"]["chain"]["credential"]) == 2
    assert store.profiles()["chain"].environment == "test"  # from [defaults]


def test_strategy_builds_only_the_chosen_profile(
    store: ProfileStore, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSEF2_TOKEN", "t")
    store.save("good", Profile("test", NIP, {"use": "env"}, "plain", "memory"))
    store.save("broken", Profile("test", NIP, {"use": "nope"}, "plain", "memory"))
    strategy = store.strategy("good", manager=manager)
    assert strategy.name == "good"
    with pytest.raises(ConfigError, match="nope"):
        store.strategy("broken", manager=manager)


def test_dump_toml_round_trips() -> None:
    data = {
        "current": "x",
        "defaults": {"store": {"use": "file", "key": {"env": "K"}}},
        "strategy": {
            "x.y": {"environment": "test", "context": {"nip": NIP}, "n": 3, "f": 0.5, "b": True},
            "z": {"credential": [{"use": "env"}, "other"], "description": 'a "quote" ą'},
        },
    }
    assert tomllib.loads(dump_toml(data)) == data


@pytest.mark.parametrize(
    "value",
    [
        "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|919f704466624ce29cd5ac7b65ded5e7",
        "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.sig",
        "-----BEGIN PRIVATE KEY-----",
        "correct horse battery staple",
        "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9",
        "9LIVES",
    ],
)
def test_a_secret_is_never_taken_for_a_variable_name(value: str) -> None:
    from ksef_auth.profiles import check_variable_name

    with pytest.raises(ValueError) as info:
        check_variable_name(value, "--token-env")
    assert value not in str(info.value)
    with pytest.raises(ConfigError) as config_info:
        Profile.token("test", NIP, token_env=value)
    assert value not in str(config_info.value)


def test_variable_names_pass() -> None:
    from ksef_auth.profiles import check_variable_name

    for name in ("KSEF2_TOKEN", "_X", "acme_token_2", "KSEF_TOKEN_{nip}"):
        assert check_variable_name(name) == name


def test_a_ksef2_cli_config_is_read_only(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text(
        'active_profile = "t"\n[profiles.t]\nenvironment = "demo"\nnip = "5261040828"\n'
        '[profiles.t.auth]\ntype = "token"\ntoken_env = "MY_TOKEN"\n'
        '[profiles.c]\nenvironment = "test"\nnip = "5261040828"\n'
        '[profiles.c.auth]\ntype = "xades_pem"\ncert = "/c.pem"\nkey = "/k.pem"\n'
        '[profiles.odd]\nenvironment = "test"\nnip = "5261040828"\n'
        '[profiles.odd.auth]\ntype = "x"\n'
    )
    before = path.read_bytes()
    store = ProfileStore(path)
    assert store.foreign == "ksef2-cli"
    assert store.current() == "t"
    assert store.get("t").credential == {"use": "env", "var": "MY_TOKEN"}
    assert store.get("c").credential == {"use": "pem", "certificate": "/c.pem", "key": "/k.pem"}
    assert list(store.profiles()) == ["t", "c"]  # the unknown auth type cannot be described
    with pytest.raises(ConfigError, match="never changes the file"):
        store.save("n", Profile.token("test", NIP))
    with pytest.raises(ConfigError, match="never changes the file"):
        store.use("c")
    assert path.read_bytes() == before


def test_unknown_profile_suggests_close_names(store: ProfileStore) -> None:
    for name in ("acme", "acme-2", "beta"):
        store.save(name, Profile.token("test", NIP))
    with pytest.raises(ConfigError, match=r"did you mean 'acme'") as info:
        store.resolve("acem")
    assert "(profiles: acme, acme-2, beta)" in str(info.value)
