"""Session commands: ``login``, ``token``, ``status``, ``sessions``, ``logout``.

Each works on one profile (``--profile`` / ``KSEF2_PROFILE``, else the current one), or on the
``KSEF2_*`` variables alone, and keeps the session in its store: the encrypted ``file`` store by
default, so ``token`` after ``login`` reuses the session, from any process, until it must be
refreshed::

    ksef-auth login
    curl -H "Authorization: Bearer $(ksef-auth token)" "$(ksef-auth url /auth/sessions)"

Only ``login`` and ``token`` ever log in. ``status``, ``sessions``, ``logout`` and ``sessions
revoke`` work on the stored session, found without the credential (after a rotation, or with
the variable unset), and say so when there is none (exit 8). Only ``token`` prints a secret
(the access token, alone on stdout, for scripts).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ksef_auth.cli.bulk import many
from ksef_auth.cli.profile import (
    ENV_TARGET,
    config_option,
    emit_json,
    json_option,
    profile_option,
    target,
)
from ksef_auth.errors import ConfigError, NoSession, StoreError

if TYPE_CHECKING:
    from ksef_auth.flow import AuthSession
    from ksef_auth.model import SessionTokens
    from ksef_auth.strategy import Strategy


def _strategy(config_path: Path | None, profile_name: str | None) -> Strategy:
    return target(config_path, profile_name).strategy()


def _when(value: datetime | None) -> str | None:
    return value.astimezone(UTC).isoformat(timespec="seconds") if value else None


def _short(value: datetime | None) -> str:
    """``2026-12-01 23:52 UTC`` for people (``--json`` has the full timestamps)."""
    return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC") if value else "-"


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


def component_names(strategy: Strategy) -> dict[str, str]:
    """The plugin names of the strategy's credential source (or chain), signer and store, as a
    strategy file writes them (``file``, not ``FileStore``)."""
    from ksef_auth.manager import default_manager

    manager = strategy.manager or default_manager()
    return {
        "credential": manager.name_of("credential_source", strategy.credential),
        "method": getattr(strategy.signer, "method", None)
        or manager.name_of("signer", strategy.signer),
        "store": manager.name_of("session_store", strategy.store),
    }


def describe(strategy: Strategy, tokens: SessionTokens | None) -> dict[str, Any]:
    """What the CLI reports about a strategy's session: never a token."""
    now = time.time()
    names = component_names(strategy)
    info: dict[str, Any] = {
        "profile": strategy.name,
        "environment": strategy.environment.name,
        "base_url": strategy.environment.base_url,
        "context": str(strategy.context),
        "method": names["method"],
        "store": names["store"],
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
    """The session kept for the strategy's context (no network, no credential needed)."""
    return strategy.session.stored()


@contextmanager
def _login_hint(strategy: Strategy) -> Iterator[None]:
    """A :class:`NoSession` raised inside gets the command that logs in."""
    try:
        yield
    except NoSession as exc:
        flag = "" if strategy.name == ENV_TARGET else f" --profile {strategy.name}"
        raise NoSession(f"{exc}: ksef-auth login{flag}") from None


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


def _saved_or_fail(strategy: Strategy, tokens: SessionTokens) -> None:
    """The session must be in the store (or ``token`` logs in again next time): a store that
    does not keep it is an error, exit 7, with the session revoked again."""
    from ksef_auth.errors import KsefAuthError

    manager = strategy.session
    key = manager.key_for(tokens.credential_fingerprint)
    try:
        strategy.store.put(key, tokens)
        strategy.store.put(manager.latest_key, tokens)
    except StoreError as exc:
        try:
            strategy.session.revoke()
            after = "the new session was revoked again"
        except KsefAuthError:
            after = "revoking the new session failed too; it ends by itself"
        raise StoreError(
            f"logged in, but the session store cannot keep the session ({exc}); {after}."
            " Fix the store (ksef-auth doctor checks it) or choose another: --store memory"
        ) from None


@click.command()
@click.option("--force", is_flag=True, help="Log in anew even when a session is still valid.")
@profile_option
@config_option
@json_option
@many("login")
def login(force: bool, profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Log in with the profile (or reuse its valid session) and keep the session in its store.

    Exit 7 when the session store cannot keep it (the session is then revoked again).
    """
    from ksef_auth.cli.warnings import recent

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
    if fresh:
        _saved_or_fail(strategy, tokens)
    info = {**describe(strategy, tokens), "reused": not fresh}
    if as_json:  # the warnings were logged on stderr as they came
        emit_json({**info, "system_warnings": recent(strategy)})
        return
    verb = "logged in" if tokens.obtained_at >= started else "session reused"
    if tokens.refreshed_at and tokens.refreshed_at >= started:
        verb = "session refreshed"
    click.secho(
        f"{verb}: {info['context']} on {info['environment']} via {info['method']}", fg="green"
    )
    click.echo(f"session {info['reference_number']}")
    click.echo(f"access token valid until {_short(tokens.access_token.valid_until)}")
    if tokens.refresh_token is not None:
        click.echo(f"refresh token valid until {_short(tokens.refresh_token.valid_until)}")


@click.command()
@profile_option
@config_option
def token(profile_name: str | None, config_path: Path | None) -> None:
    """Print a valid access token and nothing else (logs in or refreshes only when needed).

    \b
    curl -H "Authorization: Bearer $(ksef-auth token)" "$(ksef-auth url /auth/sessions)"
    """
    strategy = _strategy(config_path, profile_name)
    click.echo(strategy.token())


@click.command()
@profile_option
@config_option
@json_option
def status(profile_name: str | None, config_path: Path | None, as_json: bool) -> None:
    """Show the profile and its stored session (no network call, no login, no credential).

    With a rotation (`ksef-auth profile rotate`), also which credential made the session and
    each credential's state (loading them, so their variables must be set).
    """
    from ksef_auth.cli.rotation import credential_json, credential_report

    strategy = target(config_path, profile_name).strategy(check=False)
    tokens = stored_session(strategy)
    info = describe(strategy, tokens)
    if as_json:
        emit_json({**info, **credential_json(strategy, tokens)})
        return
    _print_info({**info, **credential_report(strategy, tokens)})
    if info["state"] == "none":
        click.echo("no session yet: ksef-auth login")


def _session_rows(items: list[AuthSession], marks: dict[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "reference_number": s.reference_number,
            "credential": marks.get(s.reference_number),
            "current": s.is_current,
            "started": _when(s.start_date),
            "method": s.method,
            "status": s.status_code,
            "redeemed": s.is_token_redeemed,
            "refresh_valid_until": _when(s.refresh_token_valid_until),
        }
        for s in items
    ]


@click.group(invoke_without_command=True)
@click.option("--login", "may_login", is_flag=True, help="Log in first when no session is stored.")
@profile_option
@config_option
@json_option
@click.pass_context
@many("sessions")
def sessions(
    ctx: click.Context,
    may_login: bool,
    profile_name: str | None,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """List the context's KSeF authentication sessions (GET /auth/sessions).

    Uses the stored session and never logs in on its own: with none stored it exits 8, unless
    --login is given. With a rotation, the sessions kept for the primary and the secondary
    credential are marked so.
    """
    if ctx.invoked_subcommand is not None:
        return
    strategy = target(config_path, profile_name).strategy(check=may_login)
    with _login_hint(strategy):
        items = strategy.session.sessions(login=may_login)
    from ksef_auth.cli.rotation import session_marks

    rows = _session_rows(items, session_marks(strategy))
    if as_json:
        emit_json({"profile": strategy.name, "context": str(strategy.context), "sessions": rows})
        return
    click.echo(f"{len(rows)} session{'s' if len(rows) != 1 else ''} of {strategy.context}:")
    for item, row in zip(items, rows, strict=True):
        mark = "*" if row["current"] else " "
        status = "" if row["status"] == 200 else f"  status {row['status']}"
        role = f"  {row['credential']}" if row["credential"] else ""
        click.secho(
            f"{mark} {row['reference_number']}  {_short(item.start_date)[:16]}  {row['method']}"
            f"  refresh until {_short(item.refresh_token_valid_until)[:10]}{status}{role}",
            bold=row["current"],
        )


def _reference(ctx: click.Context, param: click.Parameter, value: str) -> str:
    from ksef_auth.tokens import check_reference

    try:  # a token pasted here would travel in the URL and come back in the error
        return check_reference(value, "session", "ksef-auth sessions")
    except ConfigError as exc:
        raise click.BadParameter(str(exc)) from None


@sessions.command("revoke")
@click.argument("reference", callback=_reference)
@profile_option
@config_option
@json_option
def revoke(
    reference: str, profile_name: str | None, config_path: Path | None, as_json: bool
) -> None:
    """Revoke session REFERENCE of the context (DELETE /auth/sessions/REFERENCE), authorized by
    the stored session; the stored session itself is revoked as by logout."""
    strategy = target(config_path, profile_name).strategy(check=False)
    with _login_hint(strategy):
        current = strategy.session.live()
        strategy.session.revoke_session(reference)
    own = current.reference_number == reference
    if as_json:
        emit_json({"profile": strategy.name, "revoked": reference, "current": own})
        return
    suffix = " (the stored session: logged out)" if own else ""
    click.secho(f"revoked session {reference}{suffix}", fg="green")


@click.command()
@click.option(
    "--credential",
    "role",
    type=click.Choice(["primary", "secondary"]),
    help="With a rotation: end the session kept for this credential (the old one: secondary).",
)
@profile_option
@config_option
@json_option
@many("logout")
def logout(
    role: str | None, profile_name: str | None, config_path: Path | None, as_json: bool
) -> None:
    """Revoke the stored session at KSeF and forget it locally (no credential needed).

    With no session stored it says so and exits 0: there is nothing to end. With
    --credential secondary, the session of a rotation's old credential (that credential is
    loaded to find it); other sessions: `ksef-auth sessions revoke REF`.
    """
    strategy = target(config_path, profile_name).strategy(check=False)
    if role is not None:
        ended = strategy.session.revoke_credential(role)
        reference = ended.reference_number if ended is not None else None
        if as_json:
            emit_json({"profile": strategy.name, "credential": role, "revoked": reference})
        elif reference is None:
            click.echo(f"no session of the {role} credential to log out")
        else:
            click.secho(f"logged out: {role} credential's session {reference} revoked", fg="green")
        return
    tokens = stored_session(strategy)
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
