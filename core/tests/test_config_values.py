"""Strict option values (issue 12.4): what a strategy file says is what the option gets, or a
ConfigError naming the file and the key; never a crash, never ``bool("false") is True``."""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any, Literal

import attrs
import pytest

from ksef_auth import ConfigError, ConfigErrors, KsefToken, Register, hookimpl
from ksef_auth.config import load
from ksef_auth.manager import PluginManager
from ksef_auth.values import MAX_TEXT, parse


@attrs.frozen
class Typed:
    """A credential source with one option of each kind (for these tests)."""

    flag: bool = attrs.field(default=True, metadata={"help": "A boolean."})
    seconds: float = attrs.field(default=1.0, metadata={"help": "A float."})
    count: int = attrs.field(default=1, metadata={"help": "An integer."})
    name: str = attrs.field(default="x", metadata={"help": "A string."})
    mode: Literal["a", "b"] = attrs.field(default="a", metadata={"help": "A choice."})
    ips: tuple[str, ...] = attrs.field(default=(), metadata={"help": "A list."})
    maybe: float | None = attrs.field(default=None, metadata={"help": "An optional float."})

    def load(self, request: object) -> KsefToken:
        return KsefToken("t")


@pytest.fixture
def pm(manager: PluginManager) -> PluginManager:
    plugin = types.ModuleType("typed")

    @hookimpl
    def ksef_auth_register_credential_sources(register: Register) -> None:
        register("typed", Typed)

    plugin.ksef_auth_register_credential_sources = ksef_auth_register_credential_sources  # type: ignore[attr-defined]
    manager.register(plugin, name="typed")
    return manager


def source(pm: PluginManager, **options: Any) -> Typed:
    config = load(
        {
            "strategy": {
                "s": {
                    "environment": "test",
                    "context": "5261040828",
                    "credential": {"use": "typed", **options},
                    "signer": "plain",
                }
            }
        },
        manager=pm,
    )
    credential = config.strategy("s").credential
    assert isinstance(credential, Typed)
    return credential


def refused(pm: PluginManager, **options: Any) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        source(pm, **options)
    assert type(info.value) is ConfigError, info.value
    return info.value


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("false", False),
        ("False", False),
        (" no ", False),
        ("0", False),
        (0, False),
        (False, False),
        ("true", True),
        ("YES", True),
        ("1", True),
        (1, True),
    ],
)
def test_booleans_accept_only_the_six_words(pm: PluginManager, given: Any, expected: bool) -> None:
    assert source(pm, flag=given).flag is expected


@pytest.mark.parametrize("given", ["ture", "off", "", "2", 2, 0.0, [], "false-ish"])
def test_other_booleans_are_refused_with_file_and_key(pm: PluginManager, given: Any) -> None:
    error = refused(pm, flag=given)
    assert error.source == "<dict>" and error.key == "strategy.s.credential.flag"
    assert "must be true or false (or 1/0, yes/no)" in error.reason


