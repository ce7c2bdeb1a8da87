"""Profiles: named, non-secret settings for the CLI and for code, kept in one strategy file.

A profile is an environment, a context NIP, a credential source and a signer, plus the session
store; it holds no secret, only the *names* of the environment variables (or the paths of the
files) that do. All profiles live in ``profiles.toml`` in the platform's config directory
(``~/.config/ksef-auth/profiles.toml`` on Linux), or where ``KSEF2_CONFIG`` points. The file is a
plain strategy file, one ``[strategy.NAME]`` table per profile and ``current = "NAME"``, so
:func:`ksef_auth.load` reads it as it is::

    from ksef_auth.profiles import ProfileStore

    strategy = ProfileStore.default().strategy()        # KSEF2_PROFILE, else the current one
    token = strategy.token()

``KSEF2_PROFILE`` overrides the file's ``current`` profile. The file is written atomically and
only its owner may read it (0600).
"""

from __future__ import annotations

import json
import os
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth.errors import ConfigError
from ksef_auth.files import write_private
from ksef_auth.model import ContextIdentifier, Environment

if TYPE_CHECKING:
    from ksef_auth.config import Config
    from ksef_auth.manager import PluginManager
    from ksef_auth.strategy import Strategy

CONFIG_ENV = "KSEF2_CONFIG"
PROFILE_ENV = "KSEF2_PROFILE"
FILE_NAME = "profiles.toml"

_NAME_CHARS = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_.")

_HEADER = (
    "# ksef-auth profiles: a strategy file (load it with ksef_auth.load(path)).\n"
    "# Written by `ksef-auth profile`; it holds no secret, only the names of the variables\n"
    "# and files that do.\n"
)


def default_path() -> Path:
    """``$KSEF2_CONFIG``, else ``profiles.toml`` in the platform's user config directory."""
    explicit = os.environ.get(CONFIG_ENV)
    if explicit:
        return Path(explicit).expanduser()
    import platformdirs

    return Path(platformdirs.user_config_dir("ksef-auth")) / FILE_NAME


def check_name(name: str) -> str:
    """A profile name: letters, digits, ``-``, ``_`` and ``.``; raises ``ValueError`` otherwise."""
    if not name or not set(name) <= _NAME_CHARS:
        raise ValueError(
            f"profile name {name!r} must be letters, digits, '-', '_' or '.' (like prod-token)"
        )
    return name


