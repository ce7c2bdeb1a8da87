"""``ksef-auth plugins``: what is installed, what each plugin provides, its hooks."""

from __future__ import annotations

import json

import click

from ksef_auth.manager import default_manager


@click.command()
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def plugins(as_json: bool) -> None:
    """List installed plugins (KSEF_AUTH_PLUGINS chooses which load)."""
    rows = default_manager().listing()
    if as_json:
        click.echo(json.dumps(rows, indent=2))
        return
    if not rows:
        click.echo("no plugins installed (pip install ksef-auth-env ksef-auth-memory ...)")
        return
    for row in rows:
        version = row["version"] or "-"
        line = f"{row['name']} ({row['distribution'] or 'local'} {version})"
        provides = "; ".join(
            f"{kind}: {', '.join(names)}" for kind, names in row["provides"].items()
        )
        click.echo(f"{line}  {provides}" if provides else line)
        if row["error"]:
            click.secho(f"  not loaded: {row['error']}", fg="red")
