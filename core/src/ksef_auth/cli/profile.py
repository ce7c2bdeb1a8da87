"""``ksef-auth profile``: create, list, show, use and delete profiles; what a command works on.

A profile holds non-secret settings and the *names* of the variables that hold secrets; the
profiles file is a strategy file (see :mod:`ksef_auth.profiles`). ``--config PATH`` (or
``KSEF2_CONFIG``) chooses the file, ``--profile NAME`` (or ``KSEF2_PROFILE``) the profile.
Without either, ``KSEF2_NIP`` set means the environment alone (:func:`target`): ``KSEF2_ENV``,
``KSEF2_NIP`` and ``KSEF2_TOKEN`` (or a certificate), as in a PaaS container.
"""

from __future__ import annotations

import difflib
import json
import logging
import os
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import attrs
import click

from ksef_auth.errors import ConfigError
from ksef_auth.model import ContextIdentifier, Environment
from ksef_auth.profiles import (
    CONFIG_ENV,
    PROFILE_ENV,
    Profile,
    ProfileStore,
    check_variable_name,
    looks_secret,
)

if TYPE_CHECKING:
    from ksef_auth.components import Registration
    from ksef_auth.manager import PluginManager
    from ksef_auth.strategy import Strategy

F = TypeVar("F", bound=Callable[..., Any])

log = logging.getLogger("ksef_auth.cli")

DEFAULT_CLI_STORE = "file"
ENV_TARGET = "env"
"""The name of the strategy built from the ``KSEF2_*`` variables alone."""


def config_option(func: F) -> F:
    """``--config PATH`` (env ``KSEF2_CONFIG``): the profiles file."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV,
        help=f"Profiles file (default: the platform's config dir; env {CONFIG_ENV}).",
    )(func)


def _complete_profiles(ctx: click.Context, param: click.Parameter, incomplete: str) -> list[str]:
    path = ctx.params.get("config_path")
    try:
        names = profile_store(path).names()
    except ConfigError:
        return []
    return [n for n in names if n.startswith(incomplete)]


def profile_option(func: F) -> F:
    """``--profile NAME`` (env ``KSEF2_PROFILE``)."""
    return click.option(
        "--profile",
        "profile_name",
        metavar="NAME",
        envvar=PROFILE_ENV,
        shell_complete=_complete_profiles,
        help=f"Profile to use (default: the current one; env {PROFILE_ENV}).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(func)


def profile_store(config_path: Path | None) -> ProfileStore:
    return ProfileStore(config_path) if config_path is not None else ProfileStore.default()


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


# --- what a command works on --------------------------------------------------------------------


@attrs.frozen
class Target:
    """A profile, or the ``KSEF2_*`` variables: a strategy table and where it came from."""

    name: str
    table: dict[str, Any]
    source: str
    """The profiles file, or ``<environment>``."""
    base_dir: Path | None = None

    @property
    def from_environment(self) -> bool:
        return self.source == "<environment>"

    @property
    def origin(self) -> str:
        if self.from_environment:
            return "the environment (KSEF2_ENV, KSEF2_NIP, KSEF2_TOKEN, ...)"
        return f"profile {self.name} ({self.source})"

    def strategy(self, *, check: bool = True, manager: PluginManager | None = None) -> Strategy:
        from ksef_auth.config import Config
        from ksef_auth.manager import default_manager

        manager = manager or default_manager()
        config = Config(
            {"strategy": {self.name: self.table}}, self.source, self.base_dir, manager, check
        )
        strategy = config.strategy(self.name)
        log.info(
            "using %s: %s on %s (%s); credential %s, signer %s, store %s",
            self.origin,
            strategy.context,
            strategy.environment.name,
            strategy.environment.base_url,
            manager.name_of("credential_source", strategy.credential),
            manager.name_of("signer", strategy.signer),
            manager.name_of("session_store", strategy.store),
        )
        return strategy


def default_store(manager: PluginManager | None = None) -> str:
    """``file`` (sessions kept between commands) when installed, else ``memory``."""
    from ksef_auth.manager import default_manager

    return (
        DEFAULT_CLI_STORE
        if _installed(manager or default_manager(), DEFAULT_CLI_STORE)
        else ("memory")
    )


def target(config_path: Path | None, profile_name: str | None) -> Target:
    """What a command works on: ``--profile``/``KSEF2_PROFILE``; else, when ``KSEF2_NIP`` is
    set, the environment alone; else the current profile."""
    if profile_name is None and os.environ.get("KSEF2_NIP"):
        from ksef_auth.shortcuts import environment_table

        table = environment_table()
        table["store"] = default_store()
        return Target(ENV_TARGET, table, "<environment>")
    profiles = profile_store(config_path)
    name = profiles.resolve(profile_name)
    data = profiles.read()
    table = {**dict(data.get("defaults", {})), **dict(data["strategy"][name])}
    return Target(name, table, str(profiles.path), profiles.path.parent)


# --- values given on the command line -----------------------------------------------------------


def _environment(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        Environment.of(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    return value


def _nip(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return ContextIdentifier.nip(value).value
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def variable_name(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback: ``value`` must be a variable's name, not the secret (never echoed)."""
    if value is None:
        return None
    try:
        return check_variable_name(value, "this option")
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def parse_assignments(
    values: tuple[str, ...], registration: Registration, flag: str
) -> dict[str, Any]:
    """``KEY=VALUE`` pairs as the options of ``registration``, converted to their types
    (``true``/``false``, numbers, comma-separated lists); secret options take ``env:VAR`` or
    ``file:PATH`` only, and a value given to them is refused without being shown."""
    label = f"{registration.name!r}"
    accepted = {o.name: o for o in registration.options}
    result: dict[str, Any] = {}
    for item in values:
        key, sep, raw = item.partition("=")
        key = key.strip()
        if not sep or not key:
            shown = "" if looks_secret(item) else f" (got {item!r})"
            raise click.BadParameter(f"write KEY=VALUE{shown}", param_hint=flag)
        option = accepted.get(key)
        if option is None:
            close = difflib.get_close_matches(key, list(accepted), n=2)
            hint = f"; did you mean {' or '.join(close)}?" if close else ""
            names = ", ".join(accepted) or "none"
            raise click.BadParameter(
                f"{label} has no option {key!r} (options: {names}){hint}", param_hint=flag
            )
        result[key] = _option_value(option.type, raw, option.secret, option.path, key, flag)
    return result


