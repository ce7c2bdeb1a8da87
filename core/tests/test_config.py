from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from ksef_auth import (
    ConfigError,
    ConfigErrors,
    ContextIdentifier,
    CredentialChain,
    CredentialRequest,
    PluginNotFound,
    SecretRef,
)
from ksef_auth.config import load
from ksef_auth.manager import PluginManager

REQUEST = CredentialRequest.for_login("http://127.0.0.1:1/v2", "5261040828")

GOOD = """
[defaults]
environment = "test"
store = { use = "memory", max_entries = 100 }
signer = "plain"

[strategy.shop]
context = { nip = "526-104-08-28" }
credential = [
  { use = "env", var = "KSEF_CFG_TOKEN" },
  { use = "vault", token = { env = "VAULT_TOKEN" } },
]

[strategy.branch]
environment = "http://127.0.0.1:9/v2"
context = { type = "InternalId", value = "5261040828-00001" }
credential = { use = "env", var = "KSEF_CFG_TOKEN" }
refresh = { advisory_fraction = 0.3, poll_deadline = 30 }
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "ksef-auth.toml"
    path.write_text(text)
    return path


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF_CFG_TOKEN", "token-value")
    monkeypatch.setenv("VAULT_TOKEN", "vault-value")


def test_good_file_builds_every_strategy(tmp_path: Path, manager: PluginManager) -> None:
    config = load(write(tmp_path, GOOD), manager=manager)
    assert config.names() == ["shop", "branch"]
    shop, branch = config.strategy("shop"), config.strategy("branch")
    assert shop.context == ContextIdentifier.nip("5261040828")
    assert isinstance(shop.credential, CredentialChain)
    assert shop.store is branch.store  # one store instance for the same store settings
    assert shop.store.max_entries == 100
    assert branch.environment.base_url == "http://127.0.0.1:9/v2"
    assert branch.refresh.advisory_fraction == 0.3
    assert branch.credential.load(REQUEST).token.reveal() == "token-value"
    vault = shop.credential.sources[1][1]
    assert isinstance(vault.token, SecretRef) and vault.token.env_var == "VAULT_TOKEN"


def test_one_firm_many_nips(tmp_path: Path, manager: PluginManager) -> None:
    config = load(write(tmp_path, GOOD), manager=manager)
    other = config.strategy("shop", context="1234563218")
    assert other.context.value == "1234563218"
    assert other.credential is config.strategy("shop").credential
    with pytest.raises(ConfigError, match="several strategies"):
        config.strategy()
    with pytest.raises(ConfigError, match="no strategy named 'nope'"):
        config.strategy("nope")


def test_dict_source(manager: PluginManager) -> None:
    config = load(
        {
            "strategy": {
                "a": {
                    "environment": "demo",
                    "context": "5261040828",
                    "credential": "env",
                    "signer": "plain",
                }
            }
        },
        manager=manager,
        check=False,
    )
    assert config.strategy().environment.name == "demo"


def mistake(tmp_path: Path, manager: PluginManager, edit: tuple[str, str]) -> ConfigError:
    text = GOOD.replace(*edit)
    assert text != GOOD, edit
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, text), manager=manager)
    assert str(tmp_path / "ksef-auth.toml") in str(info.value)
    return info.value


def one_at(error: ConfigError, key: str) -> ConfigError:
    """The problem at ``key`` (the error itself, or one of a ConfigErrors)."""
    if isinstance(error, ConfigErrors):
        found = [e for e in error.errors if e.key == key]
        assert found, [e.key for e in error.errors]
        assert str(found[0]) in str(error)
        return found[0]
    return error


MISTAKES: list[tuple[tuple[str, str], str, str]] = [
    (
        ('signer = "plain"', 'signer = "xadez"'),
        "defaults.signer",
        "no signer named 'xadez' is installed (installed signers: plain)",
    ),
    (
        (
            '{ use = "env", var = "KSEF_CFG_TOKEN" },\n  { use = "vault"',
            '{ use = "env", variable = "X" },\n  { use = "vault"',
        ),
        "strategy.shop.credential[0].variable",
        "credential source 'env' has no option 'variable' (options: var, kind, key_var, password)",
    ),
    (
        ('token = { env = "VAULT_TOKEN" }', 'token = "inline-secret"'),
        "strategy.shop.credential[1].token",
        "is a secret: give it by reference",
    ),
    (
        ('token = { env = "VAULT_TOKEN" }', 'token = { env = "NOT_SET_ANYWHERE" }'),
        "strategy.shop.credential[1].token",
        "environment variable NOT_SET_ANYWHERE is not set",
    ),
    (('"526-104-08-28"', '"526-104-08-27"'), "strategy.shop.context", "check digit is 7"),
    (
        ('environment = "test"', 'environment = "prod"'),
        "strategy.shop.credential",
        "not for production",
    ),
    (
        ('environment = "test"', 'environment = "staging"'),
        "defaults.environment",
        "unknown environment",
    ),
    (
        ("max_entries = 100", "max_entries = 0"),
        "defaults.store",
        "max_entries must be at least 1",
    ),
    (
        ("advisory_fraction = 0.3", "advisory_fraction = 3"),
        "strategy.branch.refresh",
        "between 0 and 1",
    ),
    (
        ("poll_deadline = 30", "poll_deadlin = 30"),
        "strategy.branch.refresh.poll_deadlin",
        "unknown refresh option",
    ),
    (
        ("[strategy.branch]", "[strategy.branch]\ncredentials = 1"),
        "strategy.branch.credentials",
        "unknown key",
    ),
    (
        ('var = "KSEF_CFG_TOKEN" }\nrefresh', 'var = "KSEF_CFG_TOKEN", kind = "jwt" }\nrefresh'),
        "strategy.branch.credential.kind",
        "must be one of 'ksef-token', 'shared-secret', 'certificate', got 'jwt'",
    ),
    (("[defaults]", "[defaultz]"), "defaultz", "unknown key"),
    (
        ('context = { type = "InternalId", value = "5261040828-00001" }', ""),
        "strategy.branch.context",
        "missing",
    ),
]


@pytest.mark.parametrize(("edit", "key", "message"), MISTAKES, ids=[m[1] for m in MISTAKES])
def test_every_mistake_names_file_key_and_reason(
    tmp_path: Path, manager: PluginManager, edit: tuple[str, str], key: str, message: str
) -> None:
    error = one_at(mistake(tmp_path, manager, edit), key)
    assert error.key == key
    assert message in str(error)
    assert "inline-secret" not in str(error) and "vault-value" not in str(error)


def test_missing_variable_of_a_lone_source(
    tmp_path: Path, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KSEF_CFG_TOKEN")
    with pytest.raises(ConfigError) as info:
        load(write(tmp_path, GOOD), manager=manager)
    error = info.value
    assert error.key == "strategy.branch.credential"
    assert "KSEF_CFG_TOKEN is not set" in str(error)


def test_chain_is_fine_while_one_source_is_available(
    tmp_path: Path, manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = GOOD.replace(
        'credential = { use = "env", var = "KSEF_CFG_TOKEN" }',
        'credential = { use = "vault", token = { env = "VAULT_TOKEN" } }',
    )
    monkeypatch.delenv("KSEF_CFG_TOKEN")
    config = load(write(tmp_path, text), manager=manager)
    assert config.strategy("shop").credential.load(REQUEST).source == "vault"


def test_unknown_plugin_lists_what_is_installed_and_what_failed(tmp_path: Path) -> None:
    from importlib import metadata

    pm = PluginManager(only="env")
    pm._entry_points["broken"] = metadata.EntryPoint("broken", "no_such_module_xyz", "ksef_auth")
    with pytest.raises(ConfigErrors) as info:
        load(write(tmp_path, GOOD), manager=pm)
    assert all(isinstance(e, PluginNotFound) for e in info.value.errors)
    text = str(info.value)
    if "vault" in pm.excluded:  # installed, but KSEF_AUTH_PLUGINS=env leaves it out
        assert "'vault' is installed (plugin vault) but KSEF_AUTH_PLUGINS='env' leaves it" in text
    else:
        assert (
            "no credential source named 'vault' is installed (installed credential sources: env)"
            in text
        )
    assert "broken: import failed: ModuleNotFoundError" in text


def test_not_toml_and_not_found(tmp_path: Path, manager: PluginManager) -> None:
    with pytest.raises(ConfigError, match="not valid TOML"):
        load(write(tmp_path, "[strategy\n"), manager=manager)
    with pytest.raises(ConfigError, match="strategy file not found"):
        load(tmp_path / "absent.toml", manager=manager)
    with pytest.raises(ConfigError, match="is a directory"):
        load(tmp_path, manager=manager)


def test_file_reference_is_relative_to_the_strategy_file(
    tmp_path: Path, manager: PluginManager
) -> None:
    (tmp_path / "vault.txt").write_text("from-file\n")
    text = GOOD.replace('token = { env = "VAULT_TOKEN" }', 'token = { file = "vault.txt" }')
    config = load(write(tmp_path, text), manager=manager)
    source: Any = config.strategy("shop").credential.sources[1][1]
    assert source.load(REQUEST).token.reveal() == "from-file"


def test_path_options_are_relative_to_the_strategy_file(tmp_path: Path) -> None:
    import types

    import attrs

    from ksef_auth import KsefToken, Register, hookimpl

    @attrs.frozen
    class FileToken:
        """Token from a file."""

        path: str = attrs.field(metadata={"help": "The file.", "path": True})

        def load(self, request: object) -> KsefToken:
            return KsefToken(Path(self.path).read_text())

    plugin = types.ModuleType("filetoken")

    @hookimpl
    def ksef_auth_register_credential_sources(register: Register) -> None:
        register("file-token", FileToken)

    plugin.ksef_auth_register_credential_sources = ksef_auth_register_credential_sources  # type: ignore[attr-defined]
    from . import plugin_fixtures

    pm = PluginManager(only="memory,env")
    pm.register(plugin, name="filetoken")
    pm.register(plugin_fixtures, name="fixtures")
    (tmp_path / "tok").write_text("abc")
    text = GOOD.replace(
        'credential = { use = "env", var = "KSEF_CFG_TOKEN" }',
        'credential = { use = "file-token", path = "tok" }',
    )
    config = load(write(tmp_path, text), manager=pm)
    assert config.strategy("branch").credential.load(REQUEST).token.reveal() == "abc"


def test_environment_and_context_from_the_conventional_variables(
    manager: PluginManager, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KSEF2_ENV", "demo")
    monkeypatch.setenv("KSEF2_NIP", "526-104-08-28")
    spec = {
        "environment": {"env": "KSEF2_ENV"},
        "context": {"env": "KSEF2_NIP"},
        "credential": {"use": "env", "var": "KSEF_CFG_TOKEN"},
        "signer": "plain",
    }
    strategy = load({"strategy": {"a": spec}}, manager=manager).strategy()
    assert strategy.environment.name == "demo"
    assert strategy.context == ContextIdentifier.nip("5261040828")
    monkeypatch.delenv("KSEF2_NIP")
    with pytest.raises(ConfigError, match="strategy.a.context: environment variable KSEF2_NIP"):
        load({"strategy": {"a": spec}}, manager=manager)