def test_boolean_from_a_variable(pm: PluginManager, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF_FLAG", "false")
    assert source(pm, flag={"env": "KSEF_FLAG"}).flag is False
    monkeypatch.setenv("KSEF_FLAG", "nope")
    error = refused(pm, flag={"env": "KSEF_FLAG"})
    assert error.key == "strategy.s.credential.flag" and "'nope'" in error.reason


def test_quoted_false_in_a_toml_file(
    pm: PluginManager, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "k.toml"
    path.write_text(
        '[strategy.s]\nenvironment = "test"\ncontext = "5261040828"\nsigner = "plain"\n'
        'credential = { use = "typed", flag = "false" }\n'
    )
    assert load(path, manager=pm).strategy().credential.flag is False


@pytest.mark.parametrize("given", ["nan", "inf", "-inf", float("nan"), float("inf")])
def test_floats_are_finite(pm: PluginManager, given: Any) -> None:
    error = refused(pm, seconds=given)
    assert error.key == "strategy.s.credential.seconds"
    assert "must be a finite number" in error.reason


def test_numbers_from_strings_and_their_types(pm: PluginManager) -> None:
    typed = source(pm, seconds="2.5", count="7", maybe=3)
    assert (typed.seconds, typed.count, typed.maybe) == (2.5, 7, 3.0)
    assert "must be a number, got a boolean" in refused(pm, seconds=True).reason
    assert "must be an integer, got a float 1.5" in refused(pm, count=1.5).reason
    assert "must be an integer, got a boolean" in refused(pm, count=True).reason


def test_strings_choices_and_lists_are_type_checked(pm: PluginManager) -> None:
    error = refused(pm, name=123)
    assert error.key == "strategy.s.credential.name"
    assert error.reason == "must be a string, got an integer 123"
    assert "must be one of 'a', 'b', got 'c'" in refused(pm, mode="c").reason
    assert "must be an array, got a string" in refused(pm, ips="10.0.0.1").reason
    assert "item 1: must be a string, got an integer" in refused(pm, ips=["a", 2]).reason
    assert list(source(pm, ips=["10.0.0.1"]).ips) == ["10.0.0.1"]


def test_env_source_var_must_be_a_string(manager: PluginManager) -> None:
    with pytest.raises(ConfigError) as info:
        load(
            {
                "strategy": {
                    "s": {
                        "environment": "test",
                        "context": "5261040828",
                        "credential": {"use": "env", "var": 123},
                        "signer": "plain",
                    }
                }
            },
            manager=manager,
        )
    assert info.value.key == "strategy.s.credential.var"
    assert info.value.reason == "must be a string, got an integer 123"


def test_refresh_values_are_finite(manager: PluginManager) -> None:
    for value in ("nan", float("inf"), "soon"):
        with pytest.raises(ConfigError) as info:
            load(
                {
                    "strategy": {
                        "s": {
                            "environment": "test",
                            "context": "5261040828",
                            "credential": "env",
                            "signer": "plain",
                            "refresh": {"poll_deadline": value},
                        }
                    }
                },
                manager=manager,
                check=False,
            )
        assert info.value.key == "strategy.s.refresh.poll_deadline"


def test_a_ten_megabyte_nip_gives_a_short_message(manager: PluginManager, tmp_path: Path) -> None:
    huge = "1" * 10_000_000
    path = tmp_path / "k.toml"
    path.write_text(
        f'[strategy.s]\nenvironment = "test"\ncontext = "{huge}"\ncredential = "env"\n'
        'signer = "plain"\n'
    )
    with pytest.raises(ConfigError) as info:
        load(path, manager=manager)
    assert info.value.key == "strategy.s.context"
    assert len(str(info.value)) < 300
    (tmp_path / "clients.txt").write_text(huge + "\n5261040828\n")
    path.write_text(
        '[strategy.s]\nenvironment = "test"\ncontexts = { file = "clients.txt" }\n'
        'credential = "env"\nsigner = "plain"\n'
    )
    config = load(path, manager=manager, check=False)
    [problem] = config.context_problems()
    assert problem.key == "1" and len(str(problem)) < 300
    assert [str(c) for c in config.contexts()] == ["Nip:5261040828"]


def test_long_values_are_capped(pm: PluginManager) -> None:
    error = refused(pm, name="x" * (MAX_TEXT + 1))
    assert error.key == "strategy.s.credential.name" and len(str(error)) < 200


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (
            "\ufeff# a comment\n".encode() + b'[strategy.s]\ncontext = "5261040828"\n',
            None,
        ),  # UTF-8 with a byte-order mark is fine (then: missing keys)
        ('# Zażółć\n[strategy.s]\ncontext = "x"\n'.encode("latin-1", "replace"), "not UTF-8"),
        ("# Zażółć\n[strategy.s]\n".encode("cp1250"), "not UTF-8"),
        ('[strategy.s]\ncontext = "5261040828"\n'.encode("utf-16"), "UTF-16"),
        ('[strategy.s]\ncontext = "5261040828"\n'.encode("utf-16-le"), "UTF-16"),
        (b"a = " + b"[" * 5000 + b"]" * 5000, "nested too deeply"),
        (b"a = " + b"{b=" * 3000 + b"1" + b"}" * 3000, "nested too deeply"),
        (b"a." * 200 + b"b = 1", "nested too deeply"),
        (b"\x00\x01\x02binary", "UTF-16"),
    ],
)
def test_files_in_other_encodings_or_deeply_nested_are_config_errors(
    manager: PluginManager, tmp_path: Path, data: bytes, what: str | None
) -> None:
    path = tmp_path / "k.toml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as info:
        load(path, manager=manager)
    if what is not None:
        assert what in str(info.value)
    assert str(path) in str(info.value)


def test_deeply_nested_dict_is_a_config_error(manager: PluginManager) -> None:
    value: Any = "x"
    for _ in range(10_000):
        value = [value]
    with pytest.raises(ConfigError, match="nested too deeply"):
        load({"strategy": {"s": {"context": value}}}, manager=manager)


def test_too_large_a_file(manager: PluginManager, tmp_path: Path) -> None:
    path = tmp_path / "k.toml"
    with path.open("wb") as handle:
        handle.truncate(17 * 1024 * 1024)
    with pytest.raises(ConfigError, match="may be at most 17 MB|may be at most 16 MB"):
        load(path, manager=manager)


def test_several_value_problems_in_one_pass(pm: PluginManager) -> None:
    with pytest.raises(ConfigErrors) as info:
        source(pm, flag="maybe", seconds="nan", name=5, nope=1)
    keys = sorted(e.key or "" for e in info.value.errors)
    assert keys == [f"strategy.s.credential.{k}" for k in ("flag", "name", "nope", "seconds")]
    assert str(info.value).startswith("<dict>: 4 problems:\n")


@pytest.mark.parametrize(
    ("type_name", "value", "expected"),
    [
        ("bool | None", None, None),
        ("Optional[int]", "3", 3),
        ("Path", "a/b", "a/b"),
        ("tuple[Path, ...]", ["a", "b"], ["a", "b"]),
        ("<class 'bool'>", "no", False),
        ("SomethingElse", object, object),
        ("str | int", 5, 5),  # several types: the factory decides
    ],
)
def test_parse(type_name: str, value: Any, expected: Any) -> None:
    assert parse(value, type_name) == expected