def _option_value(type_name: str, raw: str, secret: bool, path: bool, key: str, flag: str) -> Any:
    if secret:
        kind, _, ref = raw.partition(":")
        if kind == "env" and ref:
            try:
                return {"env": check_variable_name(ref, f"{key}=env:VAR")}
            except ValueError as exc:
                raise click.BadParameter(str(exc), param_hint=flag) from None
        if kind == "file" and ref:
            return {"file": str(Path(ref).expanduser().resolve())}
        raise click.BadParameter(
            f"option {key!r} is a secret: give env:VAR (a variable's name) or file:PATH; the"
            " value given was not saved and is not shown",
            param_hint=flag,
        )
    text = type_name.replace(" ", "")
    if _pasted_secret(raw, hex_allowed=path or text.startswith("bytes")):
        raise click.BadParameter(
            f"option {key!r} looks like a secret (a KSeF token, a JWT, a key, a URL with a"
            " password): it was not saved and is not shown; put the secret in a variable and"
            " give its name to the plugin's secret option (KEY=env:VAR)",
            param_hint=flag,
        )
    if text.startswith("bool"):
        lowered = raw.strip().lower()
        if lowered in ("true", "yes", "1", "on"):
            return True
        if lowered in ("false", "no", "0", "off"):
            return False
        raise click.BadParameter(f"option {key!r} is true or false", param_hint=flag)
    if text.startswith(("tuple[", "list[", "Sequence[", "Iterable[")):
        return [part.strip() for part in raw.split(",") if part.strip()]
    for number in (int, float):
        if text.startswith(number.__name__):
            try:
                return number(raw)
            except ValueError:
                raise click.BadParameter(
                    f"option {key!r} is a number, got {raw!r}", param_hint=flag
                ) from None
    if path:
        return str(Path(raw).expanduser().resolve())
    return raw


