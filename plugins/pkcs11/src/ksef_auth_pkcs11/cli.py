"""``ksef-auth pkcs11 list``: the slots, tokens, keys and certificates a PKCS#11 module has.

Labels, ids, types, sizes, flags and certificate subjects only: never a PIN, never key material.
With ``--pin-env VAR`` (or ``--pin-prompt``) and ``--token LABEL``, that token's private keys are
listed too.
"""

from __future__ import annotations

import json
from typing import Any

import click

from ksef_auth import SecretRef

__all__ = ["pkcs11"]


@click.group("pkcs11")
def pkcs11() -> None:
    """Keys on PKCS#11 tokens: smart cards, USB tokens, HSMs (credential source "pkcs11")."""


@pkcs11.command("list")
@click.option(
    "--module",
    "module_path",
    envvar="KSEF_AUTH_PKCS11_MODULE",
    help="The PKCS#11 library (.so); default: $KSEF_AUTH_PKCS11_MODULE.",
)
@click.option("--token", "token_label", help="Log in to this token to list its private keys.")
@click.option("--pin-env", metavar="VAR", help="Read the token's PIN from this variable.")
@click.option("--pin-file", type=click.Path(dir_okay=False), help="Read the PIN from this file.")
@click.option("--pin-prompt", is_flag=True, help="Ask for the token's PIN (hidden).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def list_objects(
    module_path: str | None,
    token_label: str | None,
    pin_env: str | None,
    pin_file: str | None,
    pin_prompt: bool,
    as_json: bool,
) -> None:
    """Slots, tokens, keys and certificates (public objects; private keys with a PIN)."""
    from ksef_auth_pkcs11.inventory import inventory
    from ksef_auth_pkcs11.module import module_for, resolve_module
    from ksef_auth_pkcs11.pin import PinSource

    given = [x for x in (pin_env, pin_file, pin_prompt or None) if x]
    if len(given) > 1:
        raise click.UsageError("give one of --pin-env, --pin-file and --pin-prompt")
    if given and token_label is None:
        raise click.UsageError("--pin-* needs --token LABEL: the token to log in to")
    ref = SecretRef.env(pin_env) if pin_env else SecretRef.file(pin_file) if pin_file else None
    pin = PinSource(ref, pin_prompt) if given else None
    report = inventory(module_for(resolve_module(module_path)), token_label=token_label, pin=pin)
    if as_json:
        click.echo(json.dumps(report, indent=2))
        return
    _print(report)


def _print(report: dict[str, Any]) -> None:
    click.echo(f"module {report['module']} ({report['manufacturer']}, {report['library']})")
    for slot in report["slots"]:
        token = slot["token"]
        if token is None:
            click.echo(f"slot {slot['slot']}: no token ({slot['description']})")
            continue
        if "label" not in token:
            click.echo(f"slot {slot['slot']}: token cannot be read ({token.get('error')})")
            continue
        if not token["initialized"]:
            click.echo(f"slot {slot['slot']}: uninitialized token")
            continue
        flags = ", ".join(token["flags"]) or "-"
        click.echo(
            f"slot {slot['slot']}: token {token['label']!r} serial {token['serial']}"
            f" ({token['manufacturer']} {token['model']}; {flags})"
        )
        if "error" in token:
            click.echo(f"  cannot list its objects: {token['error']}")
            continue
        if not token["logged_in"]:
            click.echo("  (public objects only: give --token and --pin-env/--pin-prompt for keys)")
        for key in token["keys"]:
            size = key.get("curve") or (f"{key['size']} bits" if key.get("size") else "")
            marks = [
                name
                for name, on in (
                    ("sensitive", key.get("sensitive")),
                    ("extractable", key.get("extractable")),
                    ("sign", key.get("sign")),
                    ("always-authenticate", key.get("always_authenticate")),
                )
                if on
            ]
            kind = "private key" if "sensitive" in key else "public key"
            click.echo(
                f"  {kind} {key['label']!r} id {key['id'] or '-'}: {key['type']} {size}"
                + (f" [{', '.join(marks)}]" if marks else "")
            )
        for certificate in token["certificates"]:
            pair = f", key {certificate['key']!r}" if "key" in certificate else ""
            click.echo(
                f"  certificate {certificate['label']!r} id {certificate['id'] or '-'}:"
                f" {certificate['subject']} (issuer {certificate['issuer']}), valid"
                f" {certificate['not_before'][:10]} to {certificate['not_after'][:10]}{pair}"
            )
