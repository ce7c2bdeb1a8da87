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

A ksef2-cli config (``active_profile`` and ``[profiles.NAME]`` with an ``auth`` table) is read
as it is, so ``KSEF2_CONFIG`` may point at one: its profiles work, but ksef-auth never writes
that file (creating, switching or deleting a profile there is refused with what to do instead).

Names of variables are checked (:func:`check_variable_name`): a secret pasted where the name of
its variable belongs is refused, and never repeated in the message.
"""

from __future__ import annotations

import difflib
import json
import os
import re
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
_VARIABLE = re.compile(r"[A-Za-z_][A-Za-z0-9_]{0,127}")
_HEXISH = re.compile(r"[0-9A-Fa-f]{32,}")
SHOWN_NAMES = 10
"""An unknown profile's error lists every name only when there are at most this many."""
FOREIGN_FORMAT = "ksef2-cli"

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


def looks_secret(value: str) -> bool:
    """True when ``value`` looks like a secret rather than a name: a KSeF token (``ref|nip-...|
    hex``), a JWT, a PEM block, a long run of hex, or anything with spaces or punctuation."""
    text = value.strip()
    return (
        "|" in text
        or text.startswith("eyJ")
        or "-----BEGIN" in text
        or bool(_HEXISH.search(text))
        or len(text) > 128
    )


def check_variable_name(value: str, option: str = "the variable name") -> str:
    """``value`` when it is an environment variable's name (``KSEF2_TOKEN``); ``ValueError``
    otherwise, **without repeating the value**: a value that is not a name is most often the
    secret itself, pasted where the name of its variable belongs."""
    plain = re.sub(r"\{(nip|context|context_type|environment)\}", "X", value)
    if _VARIABLE.fullmatch(plain) and not looks_secret(value):
        return value
    what = "looks like a secret (a KSeF token, a JWT, a key or a password)"
    if not looks_secret(value) and value.strip() and " " not in value.strip():
        what = "is not a variable name (letters, digits and _, not starting with a digit)"
    raise ValueError(
        f"{option} takes the NAME of an environment variable, such as KSEF2_TOKEN, and the value"
        f" given {what}: it was not saved and is not shown. Put the secret in a variable"
        f" (export KSEF2_TOKEN=...) and pass its name"
    )


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
        _checked_name(token_env, "token_env")
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
            credential["password"] = {"env": _checked_name(password_env, "password_env")}
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
            credential["password"] = {"env": _checked_name(password_env, "password_env")}
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
        """The credential source's name (the first of a chain; a rotation's primary, marked)."""
        spec = self.credential
        if isinstance(spec, Mapping) and set(spec) == {"primary", "secondary"}:
            return f"{_use(spec['primary'])} (rotating from {_use(spec['secondary'])})"
        return _use(spec[0] if isinstance(spec, list) else spec)

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


def _checked_name(value: str, option: str) -> str:
    try:
        return check_variable_name(value, option)
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


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
        """The file's TOML as a dict (empty when the file does not exist yet); a ksef2-cli
        config comes back translated into strategy tables (see :attr:`foreign`)."""
        try:
            text = self.path.read_text(encoding="utf-8")
        except FileNotFoundError:
            return {}
        except OSError as exc:
            raise ConfigError(
                f"cannot read the profiles file: {exc.strerror}", source=str(self.path)
            ) from None
        try:
            data = tomllib.loads(text)
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"not valid TOML: {exc}", source=str(self.path)) from None
        if _is_ksef2_cli(data):
            return _from_ksef2_cli(data)
        return data

    @property
    def foreign(self) -> str | None:
        """``"ksef2-cli"`` when the file is a ksef2-cli config (read, never written), else None."""
        try:
            text = self.path.read_text(encoding="utf-8")
            return FOREIGN_FORMAT if _is_ksef2_cli(tomllib.loads(text)) else None
        except (OSError, tomllib.TOMLDecodeError):
            return None

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
                    " --nip NIP --token-env KSEF2_TOKEN, or work from the environment alone:"
                    " export KSEF2_NIP=NIP KSEF2_TOKEN=... (and KSEF2_ENV)"
                    + _ksef2_cli_hint(self.path),
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
        return unknown_name("profile", name, names, "ksef-auth profile list")

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
        if self.foreign is not None:
            raise ConfigError(
                f"this is a {self.foreign} config: ksef-auth uses its profiles but never changes"
                " the file. Create ksef-auth profiles in a file of their own: pass --config"
                f" PATH, or unset {CONFIG_ENV} to use {_own_default()}",
                source=str(self.path),
            )
        write_private(self.path, _HEADER + dump_toml(data))


