"""``ksef-auth nip check NIP...``: validate NIPs (checksum included) before they reach KSeF."""

from __future__ import annotations

import click

from ksef_auth.nip import normalize_nip


@click.group()
def nip() -> None:
    """Polish tax identifiers (NIP)."""


@nip.command()
@click.argument("values", metavar="NIP...", nargs=-1, required=True)
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def check(values: tuple[str, ...], as_json: bool) -> None:
    """Check each NIP (spaces, dashes and a PL prefix are allowed). Exit 1 if any is invalid."""
    rows = []
    for value in values:
        try:
            rows.append({"input": value, "valid": True, "nip": normalize_nip(value), "error": None})
        except ValueError as exc:
            rows.append({"input": value, "valid": False, "nip": None, "error": str(exc)})
    if as_json:
        from ksef_auth.cli.profile import emit_json

        emit_json(rows)
    else:
        for row in rows:
            if row["valid"]:
                click.secho(f"ok       {row['nip']}", fg="green")
            else:
                click.secho(f"invalid  {row['input']}: {row['error']}", fg="red")
    if not all(row["valid"] for row in rows):
        raise SystemExit(1)
