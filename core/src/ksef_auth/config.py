"""Strategies from a TOML file or a dict, with every mistake reported when it is loaded.

::

    [defaults]                      # shared by every strategy; a strategy overrides key by key
    environment = "test"            # test | demo | production | a base URL | { env = "KSEF2_ENV" }
    store = "memory"                # a name, or { use = "memory", max_entries = 1000 }

    [strategy.shop]
    context = { nip = "5261040828" }                    # or "5261040828", or { type, value }
    credential = [ { use = "env", var = "KSEF2_TOKEN" } ]   # one source, or a chain (a list)
    signer = "ksef-token"
    refresh = { advisory_fraction = 0.25 }

Secret options take references only: ``{ env = "NAME" }`` or ``{ file = "path" }`` (relative to
the strategy file). Errors name the file and the key: ``ksef-auth.toml:strategy.shop.signer``.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn

import attrs

from ksef_auth.components import Kind, Registration, SecretRef
from ksef_auth.errors import (
    ConfigError,
    CredentialError,
    KsefAuthError,
    NotAvailable,
    PluginNotFound,
)
from ksef_auth.manager import KIND_LABELS, PluginManager, default_manager
from ksef_auth.model import ContextIdentifier, Environment
from ksef_auth.strategy import CredentialChain, RefreshPolicy, Strategy

STRATEGY_KEYS = (
    "environment",
    "context",
    "credential",
    "signer",
    "store",
    "refresh",
    "description",
)
TOP_KEYS = ("defaults", "strategy", "current")


def load(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    manager: PluginManager | None = None,
    check: bool = True,
) -> Config:
    """Load strategies from a TOML file path or a dict; raise :class:`ConfigError` on any mistake.

    With ``check=True`` (the default) each strategy's components also run their checks (a
    variable that is not set, a test certificate for production, ...).
    """
    if isinstance(source, Mapping):
        return Config(dict(source), "<dict>", None, manager or default_manager(), check)
    path = Path(source)
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError("strategy file not found", source=str(path)) from None
    except IsADirectoryError:
        raise ConfigError("is a directory, not a strategy file", source=str(path)) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None
    return Config(data, str(path), path.parent, manager or default_manager(), check)


class Config:
    """Named strategies, all built (and so validated) when loaded."""

    def __init__(
        self,
        data: dict[str, Any],
        source: str,
        base_dir: Path | None,
        manager: PluginManager,
        check: bool,
    ) -> None:
        self.source = source
        self.data = data
        self._base_dir = base_dir
        self._manager = manager
        self._stores: dict[str, Any] = {}
        for key in data:
            if key not in TOP_KEYS:
                self._fail(key, f"unknown key; expected one of: {', '.join(TOP_KEYS)}")
        defaults = self._table(data.get("defaults", {}), "defaults")
        strategies = self._table(data.get("strategy", {}), "strategy")
        if not strategies:
            self._fail("strategy", "no strategies defined; add a [strategy.NAME] table")
        self.strategies: dict[str, Strategy] = {}
        for name, table in strategies.items():
            merged = {**defaults, **self._table(table, f"strategy.{name}")}
            self.strategies[name] = self._build(name, merged, f"strategy.{name}", check)
        self.current: str | None = data.get("current")
        if self.current is not None and self.current not in self.strategies:
            self._fail("current", f"names {self.current!r}, which is not a strategy here")

    def names(self) -> list[str]:
        return list(self.strategies)

    def strategy(
        self, name: str | None = None, *, context: ContextIdentifier | str | None = None
    ) -> Strategy:
        """The strategy ``name`` (the current, or only, one when None), optionally for another
        context: one firm's credential used for many NIPs."""
        if name is None:
            if self.current is None and len(self.strategies) != 1:
                raise ConfigError(
                    f"several strategies ({', '.join(self.strategies)}): name one",
                    source=self.source,
                )
            name = self.current or next(iter(self.strategies))
        if name not in self.strategies:
            known = ", ".join(self.strategies)
            raise ConfigError(
                f"no strategy named {name!r} (strategies: {known})", source=self.source
            )
        strategy = self.strategies[name]
        return strategy if context is None else strategy.with_context(context)

    def __iter__(self) -> Iterator[Strategy]:
        return iter(self.strategies.values())

    # --- building -------------------------------------------------------------------------------

    def _fail(self, key: str, message: str) -> NoReturn:
        raise ConfigError(message, source=self.source, key=key)

    def _table(self, value: Any, key: str) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            self._fail(key, f"must be a table, got {type(value).__name__}")
        return dict(value)

    def _build(self, name: str, table: dict[str, Any], key: str, check: bool) -> Strategy:
        for item in table:
            if item not in STRATEGY_KEYS:
                self._fail(
                    f"{key}.{item}", f"unknown key; expected one of: {', '.join(STRATEGY_KEYS)}"
                )
        for required in ("environment", "context", "credential", "signer"):
            if required not in table:
                self._fail(f"{key}.{required}", "missing (set it here or in [defaults])")
        environment = self._environment(table["environment"], f"{key}.environment")
        context = self._context(table["context"], f"{key}.context")
        credential_spec = table["credential"]
        if isinstance(credential_spec, list):
            if not credential_spec:
                self._fail(f"{key}.credential", "an empty chain; give at least one source")
            sources = [
                self._component("credential_source", spec, f"{key}.credential[{i}]")
                for i, spec in enumerate(credential_spec)
            ]
            credential: Any = CredentialChain(sources)
        else:
            credential = self._component("credential_source", credential_spec, f"{key}.credential")[
                1
            ]
        signer = self._component("signer", table["signer"], f"{key}.signer")[1]
        store = self._store(table.get("store", "memory"), f"{key}.store")
        refresh = self._refresh(table.get("refresh", {}), f"{key}.refresh")
        strategy = Strategy(
            name=name,
            environment=environment,
            context=context,
            credential=credential,
            signer=signer,
            store=store,
            refresh=refresh,
            manager=self._manager,
        )
        if check:
            for part, component in (
                ("credential", credential),
                ("signer", signer),
                ("store", store),
            ):
                try:
                    check_fn = getattr(component, "check", None)
                    if check_fn is not None:
                        check_fn(environment, context)
                except (ConfigError, CredentialError, NotAvailable) as exc:
                    reason = exc.reason if isinstance(exc, ConfigError) else str(exc)
                    self._fail(f"{key}.{part}", reason)
        return strategy

    def _resolve(self, value: Any, key: str) -> Any:
        """A plain value, or the value of an ``{ env = ... }`` / ``{ file = ... }`` reference."""
        if isinstance(value, Mapping) and set(value) in ({"env"}, {"file"}):
            ref = self._secret_ref(value, key)
            problem = ref.problem()
            if problem is not None:
                self._fail(key, f"{problem}; set it or change the reference")
            return ref.get().reveal()
        return value

    def _secret_ref(self, value: Any, key: str) -> SecretRef:
        if isinstance(value, Mapping) and set(value) == {"env"}:
            return SecretRef.env(str(value["env"]))
        if isinstance(value, Mapping) and set(value) == {"file"}:
            path = Path(str(value["file"])).expanduser()
            if not path.is_absolute() and self._base_dir is not None:
                path = self._base_dir / path
            return SecretRef.file(path)
        return self._fail(
            key,
            'is a secret: give it by reference, { env = "NAME" } or { file = "path" },'
            " never inline",
        )

    def _environment(self, value: Any, key: str) -> Environment:
        value = self._resolve(value, key)
        try:
            return Environment.of(value)
        except ValueError as exc:
            self._fail(key, str(exc))

    def _context(self, value: Any, key: str) -> ContextIdentifier:
        value = self._resolve(value, key)
        try:
            if isinstance(value, str):
                return ContextIdentifier.nip(value)
            if isinstance(value, Mapping):
                if set(value) == {"nip"}:
                    return ContextIdentifier.nip(str(self._resolve(value["nip"], f"{key}.nip")))
                if set(value) == {"type", "value"}:
                    return ContextIdentifier(value["type"], str(self._resolve(value["value"], key)))
            self._fail(
                key, 'write "NIP", { nip = "NIP" } or { type = "InternalId", value = "..." }'
            )
        except ValueError as exc:
            self._fail(key, str(exc))

    def _component(self, kind: Kind, spec: Any, key: str) -> tuple[str, Any]:
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, Mapping) and "use" in spec:
            name, options = str(spec["use"]), {k: v for k, v in spec.items() if k != "use"}
        else:
            self._fail(
                key, f'write a {KIND_LABELS[kind]} name, or {{ use = "NAME", option = ... }}'
            )
        try:
            registration = self._manager.get(kind, name)
        except PluginNotFound as exc:
            raise PluginNotFound(exc.reason, source=self.source, key=key) from None
        kwargs = self._options(registration, options, key)
        try:
            return name, registration.factory(**kwargs)
        except KsefAuthError as exc:
            self._fail(key, f"{KIND_LABELS[kind]} {name!r}: {exc}")
        except (TypeError, ValueError) as exc:
            self._fail(key, f"{KIND_LABELS[kind]} {name!r}: {exc}")

    def _options(
        self, registration: Registration, options: dict[str, Any], key: str
    ) -> dict[str, Any]:
        label = f"{KIND_LABELS[registration.kind]} {registration.name!r}"
        accepted = {o.name: o for o in registration.options}
        kwargs: dict[str, Any] = {}
        for name, value in options.items():
            option = accepted.get(name)
            if option is None:
                names = ", ".join(accepted) or "none"
                self._fail(f"{key}.{name}", f"{label} has no option {name!r} (options: {names})")
            if option.secret:
                ref = self._secret_ref(value, f"{key}.{name}")
                problem = ref.problem()
                if problem is not None:
                    self._fail(f"{key}.{name}", f"{problem}; set it or change the reference")
                kwargs[name] = ref
            else:
                value = self._resolve(value, f"{key}.{name}")
                kwargs[name] = self._relative(value) if option.path else value
        for option in registration.options:
            if option.required and option.name not in kwargs:
                self._fail(
                    f"{key}.{option.name}", f"{label} needs option {option.name!r}: {option.help}"
                )
        return kwargs

    def _relative(self, value: Any) -> Any:
        """Paths (or lists of paths) relative to the strategy file's folder."""
        if isinstance(value, list):
            return [self._relative(v) for v in value]
        if isinstance(value, str) and self._base_dir is not None:
            path = Path(value).expanduser()
            return str(path if path.is_absolute() else self._base_dir / path)
        return value

    def _store(self, spec: Any, key: str) -> Any:
        marker = repr(sorted(spec.items())) if isinstance(spec, Mapping) else repr(spec)
        if marker not in self._stores:
            self._stores[marker] = self._component("session_store", spec, key)[1]
        return self._stores[marker]

    def _refresh(self, value: Any, key: str) -> RefreshPolicy:
        table = self._table(value, key)
        fields = [f.name for f in attrs.fields(RefreshPolicy)]
        for name in table:
            if name not in fields:
                self._fail(
                    f"{key}.{name}", f"unknown refresh option (options: {', '.join(fields)})"
                )
        try:
            return RefreshPolicy(**table)
        except (TypeError, ValueError) as exc:
            self._fail(key, str(exc))
