"""The plugin manager: discovery through entry points, loading by name, registries, listing.

Entry points of the group ``ksef_auth`` are read once per process (metadata only). A plugin is
imported when a strategy asks for one of its names, or when everything is listed. A plugin
whose components are named other than its entry point (``ksef-token`` and ``hmac`` from
``token``) declares those names in the group ``ksef_auth.components`` (``ksef-token =
"ksef_auth_token"``: the component name, and the same module as its plugin entry point), so that
asking for ``ksef-token`` imports that plugin only. A name found in neither group loads every
plugin once, so a plugin without the index still works. A plugin that
fails to import (or implements a hook that does not exist) is recorded and left out; it is fatal
only to a strategy that needs it, whose error then says why.

``KSEF_AUTH_PLUGINS`` chooses what loads: unset loads every installed plugin, an empty value loads
none, ``env,memory`` loads only those (entry-point or distribution names).
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable
from importlib import metadata
from typing import Any

import pluggy

from ksef_auth import hookspecs
from ksef_auth.components import Kind, Register, Registration
from ksef_auth.errors import PluginNotFound
from ksef_auth.events import Observers
from ksef_auth.plugin import COMPONENTS_GROUP, ENTRY_POINT_GROUP, PROJECT

log = logging.getLogger("ksef_auth.plugins")

LOAD_ENV = "KSEF_AUTH_PLUGINS"
KIND_LABELS: dict[Kind, str] = {
    "credential_source": "credential source",
    "signer": "signer",
    "session_store": "session store",
    "key_store": "key store",
}
_REGISTER_HOOKS: dict[Kind, str] = {
    "credential_source": "ksef_auth_register_credential_sources",
    "signer": "ksef_auth_register_signers",
    "session_store": "ksef_auth_register_session_stores",
    "key_store": "ksef_auth_register_key_stores",
}


class PluginManager:
    """Owns the pluggy manager and what plugins registered. One per process is the norm
    (:func:`default_manager`); tests build their own and :meth:`register` plugins directly."""

    def __init__(self, *, autoload: bool = True, only: str | None = None) -> None:
        self.pm = pluggy.PluginManager(PROJECT)
        self.pm.add_hookspecs(hookspecs)
        self.observers = Observers(self.pm.hook)
        self.failures: dict[str, str] = {}
        self._registry: dict[Kind, dict[str, Registration]] = {k: {} for k in _REGISTER_HOOKS}
        self._entry_points: dict[str, metadata.EntryPoint] = {}
        self._providers: dict[str, list[str]] = {}  # component name -> plugin entry-point names
        self._lock = threading.RLock()
        if only is None:
            only = os.environ.get(LOAD_ENV)
        if autoload:
            self._discover(only)

    # --- discovery and loading ------------------------------------------------------------------

    def _discover(self, only: str | None) -> None:
        wanted = None if only is None else {n.strip() for n in only.split(",") if n.strip()}
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else ""
            if wanted is not None and ep.name not in wanted and dist not in wanted:
                continue
            self._entry_points.setdefault(ep.name, ep)
        by_module: dict[str, list[str]] = {}
        for name, ep in self._entry_points.items():
            by_module.setdefault(ep.value, []).append(name)
        for ep in metadata.entry_points(group=COMPONENTS_GROUP):
            for plugin in by_module.get(ep.value, ()):
                self._providers.setdefault(ep.name, []).append(plugin)

    def _load(self, name: str) -> None:
        ep = self._entry_points[name]
        if self.pm.get_plugin(name) is not None or name in self.failures:
            return
        try:
            module = ep.load()
        except Exception as exc:
            self._fail(name, f"import failed: {type(exc).__name__}: {exc}")
            return
        self.register(module, name=name)

    def load_all(self) -> None:
        """Import every discovered plugin (failures are recorded in :attr:`failures`)."""
        with self._lock:
            for name in list(self._entry_points):
                self._load(name)

    def register(self, plugin: Any, name: str | None = None) -> str | None:
        """Register a plugin object or module and collect what its register hooks offer."""
        with self._lock:
            name = name or getattr(plugin, "__name__", None) or repr(plugin)
            try:
                self.pm.register(plugin, name=name)
                self.pm.check_pending()
            except pluggy.PluginValidationError as exc:
                self.pm.unregister(name=name)
                self._fail(name, f"invalid plugin: {exc}")
                return None
            for kind, hook_name in _REGISTER_HOOKS.items():
                for impl in getattr(self.pm.hook, hook_name).get_hookimpls():
                    if impl.plugin_name != name:
                        continue
                    try:
                        impl.function(register=Register(kind, name, self._add))
                    except Exception as exc:
                        self.unregister(name)
                        self._fail(name, f"{hook_name} raised {type(exc).__name__}: {exc}")
                        return None
            return name

    def unregister(self, name: str) -> None:
        with self._lock:
            if self.pm.get_plugin(name) is not None:
                self.pm.unregister(name=name)
            for registry in self._registry.values():
                for key in [k for k, r in registry.items() if r.plugin == name]:
                    del registry[key]

    def _add(self, registration: Registration) -> None:
        registry = self._registry[registration.kind]
        existing = registry.get(registration.name)
        if existing is not None and existing.plugin != registration.plugin:
            log.warning(
                "%s %r from plugin %s replaces the one from %s",
                KIND_LABELS[registration.kind],
                registration.name,
                registration.plugin,
                existing.plugin,
            )
        registry[registration.name] = registration

    def _fail(self, name: str, reason: str) -> None:
        self.failures[name] = reason
        log.warning("ksef-auth plugin %s not loaded: %s", name, reason)

    # --- lookups --------------------------------------------------------------------------------

    def get(self, kind: Kind, name: str) -> Registration:
        """The factory registered as ``name``; imports plugins as needed.

        Raises :class:`PluginNotFound` listing what is installed (and what failed to load).
        """
        with self._lock:
            found = self._registry[kind].get(name)
            if found is None:
                candidates = self._providers.get(name, [])
                if name in self._entry_points:
                    candidates = [name, *candidates]
                for plugin in candidates:
                    self._load(plugin)
                found = self._registry[kind].get(name)
            if found is None:
                self.load_all()
                found = self._registry[kind].get(name)
        if found is not None:
            return found
        label = KIND_LABELS[kind]
        installed = ", ".join(sorted(self._registry[kind])) or "none"
        message = f"no {label} named {name!r} is installed (installed {label}s: {installed})"
        if self.failures:
            broken = "; ".join(f"{n}: {r}" for n, r in sorted(self.failures.items()))
            message += f"; plugins that failed to load: {broken}"
        else:
            message += "; install the plugin that provides it (`ksef-auth plugins` lists them)"
        raise PluginNotFound(message)

    def available(self, kind: Kind) -> dict[str, Registration]:
        """Every registered factory of ``kind`` (loads all plugins)."""
        self.load_all()
        return dict(sorted(self._registry[kind].items()))

    def register_commands(self, cli: Any) -> None:
        """Let every plugin add its CLI commands; a failing plugin is reported, not fatal."""
        self.load_all()
        for impl in self.pm.hook.ksef_auth_register_commands.get_hookimpls():
            try:
                impl.function(cli=cli)
            except Exception as exc:
                self._fail(impl.plugin_name, f"adding CLI commands failed: {exc}")

    def listing(self) -> list[dict[str, Any]]:
        """What is installed: name, distribution, version, what it provides, its hooks, errors."""
        self.load_all()
        rows = []
        names = list(
            dict.fromkeys([*self._entry_points, *(n for n, _ in self.pm.list_name_plugin())])
        )
        for name in names:
            ep = self._entry_points.get(name)
            plugin = self.pm.get_plugin(name)
            provides = {
                KIND_LABELS[kind]: sorted(n for n, r in registry.items() if r.plugin == name)
                for kind, registry in self._registry.items()
            }
            rows.append(
                {
                    "name": name,
                    "distribution": ep.dist.name if ep is not None and ep.dist else None,
                    "version": ep.dist.version if ep is not None and ep.dist else None,
                    "provides": {k: v for k, v in provides.items() if v},
                    "hooks": sorted(h.name for h in self.pm.get_hookcallers(plugin) or [])
                    if plugin is not None
                    else [],
                    "error": self.failures.get(name),
                }
            )
        return rows

    def plugin_names(self) -> Iterable[str]:
        return [n for n, _ in self.pm.list_name_plugin()]


_default: PluginManager | None = None
_default_lock = threading.Lock()


def default_manager() -> PluginManager:
    """The process-wide plugin manager, created on first use."""
    global _default
    if _default is None:
        with _default_lock:
            if _default is None:
                _default = PluginManager()
    return _default


def reset_default_manager() -> None:
    """Forget the process-wide manager (tests; after installing a plugin at run time)."""
    global _default
    with _default_lock:
        _default = None
