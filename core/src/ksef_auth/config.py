"""Strategies from a TOML file or a dict, with every mistake reported in one pass when loaded.

::

    [defaults]                      # shared by every strategy; a strategy overrides key by key
    environment = "test"            # test | demo | production | a base URL | { env = "KSEF2_ENV" }
    store = "memory"                # a name, or { use = "memory", max_entries = 1000 }

    [strategy.shop]
    context = { nip = "5261040828" }                    # or "5261040828", or { type, value }
    credential = [ { use = "env", var = "KSEF2_TOKEN" } ]   # one source, or a chain (a list)
    signer = "ksef-token"
    refresh = { advisory_fraction = 0.25 }
    http = { connect_timeout = 5, read_timeout = 10, attempts = 4 }   # or KSEF_AUTH_* variables

    [strategy.clients]              # one strategy, many contexts (see ksef_auth.contexts)
    contexts = { file = "clients.txt" }                 # or a list, a CSV or a TOML file
    credential = { use = "env", var = "KSEF_TOKEN_{nip}" }
    signer = "ksef-token"

Secret options take references only: ``{ env = "NAME" }`` or ``{ file = "path" }`` (relative to
the strategy file). Every problem is reported at once (:class:`~ksef_auth.errors.ConfigErrors`
when there are several), each naming its file and key (``ksef-auth.toml:strategy.shop.signer``,
``ksef-auth.toml:defaults.store`` for a mistake in ``[defaults]``) or file and line
(``clients.txt:12``). A bad entry of a ``contexts`` list is a problem of that context only:
the others load, and :meth:`Config.context_problems` lists it, unless the strategy says
``strict = true``. Option values are parsed strictly by their declared type
(:mod:`ksef_auth.values`).
"""

from __future__ import annotations

import functools
import logging
import os
import tomllib
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import attrs

from ksef_auth.components import Kind, Registration, SecretRef
from ksef_auth.contexts import OVERRIDE_KEYS, ContextEntry, ContextList, context_of
from ksef_auth.errors import (
    ConfigError,
    ConfigErrors,
    CredentialError,
    KsefAuthError,
    NotAvailable,
    PluginNotFound,
    StoreError,
)
from ksef_auth.files import read_config_file
from ksef_auth.manager import KIND_LABELS, PluginManager, default_manager
from ksef_auth.model import ContextIdentifier, Environment
from ksef_auth.strategy import (
    CredentialChain,
    CredentialRotation,
    RefreshPolicy,
    Strategy,
    run_check,
)
from ksef_auth.transport import HttpPolicy
from ksef_auth.values import MAX_TEXT, kind_of, parse, parse_bool, parse_str

log = logging.getLogger("ksef_auth.config")

STRATEGY_KEYS = (
    "environment",
    "context",
    "contexts",
    "strict",
    "credential",
    "signer",
    "store",
    "refresh",
    "http",
    "description",
)
TOP_KEYS = ("defaults", "strategy", "current")
MAX_DEPTH = 16
"""Deepest nesting of tables and arrays accepted (a real strategy file needs about 7)."""
SHOWN = 20
"""Problems shown in full in a :class:`ConfigErrors` message (all are in ``errors``)."""

T = TypeVar("T")
_FAILED: Any = object()


def load(
    source: str | os.PathLike[str] | Mapping[str, Any],
    *,
    manager: PluginManager | None = None,
    check: bool = True,
) -> Config:
    """Load strategies from a TOML file path or a dict; raise :class:`ConfigError` (or
    :class:`ConfigErrors`, listing every problem) on any mistake.

    With ``check=True`` (the default) each strategy's components also run their checks (a
    variable that is not set, a test certificate for production, ...), for every context.
    """
    if isinstance(source, Mapping):
        return Config(dict(source), "<dict>", None, manager or default_manager(), check)
    path = Path(source)
    text = read_config_file(path, "strategy file")
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None
    except RecursionError:
        raise ConfigError(
            f"nested too deeply (at most {MAX_DEPTH} levels of tables and arrays)",
            source=str(path),
        ) from None
    return Config(data, str(path), path.parent, manager or default_manager(), check)


