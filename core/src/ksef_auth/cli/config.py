"""``ksef-auth config check``: load a strategy file and report every mistake before any login."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import click

from ksef_auth.config import SHOWN, load
from ksef_auth.errors import ConfigError, ConfigErrors


@click.group()
def config() -> None:
    """Strategy files."""


def _problem(error: ConfigError) -> dict[str, str | None]:
    return {"source": error.source, "key": error.key, "message": error.reason}


@config.command()
@click.argument("path", type=click.Path(path_type=Path), default="ksef-auth.toml")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for machines.")
def check(path: Path, as_json: bool) -> None:
    """Validate PATH (default ./ksef-auth.toml): plugins, options, references, NIPs.

    Every problem is reported in one run: the count, then each with its file:key or file:line
    (the first 20; --json lists all). Exit 3 when the file cannot be loaded, 1 when it loads
    but some contexts of a list cannot be used, 0 when all is well.
    """
    logging.getLogger("ksef_auth.config").addHandler(logging.NullHandler())  # reported below
    try:
        loaded = load(path)
    except ConfigError as exc:
        if not as_json:
            raise
        errors = exc.errors if isinstance(exc, ConfigErrors) else (exc,)
        report: dict[str, Any] = {"file": str(path), "ok": False, "count": len(errors)}
        report["problems"] = [_problem(e) for e in errors]
        click.echo(json.dumps(report, indent=2))
        raise click.exceptions.Exit(3) from None
    rows: list[dict[str, Any]] = [
        {
            "strategy": name,
            "environment": s.environment.base_url,
            "context": str(s.context),
            "contexts": len(loaded.contexts(name)),
            "signer": getattr(s.signer, "method", type(s.signer).__name__),
            "credential": repr(s.credential),
            "store": type(s.store).__name__,
        }
        for name, s in loaded.strategies.items()
    ]
    problems = loaded.problems
    if as_json:
        report = {"file": str(path), "ok": not problems, "strategies": rows}
        report.update(count=len(problems), problems=[_problem(p) for p in problems])
        click.echo(json.dumps(report, indent=2))
        if problems:
            raise click.exceptions.Exit(1)
        return
    valid = "all valid" if not problems else f"{len(problems):,} unusable contexts"
    click.echo(f"{path}: {len(rows)} strateg{'y' if len(rows) == 1 else 'ies'}, {valid}")
    for row in rows:
        many = f" and {row['contexts'] - 1:,} more" if row["contexts"] > 1 else ""
        click.echo(
            f"  {row['strategy']}: {row['context']}{many} on {row['environment']}"
            f" via {row['signer']}"
        )
    if problems:
        for problem in problems[:SHOWN]:
            click.secho(f"  {problem}", fg="yellow", err=True)
        if len(problems) > SHOWN:
            click.secho(f"  ... and {len(problems) - SHOWN:,} more (--json lists all)", err=True)
        raise click.exceptions.Exit(1)
