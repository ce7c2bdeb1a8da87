from __future__ import annotations

import logging
import os
import threading
import types
from importlib import metadata

import pytest

from ksef_auth import PluginNotFound, Register, SessionEvent, hookimpl
from ksef_auth.manager import PluginManager
from ksef_auth.model import ContextIdentifier, Environment


def _event(name: str = "session_opened") -> SessionEvent:
    return SessionEvent(
        name=name,
        strategy="t",
        environment=Environment.of("test"),
        context=ContextIdentifier.nip("5261040828"),
        method="ksef-token",
        credential_fingerprint="tok:0123456789abcdef",
    )


def test_installed_plugins_are_listed_with_versions_and_hooks() -> None:
    rows = {row["name"]: row for row in PluginManager(only="env,memory").listing()}
    assert rows["env"]["distribution"] == "ksef-auth-env"
    assert rows["env"]["version"] == metadata.version("ksef-auth-env")
    assert rows["env"]["provides"] == {"credential source": ["env"]}
    assert rows["memory"]["hooks"] == ["ksef_auth_register_session_stores"]


def test_load_switch_none_and_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KSEF_AUTH_PLUGINS", "")
    assert PluginManager().listing() == []
    monkeypatch.setenv("KSEF_AUTH_PLUGINS", "ksef-auth-memory")  # a distribution name works too
    assert [row["name"] for row in PluginManager().listing()] == ["memory"]


def test_lazy_loading_by_name_imports_only_that_plugin() -> None:
    pm = PluginManager(only="env,memory")
    pm.get("session_store", "memory")
    assert list(pm.plugin_names()) == ["memory"]


def test_a_broken_plugin_does_not_break_the_others(caplog: pytest.LogCaptureFixture) -> None:
    pm = PluginManager(only="env,memory")
    pm._entry_points = {
        "broken": metadata.EntryPoint("broken", "no_such_module_xyz", "ksef_auth"),
        **pm._entry_points,
    }
    caplog.set_level(logging.WARNING)
    assert pm.get("credential_source", "env").name == "env"
    assert pm.get("session_store", "memory").name == "memory"
    rows = {row["name"]: row for row in pm.listing()}
    assert "ModuleNotFoundError" in rows["broken"]["error"]
    assert rows["env"]["error"] is None
    assert "plugin broken not loaded" in caplog.text


def test_misspelt_hook_is_reported_and_left_out() -> None:
    plugin = types.ModuleType("typo_plugin")

    @hookimpl
    def ksef_auth_register_signer(register: Register) -> None:  # missing "s"
        register("x", object)

    plugin.ksef_auth_register_signer = ksef_auth_register_signer  # type: ignore[attr-defined]
    pm = PluginManager(autoload=False)
    assert pm.register(plugin, name="typo") is None
    assert "unknown hook 'ksef_auth_register_signer'" in pm.failures["typo"]
    assert "typo" not in list(pm.plugin_names())


def test_a_register_hook_that_raises_is_contained() -> None:
    plugin = types.ModuleType("raising")

    @hookimpl
    def ksef_auth_register_signers(register: Register) -> None:
        raise RuntimeError("boom")

    plugin.ksef_auth_register_signers = ksef_auth_register_signers  # type: ignore[attr-defined]
    pm = PluginManager(autoload=False)
    pm.register(plugin, name="raising")
    assert "RuntimeError: boom" in pm.failures["raising"]


def test_observers_run_off_thread_and_failures_do_not_reach_the_caller(
    caplog: pytest.LogCaptureFixture,
) -> None:
    seen: list[tuple[str, str]] = []
    release = threading.Event()

    class Observer:
        @hookimpl
        def ksef_auth_session_opened(self, event: SessionEvent) -> None:
            release.wait(5)  # a slow observer
            seen.append((event.name, threading.current_thread().name))

        @hookimpl
        def ksef_auth_session_revoked(self, event: SessionEvent) -> None:
            raise RuntimeError("observer bug")

    pm = PluginManager(autoload=False)
    pm.register(Observer(), name="observer")
    caplog.set_level(logging.ERROR)
    pm.observers.emit(_event("session_opened"))  # returns although the observer blocks
    pm.observers.emit(_event("session_revoked"))  # raises inside the observer
    assert seen == []
    release.set()
    assert pm.observers.flush(5)
    assert seen == [("session_opened", "ksef-auth-observers")]
    assert "an observer of session_revoked raised" in caplog.text


def test_no_observer_means_no_thread() -> None:
    pm = PluginManager(autoload=False)
    pm.observers.emit(_event())
    assert pm.observers._thread is None


def test_every_hook_is_documented() -> None:
    from pathlib import Path

    from ksef_auth import hookspecs

    names = [n for n in dir(hookspecs) if n.startswith("ksef_auth_")]
    guide = (Path(__file__).parents[2] / "docs" / "plugins.md").read_text(encoding="utf-8")
    for name in names:
        assert (getattr(hookspecs, name).__doc__ or "").strip(), name
        assert f"`{name}(" in guide, f"{name} is not in docs/plugins.md"


def test_a_token_strategy_imports_only_the_plugins_it_names(tmp_path) -> None:
    """Component names declared in ``ksef_auth.components`` (``ksef-token`` from ``token``) load
    their plugin alone: no other plugin (and no asyncio) is imported to build the strategy."""
    import subprocess
    import sys

    strategy = tmp_path / "s.toml"
    strategy.write_text(
        '[strategy.shop]\nenvironment = "http://127.0.0.1:9/v2"\ncontext = "5261040828"\n'
        'credential = { use = "env", var = "KSEF_T" }\nsigner = "ksef-token"\n'
    )
    code = (
        "import sys, ksef_auth\n"
        f"ksef_auth.load({str(strategy)!r})\n"
        "print(sorted({m.split('.')[0] for m in sys.modules if m.startswith('ksef_auth_')}))\n"
        "print('asyncio' in sys.modules)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "KSEF_AUTH_PLUGINS"}
    out = subprocess.run(
        [sys.executable, "-c", code], env={**env, "KSEF_T": "t"}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    plugins, asyncio_loaded = out.stdout.strip().splitlines()
    assert plugins == "['ksef_auth_env', 'ksef_auth_memory', 'ksef_auth_token']"
    assert asyncio_loaded == "False"


def test_a_typo_in_ksef_auth_plugins_is_warned_with_the_closest_name(
    caplog: pytest.LogCaptureFixture,
) -> None:
    with caplog.at_level("WARNING", logger="ksef_auth.plugins"):
        pm = PluginManager(only="env,memroy")
    assert pm.unknown == ["memroy"]
    assert "KSEF_AUTH_PLUGINS names 'memroy', which is not an installed plugin" in caplog.text
    assert "did you mean 'memory'" in caplog.text
    assert any("memroy" in note for note in pm.problems())


def test_a_plugin_left_out_by_ksef_auth_plugins_is_not_called_missing() -> None:
    pm = PluginManager(only="env")
    assert "memory" in pm.excluded
    with pytest.raises(PluginNotFound) as info:
        pm.get("session_store", "memory")
    assert "'memory' is installed (plugin memory) but KSEF_AUTH_PLUGINS='env' leaves it out" in (
        str(info.value)
    )
    assert "install the plugin" not in str(info.value)


def test_name_of_gives_the_registered_name() -> None:
    from ksef_auth_memory import MemoryStore

    pm = PluginManager(only="memory")
    pm.get("session_store", "memory")
    assert pm.name_of("session_store", MemoryStore()) == "memory"

    class Unregistered:
        pass

    assert pm.name_of("session_store", Unregistered()) == "Unregistered"