@attrs.frozen
class Profile:
    """One profile: where to log in, as whom, with what, and where the session is kept.

    ``credential``, ``signer`` and ``store`` are written exactly as in a strategy file
    (``{ use = "env", var = "KSEF2_TOKEN" }``, ``"ksef-token"``, ``"file"``). Build one with the
    helpers: :meth:`token`, :meth:`pem`, :meth:`pkcs12`, :meth:`test_certificate`,
    :meth:`source`.
    """

    environment: str
    nip: str
    credential: Any
    signer: Any
    store: Any = None
    description: str | None = None

    def __attrs_post_init__(self) -> None:
        try:
            Environment.of(self.environment)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None
        try:
            object.__setattr__(self, "nip", ContextIdentifier.nip(self.nip).value)
        except ValueError as exc:
            raise ConfigError(str(exc)) from None

    # --- building ---------------------------------------------------------------------------------

    @classmethod
    def token(
        cls, environment: str, nip: str, *, token_env: str = "KSEF2_TOKEN", **kwargs: Any
    ) -> Profile:
        """A KSeF token read from the environment variable ``token_env`` at login."""
        return cls(environment, nip, {"use": "env", "var": token_env}, "ksef-token", **kwargs)

    @classmethod
    def pem(
        cls,
        environment: str,
        nip: str,
        *,
        certificate: str | os.PathLike[str],
        key: str | os.PathLike[str],
        password_env: str | None = None,
        **kwargs: Any,
    ) -> Profile:
        """A certificate and private key in PEM files (key password from ``password_env``)."""
        credential: dict[str, Any] = {
            "use": "pem",
            "certificate": _absolute(certificate),
            "key": _absolute(key),
        }
        if password_env:
            credential["password"] = {"env": password_env}
        return cls(environment, nip, credential, "xades", **kwargs)

    @classmethod
    def pkcs12(
        cls,
        environment: str,
        nip: str,
        *,
        path: str | os.PathLike[str],
        password_env: str | None = "KSEF2_P12_PASSWORD",
        **kwargs: Any,
    ) -> Profile:
        """A PKCS#12 (.p12/.pfx) file (password from ``password_env``)."""
        credential: dict[str, Any] = {"use": "pkcs12", "path": _absolute(path)}
        if password_env:
            credential["password"] = {"env": password_env}
        return cls(environment, nip, credential, "xades", **kwargs)

    @classmethod
    def test_certificate(
        cls,
        environment: str,
        nip: str,
        *,
        directory: str | os.PathLike[str] | None = None,
        **kwargs: Any,
    ) -> Profile:
        """A self-signed test seal for the NIP, kept in ``directory`` (default: beside the
        profiles file, in ``test-certificates/``) so it stays the same across runs."""
        where = directory if directory is not None else default_path().parent / "test-certificates"
        credential = {"use": "test-certificate", "directory": _absolute(where)}
        return cls(environment, nip, credential, "xades", **kwargs)

    @classmethod
    def source(
        cls, environment: str, nip: str, name: str, *, signer: str = "ksef-token", **kwargs: Any
    ) -> Profile:
        """Any installed credential source by name, with its default options."""
        return cls(environment, nip, name, signer, **kwargs)

    # --- reading and writing ----------------------------------------------------------------------

    @property
    def credential_name(self) -> str:
        """The credential source's name (the first of a chain)."""
        return _use(self.credential[0] if isinstance(self.credential, list) else self.credential)

    @property
    def signer_name(self) -> str:
        return _use(self.signer)

    @property
    def store_name(self) -> str:
        return _use(self.store) if self.store is not None else "memory"

    @property
    def environment_url(self) -> str:
        return Environment.of(self.environment).base_url

    def to_table(self) -> dict[str, Any]:
        """The ``[strategy.NAME]`` table of this profile."""
        table: dict[str, Any] = {
            "environment": self.environment,
            "context": {"nip": self.nip},
            "credential": self.credential,
            "signer": self.signer,
        }
        if self.store is not None:
            table["store"] = self.store
        if self.description:
            table["description"] = self.description
        return table

    @classmethod
    def from_table(
        cls, table: Mapping[str, Any], defaults: Mapping[str, Any] | None = None
    ) -> Profile:
        """A profile from a strategy table (merged over ``[defaults]``); ConfigError if it is
        not one a profile can describe (a context given by reference, say)."""
        merged = {**dict(defaults or {}), **dict(table)}
        context = merged.get("context")
        if isinstance(context, Mapping) and set(context) == {"nip"}:
            context = context["nip"]
        if isinstance(context, Mapping) and context.get("type") in ("Nip", "nip"):
            context = context.get("value")
        if not isinstance(context, str):
            raise ConfigError("context is not a plain NIP")
        environment = merged.get("environment")
        if not isinstance(environment, str):
            raise ConfigError("environment is not a plain name or URL")
        for key in ("credential", "signer"):
            if key not in merged:
                raise ConfigError(f"{key} is missing")
        return cls(
            environment,
            context,
            merged["credential"],
            merged["signer"],
            merged.get("store"),
            merged.get("description"),
        )

    def summary(self) -> dict[str, Any]:
        """A JSON-able description (no secret can be in a profile, so all of it)."""
        return {
            "environment": self.environment,
            "base_url": self.environment_url,
            "nip": self.nip,
            "credential": self.credential,
            "signer": self.signer,
            "store": self.store if self.store is not None else "memory",
            "description": self.description,
        }


def _use(spec: Any) -> str:
    if isinstance(spec, Mapping):
        return str(spec.get("use", "?"))
    return str(spec)


def _absolute(path: str | os.PathLike[str]) -> str:
    return str(Path(path).expanduser().resolve())