def unknown_name(kind: str, name: str, names: list[str], listing: str) -> str:
    """``no KIND named 'x'`` with the close matches and, for few names, all of them: short
    even among thousands of names."""
    if not names:
        return f"no {kind} named {name!r} ({kind}s: none yet)"
    close = close_matches(name, names)
    few = len(names) <= SHOWN_NAMES
    known = f"{kind}s: {', '.join(names)}" if few else f"{len(names)} {kind}s"
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else ""
    return f"no {kind} named {name!r} ({known}){hint}; see {listing}"


_CONFUSABLE = str.maketrans({"o": "0", "l": "1", "i": "1", "_": "-", ".": "-"})


def _fold(text: str) -> str:
    return text.lower().translate(_CONFUSABLE)


def close_matches(name: str, names: list[str], n: int = 3, cutoff: float = 0.6) -> list[str]:
    """The names most like ``name``, case and look-alike characters (O and 0, l and 1, _ and
    -) folded, so ``client-0O42`` suggests ``client-0042`` first; ties go to the longest common
    start. Fast enough for thousands of names."""
    folded = _fold(name)
    matcher = difflib.SequenceMatcher(b=folded)
    scored = []
    for candidate in names:
        matcher.set_seq1(_fold(candidate))
        if matcher.real_quick_ratio() < cutoff or matcher.quick_ratio() < cutoff:
            continue
        ratio = matcher.ratio()
        if ratio >= cutoff:
            prefix = len(os.path.commonprefix([_fold(candidate), folded]))
            scored.append((-ratio, -prefix, candidate))
    return [candidate for *_, candidate in sorted(scored)[:n]]


def _own_default() -> Path:
    import platformdirs

    return Path(platformdirs.user_config_dir("ksef-auth")) / FILE_NAME


# --- ksef2-cli's config (read only) -------------------------------------------------------------


def _is_ksef2_cli(data: Mapping[str, Any]) -> bool:
    return "strategy" not in data and (
        isinstance(data.get("profiles"), Mapping) or "active_profile" in data
    )


def _from_ksef2_cli(data: Mapping[str, Any]) -> dict[str, Any]:
    """A ksef2-cli config as strategy tables; a profile that cannot be translated keeps a
    ``"?"`` credential whose error says why."""
    strategies: dict[str, Any] = {}
    for name, profile in dict(data.get("profiles") or {}).items():
        strategies[name] = _ksef2_profile(profile) if isinstance(profile, Mapping) else {}
    result: dict[str, Any] = {"strategy": strategies}
    active = data.get("active_profile")
    if isinstance(active, str) and active in strategies:
        result["current"] = active
    return result


def _ksef2_profile(profile: Mapping[str, Any]) -> dict[str, Any]:
    auth = profile.get("auth")
    auth = dict(auth) if isinstance(auth, Mapping) else {}
    kind = auth.get("type")
    table: dict[str, Any] = {
        "environment": profile.get("environment"),
        "context": {"nip": str(profile.get("nip", ""))},
        "description": f"ksef2-cli profile ({kind or 'no auth type'})",
    }
    if auth.get("context_type") not in (None, "nip", "Nip"):
        table["context"] = {"type": auth["context_type"], "value": str(profile.get("nip", ""))}
    if kind == "token":
        table["credential"] = {"use": "env", "var": str(auth.get("token_env") or "KSEF2_TOKEN")}
        table["signer"] = "ksef-token"
    elif kind == "test_certificate":
        table["credential"] = {
            "use": "test-certificate",
            "directory": str(_own_default().parent / "test-certificates"),
        }
        table["signer"] = "xades"
    elif kind == "xades_pem":
        credential: dict[str, Any] = {
            "use": "pem",
            "certificate": _expand(auth.get("cert")),
            "key": _expand(auth.get("key")),
        }
        if auth.get("key_password_env"):
            credential["password"] = {"env": str(auth["key_password_env"])}
        table["credential"], table["signer"] = credential, "xades"
    elif kind == "xades_p12":
        credential = {"use": "pkcs12", "path": _expand(auth.get("p12"))}
        if auth.get("p12_password_env"):
            credential["password"] = {"env": str(auth["p12_password_env"])}
        table["credential"], table["signer"] = credential, "xades"
    return table  # an unknown auth type: no credential, so the profile is reported unusable


def _expand(value: Any) -> str:
    return str(Path(str(value)).expanduser()) if value else ""


def _ksef2_cli_hint(path: Path) -> str:
    """A pointer to ksef2-cli's config when one exists at its default place."""
    config_home = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    for folder in ("ksef2", "ksef2-cli"):
        candidate = config_home / folder / "config.toml"
        if candidate.is_file() and candidate != path:
            return (
                f"; ksef2-cli profiles found in {candidate}: use them with {CONFIG_ENV}={candidate}"
            )
    return ""


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
