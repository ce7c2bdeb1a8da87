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
none, ``env,memory`` loads only those (entry-point or distribution names). A name there that is
not installed is warned about (with the closest installed names), and a component asked for
that an installed plugin left out by the variable provides is reported as left out, not as
missing.
"""

from __future__ import annotations

import difflib
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
        self._excluded_providers: dict[str, list[str]] = {}  # the same, for left-out plugins
        self._installed_names: set[str] = set()
        self.only: str | None = None
        """``KSEF_AUTH_PLUGINS`` (or ``only=``) as given, None when every plugin loads."""
        self.excluded: dict[str, str] = {}
        """Installed plugins that ``KSEF_AUTH_PLUGINS`` leaves out: entry-point name -> module."""
        self.unknown: list[str] = []
        """Names in ``KSEF_AUTH_PLUGINS`` that match no installed plugin (typos)."""
        self._lock = threading.RLock()
        if only is None:
            only = os.environ.get(LOAD_ENV)
        if autoload:
            self._discover(only)

    # --- discovery and loading ------------------------------------------------------------------

    def _discover(self, only: str | None) -> None:
        self.only = only
        wanted = None if only is None else [n.strip() for n in only.split(",") if n.strip()]
        matched: set[str] = set()
        names: set[str] = set()
        for ep in metadata.entry_points(group=ENTRY_POINT_GROUP):
            dist = ep.dist.name if ep.dist else ""
            names.update(n for n in (ep.name, dist) if n)
            if wanted is not None and ep.name not in wanted and dist not in wanted:
                self.excluded.setdefault(ep.name, ep.value)
                continue
            matched.update((ep.name, dist))
            self._entry_points.setdefault(ep.name, ep)
        for name in self._entry_points:
            self.excluded.pop(name, None)
        self.unknown = [n for n in (wanted or []) if n not in matched]
        self._installed_names = names
        for name in self.unknown:
            log.warning("%s", self._unknown_message(name, names))
        by_module: dict[str, list[str]] = {}
        for name, ep in self._entry_points.items():
            by_module.setdefault(ep.value, []).append(name)
        for ep in metadata.entry_points(group=COMPONENTS_GROUP):
            for plugin in by_module.get(ep.value, ()):
                self._providers.setdefault(ep.name, []).append(plugin)
            for plugin, module in self.excluded.items():
                if module == ep.value:
                    self._excluded_providers.setdefault(ep.name, []).append(plugin)

    def _unknown_message(self, name: str, installed: set[str]) -> str:
        close = difflib.get_close_matches(name, sorted(installed), n=2, cutoff=0.6)
        hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
        return (
            f"{LOAD_ENV} names {name!r}, which is not an installed plugin{hint}"
            " (`ksef-auth plugins` lists them)"
        )

    def _left_out(self, name: str) -> list[str]:
        """Installed plugins, left out by ``KSEF_AUTH_PLUGINS``, that provide ``name``."""
        found = list(self._excluded_providers.get(name, []))
        if name in self.excluded and name not in found:
            found.insert(0, name)
        return found

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
        left_out = self._left_out(name)
        installed = ", ".join(sorted(self._registry[kind])) or "none"
        message = f"no {label} named {name!r} is installed (installed {label}s: {installed})"
        if left_out:
            message = (
                f"{label} {name!r} is installed (plugin {left_out[0]}) but {LOAD_ENV}="
                f"{self.only!r} leaves it out: add {left_out[0]} there, or unset {LOAD_ENV}"
                f" (loaded {label}s: {installed})"
            )
        if self.unknown:
            message += f"; {LOAD_ENV} names {', '.join(map(repr, self.unknown))}, not installed"
        if self.failures:
            broken = "; ".join(f"{n}: {r}" for n, r in sorted(self.failures.items()))
            message += f"; plugins that failed to load: {broken}"
        elif not left_out:
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

    def name_of(self, kind: Kind, component: Any) -> str:
        """The name ``component`` was registered under (``file`` for a ``FileStore``), as a
        strategy file writes it; for a credential chain, its sources' names joined by ``>``;
        the class name when no registration made it."""
        sources = getattr(component, "sources", None)
        if kind == "credential_source" and isinstance(sources, list):
            return " > ".join(str(name) for name, _ in sources)
        roles = getattr(component, "roles", None)
        if (
            kind == "credential_source"
            and isinstance(roles, tuple)
            and hasattr(component, "source")
        ):
            return ", ".join(f"{r} {self.name_of(kind, component.source(r))}" for r in roles)
        factory = type(component)
        with self._lock:
            for name, registration in self._registry[kind].items():
                if registration.factory is factory:
                    return name
        return str(getattr(component, "method", None) or factory.__name__)

    def problems(self) -> list[str]:
        """What is wrong with the plugin selection: typos in ``KSEF_AUTH_PLUGINS``, plugins
        it leaves out, plugins that failed to load."""
        notes = [self._unknown_message(name, self._installed_names) for name in self.unknown]
        if self.excluded:
            count = len(self.excluded)
            notes.append(
                f"{LOAD_ENV}={self.only!r} leaves out {count} installed"
                f" plugin{'s' if count != 1 else ''}: {', '.join(sorted(self.excluded))}"
            )
        notes += [f"plugin {n} not loaded: {r}" for n, r in sorted(self.failures.items())]
        return notes

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