class ProfileStore:
    """The profiles file: read, change and load it. ``ProfileStore.default()`` uses
    ``KSEF2_CONFIG`` or the platform's config directory; ``ProfileStore(path)`` any file."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path).expanduser()

    @classmethod
    def default(cls) -> ProfileStore:
        return cls(default_path())

    def __repr__(self) -> str:
        return f"ProfileStore({str(self.path)!r})"

    # --- reading ----------------------------------------------------------------------------------

    def read(self) -> dict[str, Any]:
        """The file's TOML as a dict (empty when the file does not exist yet)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"cannot read the profiles file: {exc.strerror}", source=str(self.path)
            ) from None
        try:
            return tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", source=str(self.path)) from None

    def names(self) -> list[str]:
        strategies = self.read().get("strategy", {})
        return list(strategies) if isinstance(strategies, Mapping) else []

    def profiles(self) -> dict[str, Profile]:
        """Every profile in the file (tables a profile cannot describe are left out)."""
        data = self.read()
        defaults = data.get("defaults", {})
        result = {}
        for name, table in dict(data.get("strategy", {})).items():
            try:
                result[name] = Profile.from_table(table, defaults)
            except (ConfigError, TypeError):
                continue
        return result

    def get(self, name: str) -> Profile:
        data = self.read()
        strategies = dict(data.get("strategy", {}))
        if name not in strategies:
            raise ConfigError(self._unknown(name, list(strategies)), source=str(self.path))
        try:
            return Profile.from_table(strategies[name], data.get("defaults", {}))
        except ConfigError as exc:
            raise ConfigError(
                f"strategy {name!r} is not a simple profile ({exc.reason})", source=str(self.path)
            ) from None

    def current(self) -> str | None:
        """``KSEF2_PROFILE`` when set, else the file's ``current``, else its only profile."""
        chosen = os.environ.get(PROFILE_ENV)
        if chosen:
            return chosen
        data = self.read()
        current = data.get("current")
        if isinstance(current, str):
            return current
        names = list(dict(data.get("strategy", {})))
        return names[0] if len(names) == 1 else None

    def resolve(self, name: str | None = None) -> str:
        """The profile to use: ``name``, else :meth:`current`; ConfigError saying what to do."""
        chosen = name or self.current()
        names = self.names()
        if chosen is None:
            if not names:
                raise ConfigError(
                    "no profiles yet; create one: ksef-auth profile create NAME --env test"
                    " --nip NIP --token-env KSEF2_TOKEN",
                    source=str(self.path),
                )
            raise ConfigError(
                f"several profiles ({', '.join(names)}) and none is current: pass --profile NAME,"
                f" set {PROFILE_ENV}, or run ksef-auth profile use NAME",
                source=str(self.path),
            )
        if chosen not in names:
            raise ConfigError(self._unknown(chosen, names), source=str(self.path))
        return chosen

    def _unknown(self, name: str, names: list[str]) -> str:
        known = ", ".join(names) if names else "none yet"
        return f"no profile named {name!r} (profiles: {known}); see ksef-auth profile list"

    # --- loading ----------------------------------------------------------------------------------

    def load(self, *, check: bool = True, manager: PluginManager | None = None) -> Config:
        """The file as a :class:`~ksef_auth.config.Config` (every profile built and checked)."""
        from ksef_auth.config import load

        if not self.path.exists():
            self.resolve(None)  # raises the "no profiles yet" error
        return load(self.path, check=check, manager=manager)

    def strategy(
        self, name: str | None = None, *, check: bool = True, manager: PluginManager | None = None
    ) -> Strategy:
        """The :class:`~ksef_auth.strategy.Strategy` of profile ``name`` (default: current).

        Only that profile is built and checked, so a broken neighbour does not get in the way.
        """
        from ksef_auth.config import Config
        from ksef_auth.manager import default_manager

        chosen = self.resolve(name)
        data = self.read()
        single = {
            "strategy": {chosen: data["strategy"][chosen]},
            **({"defaults": data["defaults"]} if "defaults" in data else {}),
        }
        config = Config(
            single, str(self.path), self.path.parent, manager or default_manager(), check
        )
        return config.strategy(chosen)

    # --- writing ----------------------------------------------------------------------------------

    def save(
        self, name: str, profile: Profile, *, activate: bool = False, overwrite: bool = False
    ) -> None:
        """Add (or with ``overwrite``, replace) profile ``name``; ``activate`` makes it current.
        The first profile in a file becomes current."""
        check_name(name)
        data = self.read()
        strategies = dict(data.get("strategy", {}))
        if name in strategies and not overwrite:
            raise ConfigError(
                f"profile {name!r} exists; delete it first or pass --force", source=str(self.path)
            )
        strategies[name] = profile.to_table()
        data["strategy"] = strategies
        if activate or not isinstance(data.get("current"), str):
            data["current"] = name
        self._write(data)

    def use(self, name: str) -> None:
        """Make ``name`` the current profile."""
        data = self.read()
        names = list(dict(data.get("strategy", {})))
        if name not in names:
            raise ConfigError(self._unknown(name, names), source=str(self.path))
        data["current"] = name
        self._write(data)

    def delete(self, name: str) -> None:
        """Remove profile ``name`` (the current one too: then no profile is current)."""
        data = self.read()
        strategies = dict(data.get("strategy", {}))
        if name not in strategies:
            raise ConfigError(self._unknown(name, list(strategies)), source=str(self.path))
        del strategies[name]
        data["strategy"] = strategies
        if data.get("current") == name:
            data.pop("current")
        if not strategies:
            data.pop("strategy")
        self._write(data)

    def _write(self, data: dict[str, Any]) -> None:
        write_private(self.path, _HEADER + dump_toml(data))


def dump_toml(data: Mapping[str, Any]) -> str:
    """The small TOML subset a strategy file needs: top-level keys, then one table per
    ``[defaults]`` and ``[strategy.NAME]``, with every nested value written inline."""
    lines = [f"{_key(k)} = {_inline(v)}" for k, v in data.items() if not isinstance(v, Mapping)]
    for key, value in data.items():
        if not isinstance(value, Mapping):
            continue
        nested = {k: v for k, v in value.items() if isinstance(v, Mapping) and key == "strategy"}
        plain = {k: v for k, v in value.items() if k not in nested}
        if plain or not nested:
            lines += ["", f"[{_key(key)}]"]
            lines += [f"{_key(k)} = {_inline(v)}" for k, v in plain.items()]
        for name, table in nested.items():
            lines += ["", f"[{_key(key)}.{_key(name)}]"]
            lines += [f"{_key(k)} = {_inline(v)}" for k, v in table.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def _key(key: str) -> str:
    bare = key and all(c.isascii() and (c.isalnum() or c in "-_") for c in key)
    return key if bare else json.dumps(key, ensure_ascii=False)


def _inline(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, Mapping):
        items = ", ".join(f"{_key(str(k))} = {_inline(v)}" for k, v in value.items())
        return f"{{ {items} }}" if items else "{}"
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_inline(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to a profiles file")
