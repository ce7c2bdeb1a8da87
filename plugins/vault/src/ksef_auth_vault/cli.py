"""``ksef-auth vault set|list|delete|rekey``: manage the local vault.

A secret is read from an environment variable (``--from-env VAR``), from stdin (``--stdin``) or
from a hidden, confirmed prompt, never from the command line, where it would end up in the shell
history and in ``ps``. No command prints a secret. Errors go through the core's CLI: exit 3 for
configuration (a malformed key), 4 for credentials (an entry that does not decrypt, a damaged
vault, a missing entry).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ksef_auth import NotAvailable, Secret, SecretRef
from ksef_auth_vault.vault import KEY_ENV, KINDS, PATH_ENV, Kind, Vault, check_name, default_path

F = TypeVar("F", bound=Callable[..., Any])


def vault_options(func: F) -> F:
    """``--path`` (env ``KSEF_AUTH_VAULT_PATH``), ``--key-env VAR`` and ``--key-file PATH``."""
    func = click.option(
        "--key-file",
        type=click.Path(dir_okay=False, path_type=Path),
        help="File holding the key(s) (default: $KSEF_AUTH_VAULT_KEY, else vault.key beside the"
        " vault).",
    )(func)
    func = click.option(
        "--key-env",
        metavar="VAR",
        help=f"Environment variable holding the key(s) (default: {KEY_ENV}).",
    )(func)
    return click.option(
        "--path",
        type=click.Path(dir_okay=False, path_type=Path),
        envvar=PATH_ENV,
        help=f"The vault file (default: the user data dir's ksef-auth/vault.json; env {PATH_ENV}).",
    )(func)


def open_vault(path: Path | None, key_env: str | None, key_file: Path | None) -> Vault:
    if key_env and key_file:
        raise click.UsageError("--key-env and --key-file exclude each other")
    key = None
    if key_env:
        key = SecretRef.env(key_env)
    elif key_file:
        key = SecretRef.file(key_file)
    return Vault(path if path is not None else default_path(), key)


def _name(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_name(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group("vault")
def vault() -> None:
    """Tokens kept encrypted on this machine, by name (credential source "vault")."""


@vault.command("set", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
@click.argument("name", callback=_name)
@click.option("--from-env", "from_env", metavar="VAR", help="Read the secret from this variable.")
@click.option("--stdin", "from_stdin", is_flag=True, help="Read the secret from standard input.")
@click.option(
    "--kind",
    type=click.Choice(KINDS),
    default="ksef-token",
    show_default=True,
    help="ksef-token for KSeF tokens, shared-secret for HMAC schemes.",
)
@vault_options
def set_entry(
    name: str,
    from_env: str | None,
    from_stdin: bool,
    kind: Kind,
    path: Path | None,
    key_env: str | None,
    key_file: Path | None,
) -> None:
    """Store (or replace) the secret NAME. Without --from-env or --stdin, prompt for it (hidden).

    Never give the secret as an argument: it would end up in the shell history.
    """
    if click.get_current_context().args:  # not echoed: it may be the secret itself
        raise click.UsageError(
            "unexpected arguments after NAME (not shown, in case one is the secret): a secret is"
            " never given on the command line, where it would stay in the shell history; use"
            " --from-env VAR, --stdin or the prompt"
        )
    if from_env and from_stdin:
        raise click.UsageError("--from-env and --stdin exclude each other")
    store = open_vault(path, key_env, key_file)
    if from_env:
        value = os.environ.get(from_env, "").strip()
        if not value:
            raise click.UsageError(f"environment variable {from_env} is not set or empty")
    elif from_stdin:
        value = sys.stdin.read().strip()
        if not value:
            raise click.UsageError("standard input was empty")
    else:
        what = "KSeF token" if kind == "ksef-token" else "shared secret"
        value = click.prompt(
            f"{what} for {name!r}", hide_input=True, confirmation_prompt=True
        ).strip()
    replaced = store.set(name, Secret(value), kind)
    verb = "replaced" if replaced else "stored"
    click.echo(f"{verb} {kind} {name!r} in {store.path} (key: {store.key_description()})")


@vault.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@vault_options
def list_entries(
    as_json: bool, path: Path | None, key_env: str | None, key_file: Path | None
) -> None:
    """Names, kinds, creation times, and whether the configured key opens each entry.

    Status: ok, wrong-key (stored with another key), altered (does not authenticate), no-key.
    """
    store = open_vault(path, key_env, key_file)
    infos = store.entries(with_status=True)
    if as_json:
        import json

        click.echo(json.dumps([info.to_dict() for info in infos], indent=2))
        return
    if not infos:
        click.echo(f"no entries in {store.path}")
        return
    width = max(len(info.name) for info in infos)
    for info in infos:
        click.echo(f"{info.name:<{width}}  {info.kind:<13}  {info.created}  {info.status}")


@vault.command("delete")
@click.argument("name", callback=_name)
@vault_options
def delete_entry(name: str, path: Path | None, key_env: str | None, key_file: Path | None) -> None:
    """Forget the secret NAME."""
    store = open_vault(path, key_env, key_file)
    if not store.delete(name):
        raise NotAvailable(f"no entry {name!r} in vault {store.path}")
    click.echo(f"deleted {name!r} from {store.path}")


@vault.command("rekey")
@click.option(
    "--new-key",
    is_flag=True,
    help="Generate a new key into vault.key first (only when the key lives there).",
)
@vault_options
def rekey(new_key: bool, path: Path | None, key_env: str | None, key_file: Path | None) -> None:
    """Re-encrypt every entry with the newest key.

    To rotate a key given in a variable: set it to "NEW,OLD", run rekey, then set it to "NEW".
    """
    store = open_vault(path, key_env, key_file)
    count = store.rekey(new_key=new_key)
    click.echo(f"re-encrypted {count} entr{'y' if count == 1 else 'ies'} with the newest key")
    if new_key:
        click.echo(f"{store.key_file} now holds the new key alone")
    elif count:
        click.echo(f"older keys in {store.key_description()} may now be dropped")
