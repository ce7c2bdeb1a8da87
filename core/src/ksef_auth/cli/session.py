"""Session commands: ``login``, ``token``, ``status``, ``sessions``, ``logout``.

Each works on one profile (``--profile`` / ``KSEF2_PROFILE``, else the current one) and keeps
the session in the profile's store: the encrypted ``file`` store by default, so ``token`` after
``login`` reuses the session, from any process, until it must be refreshed::

    ksef-auth login
    curl -H "Authorization: Bearer $(ksef-auth token)" https://api-test.ksef.mf.gov.pl/v2/...

Only ``token`` prints a secret (the access token, alone on stdout, for scripts).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ksef_auth.cli.bulk import many
from ksef_auth.cli.profile import (
    config_option,
    emit_json,
    json_option,
    profile_option,
    profile_store,
)

if TYPE_CHECKING:
    from ksef_auth.model import SessionTokens
    from ksef_auth.strategy import Strategy


def _strategy(config_path: Path | None, profile_name: str | None) -> Strategy:
    return profile_store(config_path).strategy(profile_name)


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def session_state(tokens: SessionTokens | None, now: float | None = None) -> str:
    """``none``, ``active`` (access token valid), ``refreshable`` (only the refresh token is) or
    ``expired``."""
    if tokens is None:
        return "none"
    now = time.time() if now is None else now
    if tokens.access_token.valid_until.timestamp() > now:
        return "active"
    if tokens.refresh_token is not None and tokens.refresh_token.valid_until.timestamp() > now:
        return "refreshable"
    return "expired"


def describe(strategy: Strategy, tokens: SessionTokens | None) -> dict[str, Any]:
    """What the CLI reports about a strategy's session: never a token."""
    now = time.time()
    info: dict[str, Any] = {
        "profile": strategy.name,
        "environment": strategy.environment.name,
        "base_url": strategy.environment.base_url,
        "context": str(strategy.context),
        "method": getattr(strategy.signer, "method", type(strategy.signer).__name__),
        "store": type(strategy.store).__name__,
        "state": session_state(tokens, now),
    }
    if tokens is not None:
        access_until = tokens.access_token.valid_until
        info.update(
            reference_number=tokens.reference_number,
            logged_in_at=_when(tokens.obtained_at),
            refreshed_at=_when(tokens.refreshed_at),
            access_valid_until=_when(access_until),
            access_seconds_left=max(0, round(access_until.timestamp() - now)),
            refresh_valid_until=_when(tokens.refresh_token.valid_until)
            if tokens.refresh_token
            else None,
        )
    return info


def stored_session(strategy: Strategy) -> SessionTokens | None:
    """The session kept in the strategy's store (no network; loads the credential to learn
    its fingerprint, which is part of the store key)."""
    current = strategy.session.current()
    if current is not None:
        return current
    credential = strategy.load_credential()
    return strategy.store.get(strategy.session.key_for(credential.fingerprint))


def _print_info(info: dict[str, Any]) -> None:
    colour = {"active": "green", "refreshable": "yellow"}.get(info["state"], "red")
    for key, value in info.items():
        if value is None:
            continue
        label = key.replace("_", " ") + ":"
        if key == "state":
            click.echo(f"{label:<21}" + click.style(str(value), fg=colour))
        else:
            click.echo(f"{label:<21}{value}")


@click.command()
@click.option("--force", is_flag=True, help="Log in anew even when a session is still valid.")
@profile_option
@config_option
@json_option
@many("login")
def login(force: bool, profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Log in with the profile (or reuse its valid session) and keep the session in its store."""
    strategy = _strategy(config_path, profile_name)
    started = datetime.now(UTC)
    tokens: SessionTokens | None
    if force:
        tokens = strategy.session.login()
    else:
        strategy.token()
        tokens = strategy.session.current()
    assert tokens is not None
    fresh = max(tokens.obtained_at, tokens.refreshed_at or tokens.obtained_at) >= started
    info = {**describe(strategy, tokens), "reused": not fresh}
    if as_json:
        emit_json(info)
        return
    verb = "logged in" if tokens.obtained_at >= started else "session reused"
    if tokens.refreshed_at and tokens.refreshed_at >= started:
        verb = "session refreshed"
    click.secho(
        f"{verb}: {info['context']} on {info['environment']} via {info['method']}", fg="green"
    )
    click.echo(
        f"session {info['reference_number']}, access token valid until"
        f" {info['access_valid_until']}"
        + (f", refresh until {info['refresh_valid_until']}" if info["refresh_valid_until"] else "")
    )


@click.command()
@profile_option
@config_option
def token(profile_name: str | None, config_path: Path | None) -> None:
    """Print a valid access token and nothing else (logs in or refreshes only when needed).

    \b
    curl -H "Authorization: Bearer $(ksef-auth token)" "$KSEF_URL/auth/sessions"
    """
    strategy = _strategy(config_path, profile_name)
    click.echo(strategy.token())


@click.command()
@profile_option
@config_option
@json_option
def status(profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Show the profile and its stored session (no network call, no login)."""
    strategy = _strategy(config_path, profile_name)
    info = describe(strategy, stored_session(strategy))
    if as_json:
        emit_json(info)
        return
    _print_info(info)
    if info["state"] == "none":
        click.echo("no session yet: ksef-auth login")


@click.command()
@profile_option
@config_option
@json_option
@many("sessions")
def sessions(profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """List the context's active KSeF authentication sessions (GET /auth/sessions)."""
    strategy = _strategy(config_path, profile_name)
    items = strategy.session.sessions()
    rows = [
        {
            "reference_number": s.reference_number,
            "current": s.is_current,
            "started": _when(s.start_date),
            "method": s.method,
            "status": s.status_code,
            "redeemed": s.is_token_redeemed,
            "refresh_valid_until": _when(s.refresh_token_valid_until),
        }
        for s in items
    ]
    if as_json:
        emit_json({"profile": strategy.name, "context": str(strategy.context), "sessions": rows})
        return
    click.echo(f"{len(rows)} session{'s' if len(rows) != 1 else ''} of {strategy.context}:")
    for row in rows:
        mark = "*" if row["current"] else " "
        click.secho(
            f"{mark} {row['reference_number']}  {row['started']}  {row['method']}"
            f"  status {row['status']}  refresh until {row['refresh_valid_until'] or '-'}",
            bold=row["current"],
        )


@click.command()
@profile_option
@config_option
@json_option
@many("logout")
def logout(profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Revoke the profile's session at KSeF and forget it locally."""
    strategy = _strategy(config_path, profile_name)
    tokens = stored_session(strategy)
    if tokens is not None:
        strategy.session.revoke()
    info = {
        "profile": strategy.name,
        "revoked": tokens.reference_number if tokens is not None else None,
    }
    if as_json:
        emit_json(info)
    elif tokens is None:
        click.echo("no session to log out")
    else:
        click.secho(f"logged out: session {tokens.reference_number} revoked", fg="green")


COMMANDS: list[click.Command] = [login, token, status, sessions, logout]
