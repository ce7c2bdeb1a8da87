"""``ksef-auth config check``: load a strategy file and report every mistake before any login."""

from __future__ import annotations

import json
from pathlib import Path

import click

from ksef_auth.config import load


@click.group()
def config() -> None:
    """Strategy files."""


@config.command()
@click.argument("path", type=click.Path(path_type=Path), default="ksef-auth.toml")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def check(path: Path, as_json: bool) -> None:
    """Validate PATH (default ./ksef-auth.toml): plugins, options, references, NIPs."""
    loaded = load(path)
    rows = [
        {
            "strategy": s.name,
            "environment": s.environment.base_url,
            "context": str(s.context),
            "signer": getattr(s.signer, "method", type(s.signer).__name__),
            "credential": repr(s.credential),
            "store": type(s.store).__name__,
        }
        for s in loaded
    ]
    if as_json:
        click.echo(json.dumps({"file": str(path), "ok": True, "strategies": rows}, indent=2))
        return
    click.echo(f"{path}: {len(rows)} strateg{'y' if len(rows) == 1 else 'ies'}, all valid")
    for row in rows:
        click.echo(
            f"  {row['strategy']}: {row['context']} on {row['environment']} via {row['signer']}"
        )