_URL_PASSWORD = re.compile(r"://[^/@\s]*:[^/@\s]+@")
_HEX_RUN = re.compile(r"[0-9A-Fa-f]{32,}")


def _pasted_secret(raw: str, hex_allowed: bool) -> bool:
    """A plain option's value that is a secret pasted in: a KSeF token, a JWT, a PEM block, a
    URL with a password in it, or (where hex is not expected) a long run of hex."""
    text = raw.strip()
    return (
        "|" in text
        or text.startswith("eyJ")
        or "-----BEGIN" in text
        or bool(_URL_PASSWORD.search(text))
        or (not hex_allowed and bool(_HEX_RUN.search(text)))
    )


def _spec(name: str, options: Mapping[str, Any]) -> Any:
    return {"use": name, **options} if options else name


# --- the commands -------------------------------------------------------------------------------


@click.group()
def profile() -> None:
    """Profiles: named settings (environment, NIP, credential) kept without secrets."""


@profile.command()
@click.argument("name")
@click.option(
    "--env",
    "environment",
    required=True,
    callback=_environment,
    metavar="test|demo|production|URL",
    help="KSeF environment, or the base URL of another (a local simulator).",
)
@click.option("--nip", required=True, callback=_nip, help="Context NIP (10 digits).")
@click.option(
    "--token-env",
    metavar="VAR",
    callback=variable_name,
    help="NAME of the variable holding a KSeF token (KSEF2_TOKEN), never the token.",
)
@click.option(
    "--pem",
    nargs=2,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="CERT KEY",
    help="Certificate and private key PEM files.",
)
@click.option("--p12", type=click.Path(dir_okay=False, path_type=Path), help="PKCS#12 file.")
@click.option("--test-cert", is_flag=True, help="A self-signed test seal (TEST and simulators).")
@click.option(
    "--credential",
    "sources",
    metavar="NAME",
    multiple=True,
    help="Any installed credential source; repeat it for a chain (tried in order).",
)
@click.option(
    "--opt",
    "credential_opts",
    metavar="KEY=VALUE",
    multiple=True,
    help="An option of the credential source (NAME.KEY=VALUE or N.KEY=VALUE in a chain);"
    " secrets as env:VAR or file:PATH.",
)
@click.option(
    "--key-password-env",
    metavar="VAR",
    callback=variable_name,
    help="NAME of the variable holding the PEM key's password, if any.",
)
@click.option(
    "--p12-password-env",
    metavar="VAR",
    default="KSEF2_P12_PASSWORD",
    show_default=True,
    callback=variable_name,
    help="NAME of the variable holding the PKCS#12 password.",
)
@click.option("--signer", metavar="NAME", help="Signer (default: ksef-token or xades).")
@click.option(
    "--signer-opt",
    "signer_opts",
    metavar="KEY=VALUE",
    multiple=True,
    help="An option of the signer (xades: namespace, subject_identifier, allowed_ips, ...).",
)
@click.option(
    "--store",
    metavar="NAME",
    help="Session store (default: file, the encrypted local store; else memory).",
)
@click.option(
    "--store-opt", "store_opts", metavar="KEY=VALUE", multiple=True, help="An option of the store."
)
@click.option("--description", help="A note shown by `profile list`.")
@click.option("--use", "activate", is_flag=True, help="Make it the current profile.")
@click.option("--force", is_flag=True, help="Replace a profile of the same name.")
@config_option
@json_option
def create(
    name: str,
    environment: str,
    nip: str,
    token_env: str | None,
    pem: tuple[Path, Path] | None,
    p12: Path | None,
    test_cert: bool,
    sources: tuple[str, ...],
    credential_opts: tuple[str, ...],
    key_password_env: str | None,
    p12_password_env: str,
    signer: str | None,
    signer_opts: tuple[str, ...],
    store: str | None,
    store_opts: tuple[str, ...],
    description: str | None,
    activate: bool,
    force: bool,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Create profile NAME with one credential option (or a chain of --credential).

    \b
    ksef-auth profile create shop --env test --nip 5261040828 --token-env KSEF2_TOKEN
    ksef-auth profile create seal --env production --nip 5261040828 --p12 seal.p12
    ksef-auth profile create lab --env test --nip 5261040828 --test-cert --opt key_type=ec
    ksef-auth profile create erp --env test --nip 5261040828 --credential vault --opt name=erp
    """
    chosen = [
        flag
        for flag, given in (
            ("--token-env", token_env),
            ("--pem", pem),
            ("--p12", p12),
            ("--test-cert", test_cert),
            ("--credential", sources),
        )
        if given
    ]
    if len(chosen) != 1:
        raise click.UsageError(
            "give exactly one of --token-env VAR, --pem CERT KEY, --p12 FILE, --test-cert,"
            f" --credential NAME (got {', '.join(chosen) or 'none'})"
        )
    from ksef_auth.manager import default_manager

    manager = default_manager()
    if store is None:
        store = default_store(manager)
        if store != DEFAULT_CLI_STORE:
            click.secho(
                "note: the encrypted file store is not installed (pip install ksef-auth-file);"
                " using memory, so each command logs in anew",
                fg="yellow",
                err=True,
            )
    options: dict[str, Any] = {"store": store, "description": description}
    if token_env:
        made = Profile.token(environment, nip, token_env=token_env, **options)
    elif pem:
        made = Profile.pem(
            environment,
            nip,
            certificate=pem[0],
            key=pem[1],
            password_env=key_password_env,
            **options,
        )
    elif p12:
        made = Profile.pkcs12(environment, nip, path=p12, password_env=p12_password_env, **options)
    elif test_cert:
        if not Environment.of(environment).accepts_test_certificates:
            raise click.BadParameter(
                "test certificates work only on test or a local simulator, not on"
                f" {environment}; use --pem or --p12 with a qualified certificate",
                param_hint="--test-cert",
            )
        directory = profile_store(config_path).path.parent / "test-certificates"
        made = Profile.test_certificate(environment, nip, directory=directory, **options)
    else:
        made = Profile.source(environment, nip, sources[0], **options)
    credential = _with_options(manager, made.credential, sources, credential_opts)
    signer_spec = _component_spec(manager, "signer", signer or made.signer_name, signer_opts)
    store_spec = _component_spec(manager, "session_store", made.store_name, store_opts)
    made = Profile(made.environment, made.nip, credential, signer_spec, store_spec, description)
    profiles = profile_store(config_path)
    unset: str | None = None
    try:  # every plugin installed and every option accepted, or exit 3 before anything is saved
        Target(name, made.to_table(), str(profiles.path), profiles.path.parent).strategy(
            check=False, manager=manager
        )
    except ConfigError as exc:
        if "is not set; set it" not in exc.reason:  # a secret's variable unset: only a note
            raise
        unset = f"{exc.key}: {exc.reason}" if exc.key else exc.reason
    profiles.save(name, made, activate=activate, overwrite=force)
    warning = f"{unset}; fix it before logging in" if unset else _load_warning(profiles, name)
    if as_json:
        emit_json(
            {
                "profile": name,
                "file": str(profiles.path),
                "current": profiles.current() == name,
                **made.summary(),
                "warning": warning,
            }
        )
        return
    click.echo(f"created profile {name} in {profiles.path}")
    if warning:
        click.secho(f"note: {warning}", fg="yellow", err=True)
    if profiles.current() == name:
        click.echo(f"{name} is the current profile; try: ksef-auth login")


def _component_spec(manager: PluginManager, kind: str, name: str, values: tuple[str, ...]) -> Any:
    registration = manager.get(kind, name)  # type: ignore[arg-type]  # PluginNotFound: exit 3
    flag = {"signer": "--signer-opt", "session_store": "--store-opt"}[kind]
    return _spec(name, parse_assignments(values, registration, flag))


def _with_options(
    manager: PluginManager, base: Any, sources: tuple[str, ...], values: tuple[str, ...]
) -> Any:
    """The credential spec with ``--opt`` applied: one source, or a chain of ``--credential``."""
    if len(sources) > 1:
        per: list[list[str]] = [[] for _ in sources]
        for item in values:
            prefix, dot, rest = item.partition(".")
            index = _chain_index(prefix, sources) if dot and "=" not in prefix else None
            if index is None:
                raise click.BadParameter(
                    "in a chain, write NAME.KEY=VALUE (a source's name) or N.KEY=VALUE (its"
                    " position, from 1)",
                    param_hint="--opt",
                )
            per[index].append(rest)
        return [
            _spec(
                source,
                parse_assignments(tuple(items), manager.get("credential_source", source), "--opt"),
            )
            for source, items in zip(sources, per, strict=True)
        ]
    spec = dict(base) if isinstance(base, Mapping) else {"use": str(base)}
    name = str(spec.pop("use"))
    registration = manager.get("credential_source", name)
    given = parse_assignments(values, registration, "--opt")
    return _spec(name, {**spec, **given})


def _chain_index(prefix: str, sources: tuple[str, ...]) -> int | None:
    if prefix.isdigit():
        index = int(prefix) - 1
        return index if 0 <= index < len(sources) else None
    matches = [i for i, s in enumerate(sources) if s == prefix]
    return matches[0] if len(matches) == 1 else None


def _installed(manager: PluginManager, name: str) -> bool:
    try:
        manager.get("session_store", name)
    except ConfigError:
        return False
    return True


def _load_warning(profiles: ProfileStore, name: str) -> str | None:
    """Why the profile would not load right now (a variable not set yet), or None."""
    try:
        profiles.strategy(name, check=True)
    except ConfigError as exc:
        return f"{exc.reason}; fix it before logging in"
    return None


@profile.command("list")
@config_option
@json_option
def list_(config_path: Path | None, as_json: bool) -> None:
    """List profiles; the current one is marked with *."""
    profiles = profile_store(config_path)
    current = profiles.current()
    found = profiles.profiles()
    if as_json:
        emit_json(
            {
                "file": str(profiles.path),
                "format": profiles.foreign or "ksef-auth",
                "current": current,
                "profiles": [
                    {"name": n, "current": n == current, **p.summary()} for n, p in found.items()
                ],
            }
        )
        return
    if not found:
        click.echo(f"no profiles in {profiles.path}; create one with: ksef-auth profile create")
        return
    if profiles.foreign:
        click.echo(f"{profiles.path}: a {profiles.foreign} config (read only)", err=True)
    width = max(len(n) for n in found)
    for name, item in found.items():
        mark = "*" if name == current else " "
        line = (
            f"{mark} {name:<{width}}  {item.environment:<10} {item.nip}  "
            f"{item.credential_name} + {item.signer_name}  store: {item.store_name}"
        )
        click.secho(line, bold=name == current)


@profile.command()
@click.argument("name", required=False)
@config_option
@json_option
def show(name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Show profile NAME (default: the current one)."""
    profiles = profile_store(config_path)
    chosen = profiles.resolve(name)
    item = profiles.get(chosen)
    summary = {"profile": chosen, "file": str(profiles.path), **item.summary()}
    if as_json:
        emit_json(summary)
        return
    for key, value in summary.items():
        if value is None:
            continue
        shown = value if isinstance(value, str) else json.dumps(value)
        click.echo(f"{key + ':':<13}{shown}")


@profile.command()
@click.argument("name")
@config_option
def use(name: str, config_path: Path | None) -> None:
    """Make NAME the current profile."""
    profiles = profile_store(config_path)
    profiles.use(name)
    click.echo(f"current profile: {name}")


@profile.command()
@config_option
@json_option
def current(config_path: Path | None, as_json: bool) -> None:
    """Print the current profile's name (KSEF2_PROFILE wins over the file)."""
    profiles = profile_store(config_path)
    name = profiles.resolve(None)
    origin = PROFILE_ENV if os.environ.get(PROFILE_ENV) else str(profiles.path)
    if as_json:
        emit_json({"profile": name, "from": origin})
        return
    click.echo(name)


@profile.command()
@click.argument("name")
@config_option
def delete(name: str, config_path: Path | None) -> None:
    """Delete profile NAME (its stored session stays until it expires; logout first to end it)."""
    profiles = profile_store(config_path)
    profiles.delete(name)
    click.echo(f"deleted profile {name}")