@attrs.frozen
class _At:
    """Where a value was written: a file and a key in it."""

    source: str
    key: str

    def __truediv__(self, name: str | int) -> _At:
        if isinstance(name, int):
            return _At(self.source, f"{self.key}[{name}]")
        return _At(self.source, f"{self.key}.{name}" if self.key else name)

    def fail(self, message: str) -> NoReturn:
        raise ConfigError(message, source=self.source, key=self.key or None)


class _Problems:
    """Problems found so far, each once."""

    def __init__(self) -> None:
        self.errors: list[ConfigError] = []
        self._seen: set[tuple[str | None, str | None, str]] = set()

    def add(self, error: ConfigError) -> None:
        marker = (error.source, error.key, error.reason)
        if marker not in self._seen:
            self._seen.add(marker)
            self.errors.append(error)

    def attempt(self, fn: Callable[..., T], *args: Any) -> T:
        """``fn(*args)``, or ``_FAILED`` with its ConfigError recorded."""
        try:
            return fn(*args)
        except ConfigError as exc:
            if isinstance(exc, ConfigErrors):
                for error in exc.errors:
                    self.add(error)
            else:
                self.add(exc)
            return _FAILED  # type: ignore[no-any-return]


def _shape_problems(data: Any, source: str) -> list[ConfigError]:
    """Nesting deeper than :data:`MAX_DEPTH` and strings longer than
    :data:`~ksef_auth.values.MAX_TEXT`, found without recursion."""
    problems: list[ConfigError] = []
    stack: list[tuple[Any, str, int]] = [(data, "", 0)]
    while stack and len(problems) < SHOWN:
        value, key, depth = stack.pop()
        if isinstance(value, Mapping | list | tuple):
            if depth >= MAX_DEPTH:
                problems.append(
                    ConfigError(
                        f"nested too deeply (at most {MAX_DEPTH} levels of tables and arrays)",
                        source=source,
                        key=key or None,
                    )
                )
                continue
            items = value.items() if isinstance(value, Mapping) else enumerate(value)
            for name, item in items:
                if isinstance(name, str) and len(name) > 200:
                    problems.append(
                        ConfigError(f"a key of {len(name):,} characters", source=source, key=key)
                    )
                    continue
                if isinstance(value, Mapping):
                    sub = f"{key}.{name}" if key else str(name)
                else:
                    sub = f"{key}[{name}]"
                stack.append((item, sub, depth + 1))
        elif isinstance(value, str) and len(value) > MAX_TEXT:
            problems.append(
                ConfigError(
                    f"a value of {len(value):,} characters; at most {MAX_TEXT:,} are accepted",
                    source=source,
                    key=key,
                )
            )
    return problems


def _position(error: ConfigError) -> tuple[str, int, str]:
    """File order: by file, then line number (or key)."""
    key = error.key or ""
    head = key.split(".", 1)[0]
    return (error.source or "", int(head) if head.isdigit() else -1, key)


