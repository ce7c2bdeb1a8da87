"""Rotating a credential from the command line: ``profile rotate`` and what ``status``,
``sessions``, ``logout --credential`` and ``doctor`` show of a rotation.

A profile whose credential is a rotation (``credential = { primary = ..., secondary = ... }``)
logs in with the primary and, while KSeF refuses it as not usable yet (a new KSeF token still
``Pending``, a renewed certificate not yet granted), with the secondary
(:class:`ksef_auth.CredentialRotation`). The procedure, each step a command::

    ksef-auth tokens create --description "2027" ...      # the new token, Pending at first
    ksef-auth profile rotate shop --token-env KSEF_TOKEN_NEW  # primary = new, secondary = old
    ksef-auth status                                      # which credential the session uses
    ksef-auth logout --credential secondary               # once the primary works
    ksef-auth tokens revoke <the old token's reference>
    ksef-auth profile rotate shop --finish                # the primary alone again

Nothing here prints a secret: credentials are named by role and by a fingerprint prefix.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ksef_auth.cli.profile import (
    config_option,
    emit_json,
    json_option,
    parse_assignments,
    profile_store,
    variable_name,
)
from ksef_auth.strategy import CredentialRotation

if TYPE_CHECKING:
    from ksef_auth.model import SessionTokens
    from ksef_auth.session import CredentialState
    from ksef_auth.strategy import Strategy

ROLES = ("primary", "secondary")
SHOWN = 16
"""Characters of a fingerprint shown (a hash of the credential, never the secret)."""


def is_rotation(strategy: Strategy) -> bool:
    return isinstance(strategy.credential, CredentialRotation)


def _state_text(state: CredentialState) -> str:
    if state.state == "unavailable":
        return f"unavailable here: {state.error}"
    text = f"{state.state} (fingerprint {str(state.fingerprint)[:SHOWN]})"
    if state.state == "rejected":
        until = datetime.fromtimestamp(state.retry_at or 0, UTC).strftime("%H:%M:%S UTC")
        text += f", KSeF status {state.code}: {state.error}; tried again after {until}"
    if state.session:
        text += f", session {state.session}"
    return text


def credential_report(strategy: Strategy, tokens: SessionTokens | None) -> dict[str, Any]:
    """What ``status`` adds about the credential: which one made the kept session and, for a
    rotation, each credential's state. Loads a rotation's credentials (no network for
    variables and files), never shows a secret."""
    if tokens is None and not is_rotation(strategy):
        return {}
    manager = strategy.session
    if not is_rotation(strategy):
        assert tokens is not None
        return {"credential": f"fingerprint {tokens.credential_fingerprint[:SHOWN]}"}
    states = manager.credential_states()
    role = manager.credential_role(tokens) if tokens is not None else None
    if tokens is None:
        made = "no session yet"
    elif role:
        made = f"{role} (the session's)"
    else:
        made = (
            f"an earlier one, fingerprint {tokens.credential_fingerprint[:SHOWN]} (neither"
            " primary nor secondary: logout ends its session)"
        )
    report: dict[str, Any] = {"credential": made}
    for state in states:
        text = _state_text(state)
        if state.role == "primary" and state.state == "usable" and role == "secondary":
            text = (
                f"loads (fingerprint {str(state.fingerprint)[:SHOWN]}), but the session came"
                " from the secondary: KSeF refused the primary then (`ksef-auth doctor` asks"
                " KSeF now)"
            )
        report[state.role] = text
    return report


def credential_json(strategy: Strategy, tokens: SessionTokens | None) -> dict[str, Any]:
    """``status --json``: ``credential`` (the session's role, ``""`` without a rotation, None
    when unknown) and, for a rotation, ``credentials`` (each one's state)."""
    if not is_rotation(strategy):
        return {}
    manager = strategy.session
    return {
        "credential": manager.credential_role(tokens) if tokens is not None else None,
        "credentials": [
            {
                "role": s.role,
                "state": s.state,
                "fingerprint": s.fingerprint[:SHOWN] if s.fingerprint else None,
                "code": s.code,
                "error": s.error or None,
                "retry_at": s.retry_at,
                "in_use": s.in_use,
                "session": s.session,
            }
            for s in manager.credential_states()
        ],
    }


def session_marks(strategy: Strategy) -> dict[str, str]:
    """Reference number -> ``primary``/``secondary``: the sessions kept for each credential of
    a rotation (for ``sessions``); empty without a rotation."""
    if not is_rotation(strategy):
        return {}
    return {s.session: s.role for s in strategy.session.credential_states() if s.session}


# --- profile rotate -----------------------------------------------------------------------------


@click.command("rotate")
@click.argument("name")
@click.option(
    "--token-env",
    metavar="VAR",
    callback=variable_name,
    help="NAME of the variable holding the new KSeF token (the new primary).",
)
@click.option(
    "--credential",
    "source",
    metavar="NAME",
    help="The new primary from any installed credential source (with --opt).",
)
@click.option(
    "--opt",
    "credential_opts",
    metavar="KEY=VALUE",
    multiple=True,
    help="An option of --credential's source; secrets as env:VAR or file:PATH.",
)
@click.option(
    "--finish", is_flag=True, help="End the rotation: the primary alone becomes the credential."
)
@config_option
@json_option
def rotate(
    name: str,
    token_env: str | None,
    source: str | None,
    credential_opts: tuple[str, ...],
    finish: bool,
    config_path: Path | None,
    as_json: bool,
) -> None:
    """Start or finish rotating profile NAME's credential.

    With --token-env VAR (or --credential NAME --opt ...): the new credential becomes the
    primary and the current one the secondary, used while KSeF refuses the new one (a token
    still Pending). With --finish: the primary alone (after `ksef-auth logout --credential
    secondary` and revoking the old token).

    \b
    ksef-auth profile rotate shop --token-env KSEF_TOKEN_NEW
    ksef-auth profile rotate shop --finish
    """
    import attrs

    from ksef_auth.manager import default_manager

    if sum(bool(x) for x in (token_env, source, finish)) != 1:
        raise click.UsageError("give exactly one of --token-env VAR, --credential NAME, --finish")
    if credential_opts and not source:
        raise click.UsageError("--opt goes with --credential NAME")
    profiles = profile_store(config_path)
    item = profiles.get(profiles.resolve(name))
    old = item.credential
    rotating = isinstance(old, dict) and set(old) == set(ROLES)
    if finish:
        if not rotating:
            raise click.UsageError(f"profile {name} is not rotating a credential")
        credential: Any = old["primary"]
    else:
        if rotating:
            raise click.UsageError(
                f"profile {name} is rotating already; finish it first:"
                f" ksef-auth profile rotate {name} --finish"
            )
        if token_env:
            new: Any = {"use": "env", "var": token_env}
        else:
            assert source is not None
            registration = default_manager().get("credential_source", source)
            options = parse_assignments(credential_opts, registration, "--opt")
            new = {"use": source, **options} if options else source
        credential = {"primary": new, "secondary": old}
    made = attrs.evolve(item, credential=credential)
    profiles.save(name, made, activate=False, overwrite=True)
    if as_json:
        emit_json({"profile": name, "credential": credential})
        return
    if finish:
        click.echo(f"profile {name}: rotation finished, the primary is the credential")
    else:
        click.echo(f"profile {name}: new logins use the new credential (primary);")
        click.echo("the old one (secondary) is used while KSeF refuses the new one")
