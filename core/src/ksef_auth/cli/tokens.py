"""``ksef-auth tokens``: KSeF token management (``/tokens``) for the profile's context.

::

    ksef-auth tokens create --permission InvoiceRead --permission InvoiceWrite \\
        --description "ERP connector"                     # the token, once, alone on stdout
    ksef-auth tokens create --permission InvoiceRead --description "ERP connector" \\
        --save-to vault --opt name=erp                    # kept in the vault, never printed
    ksef-auth tokens list --status Active
    ksef-auth tokens show REF
    ksef-auth tokens revoke REF

The session of the profile (or of the ``KSEF2_*`` variables) authorizes the calls; generating
needs ``CredentialsManage`` (in practice a certificate login). ``--save-to`` takes any credential
source that can keep a secret (it has ``save(request, credential)``: the ``vault`` source).
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ksef_auth.cli.profile import (
    config_option,
    emit_json,
    json_option,
    parse_assignments,
    profile_option,
    target,
)
from ksef_auth.errors import ConfigError, CredentialError, KsefAuthError
from ksef_auth.tokens import (
    TOKEN_PERMISSIONS,
    TOKEN_STATUSES,
    TokenClient,
    TokenInfo,
    check_description,
    check_permissions,
    check_reference,
)

if TYPE_CHECKING:
    from ksef_auth.manager import PluginManager
    from ksef_auth.strategy import Strategy


def _client(config_path: Path | None, profile_name: str | None) -> TokenClient:
    return TokenClient(target(config_path, profile_name).strategy())


def _permissions(ctx: click.Context, param: click.Parameter, values: tuple[str, ...]) -> list[str]:
    items = [part for value in values for part in value.split(",") if part.strip()]
    try:
        return check_permissions(items)
    except ConfigError as exc:
        raise click.BadParameter(exc.reason) from None


def _description(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_description(value)
    except ConfigError as exc:
        raise click.BadParameter(exc.reason) from None


@click.group()
def tokens() -> None:
    """KSeF tokens of the context: create (shown once, or saved), list, show, revoke."""


def savers(manager: PluginManager) -> list[str]:
    """The installed credential sources that can keep a secret (``--save-to`` choices)."""
    return [
        name
        for name, registration in manager.available("credential_source").items()
        if callable(getattr(registration.factory, "save", None))
    ]


def _saver(strategy: Strategy, name: str, options: tuple[str, ...]) -> Any:
    from ksef_auth.components import SecretRef
    from ksef_auth.manager import default_manager

    manager = strategy.manager or default_manager()
    registration = manager.get("credential_source", name)
    if not callable(getattr(registration.factory, "save", None)):
        can = ", ".join(savers(manager)) or "none installed (pip install ksef-auth-vault)"
        raise ConfigError(
            f"credential source {name!r} cannot keep a new token; sources that can: {can}"
        )
    kwargs = parse_assignments(options, registration, "--opt")
    for key, value in list(kwargs.items()):
        if isinstance(value, dict) and set(value) == {"env"}:
            kwargs[key] = SecretRef.env(value["env"])
        elif isinstance(value, dict) and set(value) == {"file"}:
            kwargs[key] = SecretRef.file(value["file"])
    missing = [o.name for o in registration.options if o.required and o.name not in kwargs]
    if missing:
        raise click.BadParameter(
            f"{name!r} needs {', '.join(missing)}: --opt {missing[0]}=...", param_hint="--opt"
        )
    try:
        return registration.factory(**kwargs)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"credential source {name!r}: {exc}") from None


@tokens.command()
@click.option(
    "--permission",
    "permissions",
    metavar="NAME",
    multiple=True,
    required=True,
    callback=_permissions,
    help=f"A permission of the token (repeat, or comma-separate): {', '.join(TOKEN_PERMISSIONS)}.",
)
@click.option(
    "--description", required=True, callback=_description, help="What the token is for (5-256)."
)
@click.option(
    "--save-to",
    "save_to",
    metavar="SOURCE",
    help="Keep the token in this credential source (vault) instead of printing it.",
)
@click.option(
    "--opt",
    "options",
    metavar="KEY=VALUE",
    multiple=True,
    help="An option of the --save-to source (vault: name=ENTRY, path=FILE).",
)
@click.option("--wait", is_flag=True, help="Wait until KSeF activates it (status Active).")
@profile_option
@config_option
@json_option
def create(
    permissions: list[str],
    description: str,
    save_to: str | None,
    options: tuple[str, ...],
    wait: bool,
    profile_name: str | None,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Generate a KSeF token (POST /tokens). Without --save-to the token is printed once,
    alone on stdout: keep it then, KSeF never shows it again.

    \b
    ksef-auth tokens create --permission InvoiceRead --description "ERP, read-only"
    ksef-auth tokens create --permission InvoiceRead --description "the shop" \\
        --save-to vault --opt name=shop
    """
    from ksef_auth.model import CredentialRequest

    if options and not save_to:
        raise click.UsageError("--opt goes with --save-to SOURCE")
    client = _client(config_path, profile_name)
    strategy = client.strategy
    saver = _saver(strategy, save_to, options) if save_to else None  # checked before creating
    new = client.create(permissions, description)
    info: dict[str, Any] = {
        "reference_number": new.reference_number,
        "permissions": permissions,
        "description": description,
        "status": "Pending",
    }
    if saver is not None:
        request = CredentialRequest(
            environment=strategy.environment,
            context=strategy.context,
            method="ksef-token",
            strategy=strategy.name,
        )
        try:
            info["saved"] = saver.save(request, new.credential())
        except (KsefAuthError, OSError) as exc:
            try:
                client.revoke(new.reference_number)
                after = "it was revoked again, nothing is left behind"
            except KsefAuthError:
                after = f"revoke it: ksef-auth tokens revoke {new.reference_number}"
            raise CredentialError(
                f"KSeF token {new.reference_number} was made but {save_to} could not keep it"
                f" ({exc}); {after}"
            ) from None
    if wait:
        info["status"] = client.wait_active(new.reference_number).status
    if as_json:
        emit_json(info if saver is not None else {**info, "token": new.token.reveal()})
        return
    summary = (
        f"KSeF token {new.reference_number} ({info['status']}) for {strategy.context}:"
        f" {', '.join(permissions)}"
    )
    if saver is not None:
        click.secho(f"created {summary}; saved as {info['saved']}", fg="green")
        return
    click.echo(new.token.reveal())
    click.secho(
        f"created {summary}. It is shown only this once: keep it now (or next time use"
        " --save-to vault --opt name=NAME)",
        fg="yellow",
        err=True,
    )