class Config:
    """Named strategies, all built (and so validated) when loaded, and the contexts each serves."""

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
        self._check = check
        self._stores: dict[str, Any] = {}
        self._problems = _Problems()
        self._entries: dict[str, list[ContextEntry]] = {}
        self._context_problems: dict[str, list[ConfigError]] = {}
        self._broken: dict[tuple[str, ContextIdentifier], ConfigError] = {}
        #: name -> context, as asked -> the strategy: repeated calls are two dict lookups (no
        #: tuple to build and hash on the hot path)
        self._resolved: dict[str | None, dict[ContextIdentifier | str | None, Strategy]] = {}
        self.strategies: dict[str, Strategy] = {}
        self.current: str | None = None
        shape = _shape_problems(data, source)
        if shape:
            self._raise(shape)
        top = _At(source, "")
        for key in data:
            if key not in TOP_KEYS:
                self._problems.add(
                    ConfigError(
                        f"unknown key; expected one of: {', '.join(TOP_KEYS)}",
                        source=source,
                        key=str(key),
                    )
                )
        defaults = self._problems.attempt(self._table, data.get("defaults", {}), top / "defaults")
        strategies = self._problems.attempt(self._table, data.get("strategy", {}), top / "strategy")
        if defaults is _FAILED:
            defaults = {}
        for key in list(defaults):
            if key not in STRATEGY_KEYS:
                self._problems.add(
                    ConfigError(
                        f"unknown key; expected one of: {', '.join(STRATEGY_KEYS)}",
                        source=source,
                        key=f"defaults.{key}",
                    )
                )
                del defaults[key]
        if strategies is not _FAILED:
            if not strategies:
                self._problems.add(
                    ConfigError(
                        "no strategies defined; add a [strategy.NAME] table",
                        source=source,
                        key="strategy",
                    )
                )
            for name, table in strategies.items():
                self._problems.attempt(self._build, str(name), defaults, table)
        current = data.get("current")
        if current is not None:
            if not isinstance(current, str):
                self._problems.add(
                    ConfigError(
                        f"must be a strategy name, got {kind_of(current)}",
                        source=source,
                        key="current",
                    )
                )
            elif strategies is not _FAILED and current not in strategies:
                self._problems.add(
                    ConfigError(
                        f"names {current!r}, which is not a strategy here",
                        source=source,
                        key="current",
                    )
                )
            else:
                self.current = current
        if self._problems.errors:  # the load fails: the contexts' problems are shown with the rest
            self._raise([*self._problems.errors, *self.problems])
        skipped = sum(len(p) for p in self._context_problems.values())
        if skipped:
            log.warning(
                "%s: %d context%s cannot be used (see Config.context_problems or"
                " ksef-auth config check); the others are loaded",
                source,
                skipped,
                "" if skipped == 1 else "s",
            )

    def _raise(self, errors: list[ConfigError]) -> NoReturn:
        if len(errors) == 1:
            raise errors[0]
        raise ConfigErrors(errors, source=self.source, shown=SHOWN)

    # --- what was loaded ------------------------------------------------------------------------

    def names(self) -> list[str]:
        return list(self.strategies)

    def _name(self, name: str | None) -> str:
        if name is None:
            if self.current is None and len(self.strategies) != 1:
                raise ConfigError(
                    f"several strategies ({', '.join(self.strategies)}): name one",
                    source=self.source,
                )
            return self.current or next(iter(self.strategies))
        if name not in self.strategies:
            known = ", ".join(self.strategies)
            raise ConfigError(
                f"no strategy named {name!r} (strategies: {known})", source=self.source
            )
        return name

    def strategy(
        self, name: str | None = None, *, context: ContextIdentifier | str | None = None
    ) -> Strategy:
        """The strategy ``name`` (the current, or only, one when None), optionally for another
        context: one firm's credential used for many NIPs. The same (strategy, context) always
        gives the same object, so the same session manager. A context of the strategy's list
        that could not be loaded raises its :class:`ConfigError`."""
        try:
            return self._resolved[name][context]  # the hot path: asked for before
        except KeyError:
            pass
        resolved = self._resolved.setdefault(name, {})
        asked = context
        name = self._name(name)
        strategy = self.strategies[name]
        if context is None:
            resolved[asked] = strategy
            return strategy
        if isinstance(context, str):
            try:
                context = context_of(context)
            except ValueError as exc:
                raise ConfigError(str(exc), source=self.source) from None
        broken = self._broken.get((name, context))
        if broken is not None:
            raise broken
        found = resolved[asked] = strategy.with_context(context)
        return found

    def contexts(self, name: str | None = None) -> list[ContextIdentifier]:
        """Every usable context strategy ``name`` serves, in the order written: its ``context``,
        then its ``contexts`` list (one context when it has no list)."""
        return [entry.context for entry in self.entries(name)]

    def entries(self, name: str | None = None) -> list[ContextEntry]:
        """The usable contexts of strategy ``name`` with where each was written and its
        overrides (``description``, ...)."""
        return list(self._entries[self._name(name)])

    def context_problems(self, name: str | None = None) -> list[ConfigError]:
        """The entries of strategy ``name``'s contexts that cannot be used, each with its
        ``file:line`` or ``file:key`` (empty when every context loaded)."""
        return list(self._context_problems[self._name(name)])

    @property
    def problems(self) -> list[ConfigError]:
        """Every context problem of every strategy (none of them stopped the load)."""
        return [p for problems in self._context_problems.values() for p in problems]

    def __iter__(self) -> Iterator[Strategy]:
        return iter(self.strategies.values())

    # --- building a strategy --------------------------------------------------------------------

    def _table(self, value: Any, at: _At) -> dict[str, Any]:
        if not isinstance(value, Mapping):
            at.fail(f"must be a table, got {kind_of(value)}")
        return dict(value)

    def _build(self, name: str, defaults: dict[str, Any], raw: Any) -> None:
        at = _At(self.source, f"strategy.{name}")
        table = self._table(raw, at)
        problems = self._problems
        for item in list(table):
            if item not in STRATEGY_KEYS:
                problems.add(
                    ConfigError(
                        f"unknown key; expected one of: {', '.join(STRATEGY_KEYS)}",
                        source=self.source,
                        key=f"{at.key}.{item}",
                    )
                )
                del table[item]
        merged = {**defaults, **table}
        where = {k: _At(self.source, f"defaults.{k}") for k in defaults}
        where.update({k: at / k for k in table})
        for required in ("environment", "credential", "signer"):
            if required not in merged:
                problems.add(
                    ConfigError(
                        "missing (set it here or in [defaults])",
                        source=self.source,
                        key=f"{at.key}.{required}",
                    )
                )
        if "context" not in merged and "contexts" not in merged:
            problems.add(
                ConfigError(
                    "missing: give context = NIP, or contexts = [...] or { file = ... }"
                    " (here or in [defaults])",
                    source=self.source,
                    key=f"{at.key}.context",
                )
            )

        def part(key: str, fn: Callable[..., T], default: Any = _FAILED) -> T:
            if key not in merged:
                return default  # type: ignore[no-any-return]
            return problems.attempt(fn, merged[key], where[key])

        listed = part("contexts", self._context_list, None)
        needed = ("environment", "credential", "signer")
        if not all(k in merged for k in needed) or not {"context", "contexts"} & set(merged):
            if isinstance(listed, ContextList):  # the load fails: report these with the rest
                for problem in listed.problems:
                    problems.add(problem)
            return
        environment = part("environment", self._environment)
        context = part("context", self._context, None)
        strict = part("strict", lambda v, a: self._value(parse_bool, v, a), False)
        part("description", lambda v, a: self._value(parse_str, v, a), None)
        credential = part("credential", self._credential)
        signer = part("signer", lambda v, a: self._component("signer", v, a)[1])
        store = self._problems.attempt(
            self._store, merged.get("store", "memory"), where.get("store", at / "store")
        )
        refresh = part("refresh", self._refresh, RefreshPolicy())
        http = problems.attempt(self._http, merged.get("http", {}), where.get("http", at / "http"))
        parts = (environment, context, strict, listed, credential, signer, store, refresh, http)
        if any(p is _FAILED for p in parts):
            if isinstance(listed, ContextList):  # the load fails: report these with the rest
                for problem in listed.problems:
                    problems.add(problem)
            return

        explicit = context is not None
        entries: list[ContextEntry] = []
        if explicit:
            entries.append(ContextEntry(context, self.source, where["context"].key))
        found: list[ConfigError] = []
        if listed is not None:
            entries.extend(e for e in listed.entries if e.context != context)
            found.extend(listed.problems)
        if not entries:  # only a list, and nothing usable in it
            self._keep_context_problems(name, found, strict)
            where["contexts"].fail(
                "no usable context in the list" if found else "the list is empty"
            )
        template = Strategy(
            name=name,
            environment=environment,
            context=entries[0].context,
            credential=credential,
            signer=signer,
            store=store,
            refresh=refresh,
            http=http,
            manager=self._manager,
        )
        if self._check:
            self._run_check(store, template, where.get("store", at / "store"))
            if explicit:
                for label, component in (("credential", credential), ("signer", signer)):
                    problems.attempt(self._run_check, component, template, where[label])
        usable: list[ContextEntry] = []
        members: list[Strategy] = []
        for index, entry in enumerate(entries):
            try:
                member = self._member(template, entry, name, merged, where)
                if self._check and not (explicit and index == 0 and member is template):
                    self._check_context(member, entry)
            except ConfigError as exc:
                if explicit and index == 0:
                    raise
                found.append(exc)
                self._broken[(name, entry.context)] = exc
                continue
            usable.append(entry)
            members.append(member)
        self._keep_context_problems(name, found, strict)
        if not usable:
            where["contexts"].fail("no usable context in the list")
        self._entries[name] = usable
        self.strategies[name] = members[0]

    def _keep_context_problems(self, name: str, found: list[ConfigError], strict: bool) -> None:
        found.sort(key=_position)
        if strict:
            for problem in found:
                self._problems.add(problem)
            self._context_problems[name] = []
        else:
            self._context_problems[name] = found

    def _member(
        self,
        strategy: Strategy,
        entry: ContextEntry,
        name: str,
        merged: dict[str, Any],
        where: dict[str, _At],
    ) -> Strategy:
        """The strategy for one entry: the family's own, or one with its overrides."""
        overrides = {k: v for k, v in entry.overrides.items() if k != "description"}
        if "description" in entry.overrides:
            self._value(
                parse_str, entry.overrides["description"], self._entry_at(entry, "description")
            )
        if not overrides:
            return strategy.with_context(entry.context)
        problems = _Problems()
        built: dict[str, Any] = {}
        for key, value in overrides.items():
            at = self._entry_at(entry, key)
            if key == "credential":
                built[key] = problems.attempt(self._credential, value, at)
            elif key == "signer":
                built[key] = problems.attempt(
                    lambda v, a: self._component("signer", v, a)[1], value, at
                )
            elif key == "refresh":
                merged_refresh = {
                    **self._table(merged.get("refresh", {}), where.get("refresh", at)),
                    **self._table(value, at),
                }
                built[key] = problems.attempt(self._refresh, merged_refresh, at)
        if problems.errors:
            raise (
                problems.errors[0]
                if len(problems.errors) == 1
                else ConfigErrors(problems.errors, source=entry.source)
            )
        member = strategy.with_overrides(
            entry.context,
            name=name if entry.context == strategy.context else None,
            credential=built.get("credential"),
            signer=built.get("signer"),
            refresh=built.get("refresh"),
        )
        if self._check:
            for label in ("credential", "signer"):
                if label in built:
                    self._run_check(built[label], member, self._entry_at(entry, label))
        return member

    def _entry_at(self, entry: ContextEntry, key: str) -> _At:
        if entry.key.isdigit():  # a line of a file: the line is where
            return _At(entry.source, entry.key)
        return _At(entry.source, f"{entry.key}.{key}")

    def _check_context(self, member: Strategy, entry: ContextEntry) -> None:
        """Run the credential and signer checks of one context of a list."""
        for label, component in (("credential", member.credential), ("signer", member.signer)):
            try:
                run_check(component, member.environment, member.context)
            except (ConfigError, CredentialError, NotAvailable) as exc:
                reason = exc.reason if isinstance(exc, ConfigError) else str(exc)
                raise ConfigError(
                    f"{member.context}: {label}: {reason}", source=entry.source, key=entry.key
                ) from None

    def _run_check(self, component: Any, strategy: Strategy, at: _At) -> None:
        try:
            run_check(component, strategy.environment, strategy.context)
        except StoreError as exc:  # a store down is not a mistake in the file: exit 7, not 3
            raise StoreError(f"{self.source}:{at.key}: {exc}") from None
        except (ConfigError, CredentialError, NotAvailable) as exc:
            reason = exc.reason if isinstance(exc, ConfigError) else str(exc)
            strategy_at = _At(self.source, f"strategy.{strategy.name}.{at.key.rsplit('.', 1)[-1]}")
            (strategy_at if at.key.startswith("defaults.") else at).fail(reason)

    # --- values ---------------------------------------------------------------------------------

    def _value(self, parser: Callable[[Any], T], value: Any, at: _At) -> T:
        try:
            return parser(self._resolve(value, at))
        except ValueError as exc:
            at.fail(str(exc))

    def _resolve(self, value: Any, at: _At) -> Any:
        """A plain value, or the value of an ``{ env = ... }`` / ``{ file = ... }`` reference."""
        if isinstance(value, Mapping) and set(value) in ({"env"}, {"file"}):
            ref = self._secret_ref(value, at)
            problem = ref.problem()
            if problem is not None:
                at.fail(f"{problem}; set it or change the reference")
            try:
                return ref.get().reveal()
            except (ConfigError, OSError, UnicodeDecodeError) as exc:
                at.fail(f"cannot read {ref.describe()}: {type(exc).__name__}")
        return value

    def _secret_ref(self, value: Any, at: _At) -> SecretRef:
        if isinstance(value, Mapping) and set(value) == {"env"}:
            name = value["env"]
            if not isinstance(name, str) or not name:
                at.fail(f"env must name a variable (a string), got {kind_of(name)}")
            return SecretRef.env(name)
        if isinstance(value, Mapping) and set(value) == {"file"}:
            name = value["file"]
            if not isinstance(name, str) or not name:
                at.fail(f"file must be a path (a string), got {kind_of(name)}")
            path = Path(name).expanduser()
            if not path.is_absolute() and self._base_dir is not None:
                path = self._base_dir / path
            return SecretRef.file(path)
        return at.fail(
            'is a secret: give it by reference, { env = "NAME" } or { file = "path" }, never inline'
        )

    def _environment(self, value: Any, at: _At) -> Environment:
        value = self._resolve(value, at)
        if not isinstance(value, str):
            at.fail(f"must be test, demo, production or a base URL, got {kind_of(value)}")
        try:
            return Environment.of(value)
        except ValueError as exc:
            at.fail(str(exc))

    def _context(self, value: Any, at: _At) -> ContextIdentifier:
        value = self._resolve(value, at)
        if isinstance(value, Mapping) and set(value) == {"nip"}:
            value = {"nip": self._resolve(value["nip"], at / "nip")}
        elif isinstance(value, Mapping) and set(value) == {"type", "value"}:
            value = {"type": value["type"], "value": self._resolve(value["value"], at / "value")}
        try:
            return context_of(value)
        except ValueError as exc:
            at.fail(str(exc))

    def _context_list(self, value: Any, at: _At) -> ContextList:
        return ContextList(at.source, at.key, self._base_dir).read(value)

    def _credential(self, spec: Any, at: _At) -> Any:
        """One source, a chain (a list), or a rotation ``{ primary = ..., secondary = ... }``."""
        if isinstance(spec, Mapping) and set(spec) & {"primary", "secondary"}:
            if set(spec) != {"primary", "secondary"}:
                at.fail(
                    "a rotation has exactly two keys, primary and secondary (each a source or"
                    " a chain)"
                )
            problems = _Problems()
            primary = problems.attempt(self._credential, spec["primary"], at / "primary")
            secondary = problems.attempt(self._credential, spec["secondary"], at / "secondary")
            if problems.errors:
                raise (
                    ConfigErrors(problems.errors)
                    if len(problems.errors) > 1
                    else problems.errors[0]
                )
            return CredentialRotation(primary, secondary)
        if isinstance(spec, list):
            if not spec:
                at.fail("an empty chain; give at least one source")
            problems = _Problems()
            sources = [
                problems.attempt(self._component, "credential_source", item, at / i)
                for i, item in enumerate(spec)
            ]
            if problems.errors:
                raise (
                    ConfigErrors(problems.errors)
                    if len(problems.errors) > 1
                    else problems.errors[0]
                )
            return CredentialChain(sources)
        return self._component("credential_source", spec, at)[1]

    def _component(self, kind: Kind, spec: Any, at: _At) -> tuple[str, Any]:
        if isinstance(spec, str):
            name, options = spec, {}
        elif isinstance(spec, Mapping) and "use" in spec and isinstance(spec["use"], str):
            name, options = spec["use"], {k: v for k, v in spec.items() if k != "use"}
        else:
            at.fail(f'write a {KIND_LABELS[kind]} name, or {{ use = "NAME", option = ... }}')
        try:
            registration = self._manager.get(kind, name)
        except PluginNotFound as exc:
            raise PluginNotFound(exc.reason, source=at.source, key=at.key) from None
        kwargs = self._options(registration, options, at)
        try:
            return name, registration.factory(**kwargs)
        except KsefAuthError as exc:
            at.fail(f"{KIND_LABELS[kind]} {name!r}: {exc}")
        except (TypeError, ValueError) as exc:
            at.fail(f"{KIND_LABELS[kind]} {name!r}: {exc}")

    def _options(
        self, registration: Registration, options: dict[str, Any], at: _At
    ) -> dict[str, Any]:
        label = f"{KIND_LABELS[registration.kind]} {registration.name!r}"
        accepted = {o.name: o for o in registration.options}
        problems = _Problems()
        kwargs: dict[str, Any] = {}
        for name, value in options.items():
            option = accepted.get(name)
            here = at / name
            if option is None:
                names = ", ".join(accepted) or "none"
                problems.add(
                    ConfigError(
                        f"{label} has no option {name!r} (options: {names})",
                        source=here.source,
                        key=here.key,
                    )
                )
                continue
            if option.secret:
                ref = problems.attempt(self._secret_ref, value, here)
                if ref is _FAILED:
                    continue
                problem = ref.problem()
                if problem is not None:
                    problems.add(
                        ConfigError(
                            f"{problem}; set it or change the reference",
                            source=here.source,
                            key=here.key,
                        )
                    )
                    continue
                kwargs[name] = ref
                continue
            parsed = problems.attempt(
                self._value, lambda v, t=option.type: parse(v, t), value, here
            )
            if parsed is not _FAILED:
                kwargs[name] = self._relative(parsed) if option.path else parsed
        for option in registration.options:
            if option.required and option.name not in kwargs and option.name not in options:
                problems.add(
                    ConfigError(
                        f"{label} needs option {option.name!r}: {option.help}",
                        source=at.source,
                        key=f"{at.key}.{option.name}",
                    )
                )
        if problems.errors:
            if len(problems.errors) == 1:
                raise problems.errors[0]
            raise ConfigErrors(problems.errors)
        return kwargs

    def _relative(self, value: Any) -> Any:
        """Paths (or lists of paths) relative to the strategy file's folder."""
        if isinstance(value, list):
            return [self._relative(v) for v in value]
        if isinstance(value, str) and self._base_dir is not None:
            path = Path(value).expanduser()
            return str(path if path.is_absolute() else self._base_dir / path)
        return value

    def _store(self, spec: Any, at: _At) -> Any:
        marker = repr(sorted(spec.items())) if isinstance(spec, Mapping) else repr(spec)
        if marker not in self._stores:
            self._stores[marker] = self._component("session_store", spec, at)[1]
        return self._stores[marker]

    def _refresh(self, value: Any, at: _At) -> RefreshPolicy:
        table = self._table(value, at)
        fields = {f.name: f for f in attrs.fields(RefreshPolicy)}
        problems = _Problems()
        kwargs: dict[str, Any] = {}
        for name, item in table.items():
            field = fields.get(name)
            if field is None:
                problems.add(
                    ConfigError(
                        f"unknown refresh option (options: {', '.join(fields)})",
                        source=at.source,
                        key=f"{at.key}.{name}",
                    )
                )
                continue
            parsed = problems.attempt(
                self._value, lambda v, t=str(field.type): parse(v, t), item, at / name
            )
            if parsed is not _FAILED:
                kwargs[name] = parsed
        if problems.errors:
            if len(problems.errors) == 1:
                raise problems.errors[0]
            raise ConfigErrors(problems.errors)
        try:
            return RefreshPolicy(**kwargs)
        except (TypeError, ValueError) as exc:
            at.fail(str(exc))

    def _http(self, value: Any, at: _At) -> HttpPolicy:
        """Timeouts and retry budget; ``KSEF_AUTH_*`` variables fill what the table leaves out."""
        table = self._table(value, at)
        fields = {f.name: f for f in attrs.fields(HttpPolicy)}
        kwargs: dict[str, Any] = {}
        for name, item in table.items():
            field = fields.get(name)
            if field is None:
                (at / name).fail(f"unknown http option (options: {', '.join(fields)})")
            parser = functools.partial(_parse_as, str(field.type))
            kwargs[name] = self._value(parser, item, at / name)
        try:
            return HttpPolicy.from_env(**kwargs)
        except (TypeError, ValueError) as exc:
            at.fail(str(exc))


def _parse_as(type_name: str, value: Any) -> Any:
    return parse(value, type_name)


__all__ = ["Config", "ContextEntry", "OVERRIDE_KEYS", "load"]
