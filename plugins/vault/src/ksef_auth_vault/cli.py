"""``ksef-auth vault set|list|delete|rekey``: manage the local vault.

A secret is read from an environment variable (``--from-env VAR``), from stdin (``--stdin``) or
from a hidden, confirmed prompt, never from the command line, where it would end up in the shell
history and in ``ps``. A certificate and its key come from files (``--p12 FILE``, or
``--certificate FILE --key FILE``), their password from ``--password-env VAR``,
``--password-stdin`` or a hidden prompt. No command prints a secret. Errors go through the
core's CLI: exit 3 for configuration (a malformed key), 4 for credentials (an entry that does not
decrypt, a damaged vault, a missing entry, a wrong password).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

import click

from ksef_auth import NotAvailable, Secret, SecretRef, WrongPassword
from ksef_auth.files import read_credential_file
from ksef_auth_vault.vault import (
    KEY_ENV,
    PATH_ENV,
    TOKEN_KINDS,
    Kind,
    Vault,
    check_name,
    default_path,
)

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
    type=click.Choice(TOKEN_KINDS),
    default="ksef-token",
    show_default=True,
    help="ksef-token for KSeF tokens, shared-secret for HMAC schemes.",
)
@click.option(
    "--p12",
    "p12",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Store the certificate, key and chain of this PKCS#12 file (.p12/.pfx).",
)
@click.option(
    "--certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Store this certificate (PEM or DER; a PEM file may hold the chain and the key too).",
)
@click.option(
    "--key",
    "key_path",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="The private key of --certificate (PEM or DER), when it is in a file of its own.",
)
@click.option(
    "--password-env",
    metavar="VAR",
    help="Read the PKCS#12 (or encrypted key) password from this variable.",
)
@click.option(
    "--password-stdin", is_flag=True, help="Read the PKCS#12 (or key) password from stdin."
)
@vault_options
def set_entry(
    name: str,
    from_env: str | None,
    from_stdin: bool,
    kind: Kind,
    p12: Path | None,
    certificate: Path | None,
    key_path: Path | None,
    password_env: str | None,
    password_stdin: bool,
    path: Path | None,
    key_env: str | None,
    key_file: Path | None,
) -> None:
    """Store (or replace) the secret NAME. Without --from-env or --stdin, prompt for it (hidden).

    With --p12 FILE (or --certificate FILE [--key FILE]) store a certificate and its key instead;
    the password comes from --password-env, --password-stdin or a hidden prompt.

    Never give the secret as an argument: it would end up in the shell history.
    """
    if click.get_current_context().args:  # not echoed: it may be the secret itself
        raise click.UsageError(
            "unexpected arguments after NAME (not shown, in case one is the secret): a secret is"
            " never given on the command line, where it would stay in the shell history; use"
            " --from-env VAR, --stdin or the prompt"
        )
    store = open_vault(path, key_env, key_file)
    if p12 is not None or certificate is not None:
        if from_env or from_stdin:
            raise click.UsageError("--from-env and --stdin are for tokens; use --password-*")
        _set_certificate(store, name, p12, certificate, key_path, password_env, password_stdin)
        return
    if key_path is not None or password_env or password_stdin:
        raise click.UsageError("--key and --password-* go with --p12 or --certificate")
    if from_env and from_stdin:
        raise click.UsageError("--from-env and --stdin exclude each other")
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


def _set_certificate(
    store: Vault,
    name: str,
    p12: Path | None,
    certificate: Path | None,
    key_path: Path | None,
    password_env: str | None,
    password_stdin: bool,
) -> None:
    if p12 is not None and (certificate is not None or key_path is not None):
        raise click.UsageError("--p12 excludes --certificate and --key")
    if password_env and password_stdin:
        raise click.UsageError("--password-env and --password-stdin exclude each other")
    given = password_env is not None or password_stdin
    if password_env:
        origin = f"environment variable {password_env}"
    else:
        origin = "standard input" if password_stdin else "the prompt"

    def password(what: str) -> Secret | None:
        if password_env:
            if password_env not in os.environ:
                raise click.UsageError(f"environment variable {password_env} is not set")
            return Secret(os.environ[password_env])
        if password_stdin:
            return Secret(sys.stdin.readline().rstrip("\r\n"))
        text = click.prompt(
            f"password of {what} (empty: none)", hide_input=True, default="", show_default=False
        )
        return Secret(text) if text else None

    if p12 is not None:
        where = f"PKCS#12 file {p12}"
        data = read_credential_file(p12, "PKCS#12 file")
        replaced = store.set_pkcs12(
            name, data, password(str(p12)), where=where, password_origin=origin
        )
    else:
        assert certificate is not None
        where = f"certificate file {certificate}"
        data = read_credential_file(certificate, "certificate file")
        key = read_credential_file(key_path, "key file") if key_path is not None else None
        key_name = str(key_path or certificate)
        try:
            secret = password(key_name) if given else None
            replaced = store.set_pem(name, data, key, secret, where=where, password_origin=origin)
        except WrongPassword:
            if given:
                raise
            replaced = store.set_pem(
                name, data, key, password(key_name), where=where, password_origin="the prompt"
            )
    described = store.entries(with_status=True)
    detail = next((i.certificate for i in described if i.name == name), None)
    verb = "replaced" if replaced else "stored"
    click.echo(
        f"{verb} certificate {name!r} ({detail}) in {store.path} (key: {store.key_description()})"
    )


@vault.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
@vault_options
def list_entries(
    as_json: bool, path: Path | None, key_env: str | None, key_file: Path | None
) -> None:
    """Names, kinds, creation times, and whether the configured key opens each entry (and, for
    a certificate, its subject and validity).

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
        line = f"{info.name:<{width}}  {info.kind:<13}  {info.created}  {info.status}"
        click.echo(line + (f"  {info.certificate}" if info.certificate else ""))


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
