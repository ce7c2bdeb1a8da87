"""``ksef-auth demo``: every installed credential and signer against a local simulator."""

from __future__ import annotations

import json
import sys

import click


@click.command("demo")
@click.option(
    "--store",
    default="memory",
    show_default=True,
    metavar="NAME",
    help="Session store for every strategy (any installed one: memory, file, redis, ...).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON report (no progress).")
def demo(store: str, as_json: bool) -> None:
    """Log in to a local KSeF simulator with every installed credential and signer, then show
    reuse, refresh, revocation and re-login. Takes seconds; prints no secret; leaves nothing.

    Exit status 0 when every step worked, 1 otherwise.
    """
    from ksef_auth.manager import default_manager
    from ksef_auth_demo.progress import Progress
    from ksef_auth_demo.scenario import Demo

    default_manager().get("session_store", store)  # unknown store: a configuration error (3)
    progress = Progress(sys.stdout, quiet=as_json)
    report = Demo(store=store, progress=progress).run()
    if as_json:
        click.echo(json.dumps(report, indent=2, default=str))
    elif report["ok"]:
        click.secho(
            f"all done in {report['seconds']:.1f} s; simulator stopped, temp files removed",
            fg="green",
        )
        click.echo(
            "next: ksef-auth profile create NAME --env test --nip NIP --token-env KSEF2_TOKEN"
        )
    else:
        click.secho(f"the demo did not go as planned: {report.get('error', 'see above')}", fg="red")
    if not report["ok"]:
        raise SystemExit(1)