def _row(info: TokenInfo) -> str:
    created = info.created.strftime("%Y-%m-%d") if info.created else "-"
    return (
        f"{info.reference_number}  {info.status:<8}  {created}  {','.join(info.permissions)}"
        f"  {info.description}"
    )


@tokens.command("list")
@click.option(
    "--status",
    "statuses",
    multiple=True,
    type=click.Choice(TOKEN_STATUSES),
    help="Only tokens in this status (repeat for several).",
)
@click.option("--description", help="Only tokens whose description contains this (3+ chars).")
@click.option("--author", help="Only tokens whose author's identifier contains this (3+ chars).")
@profile_option
@config_option
@json_option
def list_(
    statuses: tuple[str, ...],
    description: str | None,
    author: str | None,
    profile_name: str | None,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """List the context's KSeF tokens (GET /tokens), newest first; never a token's value."""
    client = _client(config_path, profile_name)
    found = client.list(statuses=statuses, description=description, author=author)
    if as_json:
        emit_json([t.to_json() for t in found])
        return
    click.echo(f"{len(found)} token{'s' if len(found) != 1 else ''} of {client.strategy.context}")
    for info in found:
        click.echo(_row(info))


def _reference(ctx: click.Context, param: click.Parameter, value: str) -> str:
    try:
        return check_reference(value)
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@tokens.command()
@click.argument("reference", callback=_reference)
@profile_option
@config_option
@json_option
def show(reference: str, profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Show token REFERENCE: status, permissions, author, dates (GET /tokens/REFERENCE)."""
    info = _client(config_path, profile_name).get(reference).to_json()
    if as_json:
        emit_json(info)
        return
    for key, value in info.items():
        if value in (None, []):
            continue
        shown = ", ".join(value) if isinstance(value, list) else value
        click.echo(f"{key.replace('_', ' ') + ':':<18}{shown}")


@tokens.command()
@click.argument("reference", callback=_reference)
@profile_option
@config_option
@json_option
def revoke(
    reference: str, profile_name: str | None, config_path: Path | None, as_json: bool
) -> None:
    """Revoke token REFERENCE (DELETE /tokens/REFERENCE): it cannot log in any more."""
    _client(config_path, profile_name).revoke(reference)
    if as_json:
        emit_json({"revoked": reference})
        return
    click.secho(f"revoked KSeF token {reference}", fg="green")
