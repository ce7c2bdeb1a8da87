"""``ksef-auth env``: the ``KSEF2_*`` variables, which are set, and what commands will use;
``ksef-auth url [PATH]``: the API URL of what they use.

Every command works on ``--profile`` (or ``KSEF2_PROFILE``); without one, on the environment
alone when ``KSEF2_NIP`` is set (a PaaS container, CI); else on the current profile. Secret
variables are shown as set or not, never with their value.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from ksef_auth.cli.profile import (
    config_option,
    emit_json,
    json_option,
    profile_option,
    profile_store,
    target,
)
from ksef_auth.errors import ConfigError
from ksef_auth.model import OFFICIAL_BASE_URLS, URL_OVERRIDE
from ksef_auth.profiles import CONFIG_ENV, PROFILE_ENV
from ksef_auth.shortcuts import ENV_VARIABLES

SECRET_VARIABLES = ("KSEF2_TOKEN", "KSEF2_P12_PASSWORD", "KSEF2_KEY_PASSWORD")
OVERRIDES = {
    URL_OVERRIDE.format(NAME=name.upper()): f"another URL for {name} (a simulator)"
    for name in OFFICIAL_BASE_URLS
}


def variables() -> list[dict[str, Any]]:
    rows = []
    listed = {**ENV_VARIABLES, CONFIG_ENV: "the profiles file", **OVERRIDES}
    for name, meaning in listed.items():
        value = os.environ.get(name)
        if name == "KSEF2_TOKEN" and value is None and os.environ.get("KSEF2_TOKEN_FILE"):
            value = "(from KSEF2_TOKEN_FILE)"
        shown = None if value is None else "(set)" if name in SECRET_VARIABLES else value
        rows.append({"name": name, "set": value is not None, "value": shown, "meaning": meaning})
    return rows


def in_use(config_path: Path | None) -> str:
    """What a command without ``--profile`` works on, in words."""
    if os.environ.get(PROFILE_ENV):
        return f"profile {os.environ[PROFILE_ENV]} (from {PROFILE_ENV})"
    if os.environ.get("KSEF2_NIP"):
        return "the environment alone (KSEF2_NIP is set)"
    try:
        profiles = profile_store(config_path)
        return f"profile {profiles.resolve(None)} ({profiles.path})"
    except ConfigError as exc:
        return f"nothing yet: {exc.reason}"


@click.command("env")
@config_option
@json_option
def env(config_path: Path | None, as_json: bool) -> None:
    """Show the KSEF2_* variables (secrets only as set or not) and what commands will use.

    Without --profile or KSEF2_PROFILE, commands work from the environment alone when KSEF2_NIP
    is set: KSEF2_ENV (default test), KSEF2_NIP and KSEF2_TOKEN, or a certificate
    (KSEF2_P12_PATH, or KSEF2_CERT_PATH and KSEF2_KEY_PATH).
    """
    rows = variables()
    uses = in_use(config_path)
    if as_json:
        emit_json({"uses": uses, "variables": rows})
        return
    click.echo(f"commands use: {uses}")
    width = max(len(r["name"]) for r in rows)
    for row in rows:
        state = row["value"] if row["set"] else "-"
        click.echo(f"  {row['name']:<{width}}  {state:<13} {row['meaning']}")


@click.command("url")
@click.argument("path", default="")
@profile_option
@config_option
def url(path: str, profile_name: str | None, config_path: Path | None) -> None:
    """Print the KSeF API URL of the profile's environment, with PATH appended (for scripts).

    \b
    curl -H "Authorization: Bearer $(ksef-auth token)" "$(ksef-auth url /auth/sessions)"
    """
    strategy = target(config_path, profile_name).strategy(check=False)
    suffix = path if not path or path.startswith("/") else "/" + path
    click.echo(strategy.environment.base_url + suffix)
