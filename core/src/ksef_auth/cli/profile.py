"""``ksef-auth profile``: create, list, show, use and delete profiles.

A profile holds non-secret settings and the *names* of the variables that hold secrets; the
profiles file is a strategy file (see :mod:`ksef_auth.profiles`). ``--config PATH`` (or
``KSEF2_CONFIG``) chooses the file, ``--profile NAME`` (or ``KSEF2_PROFILE``) the profile.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ksef_auth.errors import ConfigError
from ksef_auth.model import ContextIdentifier, Environment
from ksef_auth.profiles import CONFIG_ENV, PROFILE_ENV, Profile, ProfileStore

F = TypeVar("F", bound=Callable[..., Any])

DEFAULT_CLI_STORE = "file"


def config_option(func: F) -> F:
    """``--config PATH`` (env ``KSEF2_CONFIG``): the profiles file."""
    return click.option(
        "--config",
        "config_path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=CONFIG_ENV,
        help=f"Profiles file (default: the platform's config dir; env {CONFIG_ENV}).",
    )(func)


def profile_option(func: F) -> F:
    """``--profile NAME`` (env ``KSEF2_PROFILE``)."""
    return click.option(
        "--profile",
        "profile_name",
        metavar="NAME",
        envvar=PROFILE_ENV,
        help=f"Profile to use (default: the current one; env {PROFILE_ENV}).",
    )(func)


def json_option(func: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")(func)


def profile_store(config_path: Path | None) -> ProfileStore:
    return ProfileStore(config_path) if config_path is not None else ProfileStore.default()


def emit_json(data: Any) -> None:
    click.echo(json.dumps(data, indent=2, default=str))


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
@click.option("--token-env", metavar="VAR", help="Variable holding a KSeF token (KSEF2_TOKEN).")
@click.option(
    "--pem",
    nargs=2,
    type=click.Path(dir_okay=False, path_type=Path),
    metavar="CERT KEY",
    help="Certificate and private key PEM files.",
)
@click.option("--p12", type=click.Path(dir_okay=False, path_type=Path), help="PKCS#12 file.")
@click.option("--test-cert", is_flag=True, help="A self-signed test seal (TEST and simulators).")
@click.option("--credential", "source", metavar="NAME", help="Any installed credential source.")
@click.option(
    "--key-password-env", metavar="VAR", help="Variable holding the PEM key's password, if any."
)
@click.option(
    "--p12-password-env",
    metavar="VAR",
    default="KSEF2_P12_PASSWORD",
    show_default=True,
    help="Variable holding the PKCS#12 password.",
)
@click.option("--signer", metavar="NAME", help="Signer (default: ksef-token or xades).")
@click.option(
    "--store",
    metavar="NAME",
    help="Session store (default: file, the encrypted local store; else memory).",
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
    source: str | None,
    key_password_env: str | None,
    p12_password_env: str,
    signer: str | None,
    store: str | None,
    description: str | None,
    activate: bool,
    force: bool,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Create profile NAME with exactly one credential option.

    \b
    ksef-auth profile create shop --env test --nip 5261040828 --token-env KSEF2_TOKEN
    ksef-auth profile create seal --env production --nip 5261040828 --p12 seal.p12
    ksef-auth profile create lab --env test --nip 5261040828 --test-cert
    """
    chosen = [
        flag
        for flag, given in (
            ("--token-env", token_env),
            ("--pem", pem),
            ("--p12", p12),
            ("--test-cert", test_cert),
            ("--credential", source),
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
        store = (
            DEFAULT_CLI_STORE if _installed(manager, "session_store", DEFAULT_CLI_STORE) else None
        )
        if store is None:
            store = "memory"
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
        assert source is not None
        made = Profile.source(environment, nip, source, **options)
    if signer:
        made = Profile(
            made.environment, made.nip, made.credential, signer, made.store, made.description
        )
    for kind, plugin in (
        ("credential_source", made.credential_name),
        ("signer", made.signer_name),
        ("session_store", made.store_name),
    ):
        manager.get(kind, plugin)  # type: ignore[arg-type]  # PluginNotFound -> exit 3
    profiles = profile_store(config_path)
    profiles.save(name, made, activate=activate, overwrite=force)
    warning = _load_warning(profiles, name)
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


def _installed(manager: Any, kind: str, name: str) -> bool:
    try:
        manager.get(kind, name)
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
    import os

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
