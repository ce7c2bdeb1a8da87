"""``ksef-auth simulator``: serve a simulator, or drive a running one from the shell.

Without a command it serves until SIGINT/SIGTERM, printing its base URL on one line. The verbs
talk to a running simulator's ``/_sim`` API (``--url``, or ``KSEF_SIMULATOR_URL``):
``token issue`` / ``token revoke``, ``grant``, ``counters``, ``reset``; ``token new`` and
``nips`` need no simulator (a well-formed token to seed one with, sample NIPs).
"""

from __future__ import annotations

import hashlib
import json
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])

URL_ENV = "KSEF_SIMULATOR_URL"
PERMISSIONS = (
    "InvoiceRead",
    "InvoiceWrite",
    "CredentialsRead",
    "CredentialsManage",
    "SubunitManage",
    "EnforcementOperations",
    "Introspection",
    "CollectiveIdentifierManage",
)
SERVE_OPTIONS = (
    "host",
    "port",
    "access_ttl",
    "refresh_ttl",
    "auth_delay",
    "token_activation_delay",
    "no_rate_limits",
    "rate_limit_scale",
    "rotate_keys",
    "seed_tokens",
)


class Unreachable(click.ClickException):
    """No simulator answers at the URL: exit 6, as ``ksef-auth`` does when KSeF is unreachable."""

    exit_code = 6


# -- serving -----------------------------------------------------------------------------------
def _seed(values: tuple[str, ...]) -> list[tuple[str, str]]:
    from ksef_auth.nip import is_valid_nip

    from ksef_auth_simulator.refs import ksef_token_context

    pairs = []
    for value in values:
        nip, sep, token = (part.strip() for part in value.partition("="))
        if not sep or not nip or not token:
            raise click.BadParameter("expected NIP=TOKEN", param_hint="--seed-token")
        if not is_valid_nip(nip):
            raise click.BadParameter(f"{nip[:20]!r} is not a valid NIP", param_hint="--seed-token")
        context = ksef_token_context(token)
        if context != nip:  # the value is a secret: never repeated
            what = "is a token of another context" if context else "is not a KSeF 2.0 token"
            raise click.BadParameter(
                f"the TOKEN given for {nip} {what}, so the ksef-token signer would refuse it."
                f" A KSeF token reads <EC reference>|nip-{nip}|<64 hex digits>:"
                f" `ksef-auth simulator token new {nip}` prints a fresh one to seed with",
                param_hint="--seed-token",
            )
        pairs.append((nip, token))
    return pairs


def _serve(
    host: str,
    port: int,
    access_ttl: float,
    refresh_ttl: float,
    auth_delay: float,
    token_activation_delay: float,
    no_rate_limits: bool,
    rate_limit_scale: float,
    rotate_keys: bool,
    seed_tokens: tuple[str, ...],
) -> None:
    from ksef_auth_simulator import Simulator, SimulatorConfig, serve

    seeds = _seed(seed_tokens)
    try:
        config = SimulatorConfig(
            access_token_ttl=access_ttl,
            refresh_token_ttl=refresh_ttl,
            auth_delay=auth_delay,
            token_activation_delay=token_activation_delay,
            rate_limits=not no_rate_limits,
            rate_limit_scale=rate_limit_scale,
            rotate_keys=rotate_keys,
        )
    except ValueError as exc:
        raise click.UsageError(str(exc)) from None
    sim = Simulator(config)
    for nip, token in seeds:
        sim.register_ksef_token(nip, token)
    stop = threading.Event()

    def _handler(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _handler) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        with serve(sim, host=host, port=port) as running:
            click.echo(running.base_url)
            sys.stdout.flush()
            while not stop.wait(0.2):
                pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)


HELP = """Run a local KSeF 2.0 authentication simulator, or drive a running one.

Without a command: serve on loopback until SIGINT/SIGTERM, printing exactly the base URL
(http://127.0.0.1:PORT/v2) on one line.

\b
Then, from another shell (--url URL or KSEF_SIMULATOR_URL=URL):
  ksef-auth simulator token issue 5261040828      # prints a KSeF token for that NIP
  ksef-auth simulator token issue --contexts clients.txt --format env --out tokens.env
  ksef-auth simulator grant 5265877635 --to-nip 5261040828   # a firm acts for a client
  ksef-auth simulator counters --context 5261040828
\b
The tokens are in KSeF's format (<EC reference>|nip-<NIP>|<64 hex>), which the ksef-token
signer accepts; --seed-token NIP=TOKEN needs one too (`token new NIP` prints one).
"""


@click.group(
    "simulator",
    invoke_without_command=True,
    help=HELP,
    context_settings={"help_option_names": ["-h", "--help"]},
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to bind.")
@click.option("--port", default=0, type=int, show_default=True, help="Port (0 = a free one).")
@click.option(
    "--access-ttl", type=float, default=900.0, show_default=True, help="Access token lifetime, s."
)
@click.option(
    "--refresh-ttl",
    type=float,
    default=604800.0,
    show_default=True,
    help="Refresh token lifetime, s.",
)
@click.option(
    "--auth-delay", type=float, default=0.0, show_default=True, help="Seconds at status 100."
)
@click.option(
    "--token-activation-delay",
    type=float,
    default=0.0,
    show_default=True,
    help="Seconds a token made through POST /tokens stays Pending (KSeF's takes a while).",
)
@click.option("--no-rate-limits", is_flag=True, help="Switch the published rate limits off.")
@click.option(
    "--rate-limit-scale",
    type=float,
    default=1.0,
    show_default=True,
    help="Multiply every published limit (0.1 = ten times stricter).",
)
@click.option("--rotate-keys", is_flag=True, help="List two encryption keys per usage.")
@click.option(
    "--seed-token",
    "seed_tokens",
    multiple=True,
    metavar="NIP=TOKEN",
    help="Pre-register TOKEN (KSeF's format, for that NIP) as an Active KSeF token; repeatable.",
)
@click.pass_context
def simulator(ctx: click.Context, **options: Any) -> None:
    if ctx.invoked_subcommand is not None:
        given = [
            param.opts[0]
            for param in ctx.command.params
            if param.name in SERVE_OPTIONS
            and ctx.get_parameter_source(param.name) is not click.core.ParameterSource.DEFAULT
        ]
        if given:
            flags = ", ".join(given)
            raise click.UsageError(
                f"{flags}: options of serving; give them without a command"
                " (`ksef-auth simulator --port 8800`)"
            )
        return
    _serve(**options)


# -- talking to a running simulator -------------------------------------------------------------
def url_option(fn: F) -> F:
    return click.option(
        "--url",
        envvar=URL_ENV,
        metavar="URL",
        help=f"The running simulator (the URL it printed); default ${URL_ENV}.",
    )(fn)


@contextmanager
def _remote(url: str | None) -> Iterator[Any]:
    from ksef_auth_simulator.remote import RemoteError, RemoteSimulator, SimulatorUnreachable

    if not url:
        raise click.UsageError(
            f"which simulator? Pass --url (the URL `ksef-auth simulator` printed) or set {URL_ENV}"
        )
    try:
        remote = RemoteSimulator(url)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
    try:
        yield remote
    except SimulatorUnreachable as exc:
        raise Unreachable(str(exc)) from None
    except RemoteError as exc:
        raise click.ClickException(str(exc)) from None


def _contexts(nips: tuple[str, ...], contexts_file: Path | None) -> list[str]:
    """The NIPs of the arguments and of a contexts file (the formats strategy files read: one
    per line with ``#`` comments, a CSV with a ``nip`` column, TOML); every bad one reported."""
    from ksef_auth.contexts import ContextList
    from ksef_auth.errors import ConfigError

    listing = ContextList("NIP", "arguments", None)
    try:
        listing.read(list(nips))
        if contexts_file is not None:
            listing.read({"file": str(contexts_file)})
    except ConfigError as exc:
        raise click.BadParameter(str(exc), param_hint="--contexts") from None
    problems = [str(p) for p in listing.problems]
    wanted = []
    for entry in listing.entries:
        if entry.context.type != "Nip":
            problems.append(f"{entry.where}: {entry.context} is not a NIP context")
        else:
            wanted.append(entry.context.value)
    if problems:
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        raise click.BadParameter(
            f"{len(problems)} problem(s): " + "; ".join(problems[:5]) + more,
            param_hint="NIP/--contexts",
        )
    if not wanted:
        raise click.UsageError("give at least one NIP, or --contexts FILE")
    return wanted


contexts_option = click.option(
    "--contexts",
    "contexts_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="A file of NIPs: one per line, a CSV with a `nip` column, or TOML (as strategy files).",
)


@simulator.group("token")
def token_group() -> None:
    """Issue, make and revoke KSeF tokens (KSeF's format, accepted by the ksef-token signer)."""


@token_group.command("issue")
@click.argument("nips", nargs=-1, metavar="[NIP]...")
@contexts_option
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    type=click.Choice(PERMISSIONS),
    help="A permission of the token (repeatable); default all of an owner's.",
)
@click.option("--description", default=None, help="The token's description.")
@click.option(
    "--format",
    "output",
    type=click.Choice(["token", "env", "json"]),
    default="token",
    show_default=True,
    help="token: one per line; env: VAR='TOKEN' lines a shell can source (see --var);"
    " json: a list of objects.",
)
@click.option(
    "--var",
    default="KSEF_TOKEN_{nip}",
    show_default=True,
    help="Variable name of --format env; {nip} is the context.",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Write to this file (mode 0600) instead of standard output.",
)
@url_option
def token_issue(
    nips: tuple[str, ...],
    contexts_file: Path | None,
    permissions: tuple[str, ...],
    description: str | None,
    output: str,
    var: str,
    out: Path | None,
    url: str | None,
) -> None:
    """Issue an Active KSeF token for each NIP in a running simulator and print it.

    \b
    export KSEF2_TOKEN=$(ksef-auth simulator token issue 5261040828)
    ksef-auth simulator token issue --contexts clients.txt --format env --out tokens.env
    """
    if output == "env" and "{nip}" not in var:
        raise click.BadParameter("must contain {nip}", param_hint="--var")
    wanted = _contexts(nips, contexts_file)
    with _remote(url) as remote:
        tokens = remote.issue_tokens(wanted, list(permissions) or None, description)
    _emit(_format_tokens(tokens, output, var), out, f"{len(tokens)} token(s)")


def _format_tokens(tokens: dict[str, str], output: str, var: str) -> str:
    if output == "json":
        listing = [
            {"nip": nip, "referenceNumber": token.split("|", 1)[0], "token": token}
            for nip, token in tokens.items()
        ]
        return json.dumps(listing, indent=2) + "\n"
    if output == "env":
        # single-quoted: a token holds "|", and the file is meant for `set -a; . tokens.env`
        return "".join(f"{var.format(nip=nip)}='{token}'\n" for nip, token in tokens.items())
    return "".join(f"{token}\n" for token in tokens.values())


def _emit(text: str, out: Path | None, what: str) -> None:
    if out is None:
        click.echo(text, nl=False)
        return
    from ksef_auth.errors import KsefAuthError
    from ksef_auth.files import write_private

    try:
        write_private(out, text)
    except (OSError, KsefAuthError) as exc:
        raise click.FileError(str(out), hint=str(exc)) from None
    click.echo(f"wrote {what} to {out} (mode 0600)", err=True)


@token_group.command("new")
@click.argument("nip")
def token_new(nip: str) -> None:
    """Print a fresh, well-formed KSeF token for NIP without any simulator (to seed one with
    --seed-token NIP=TOKEN, e.g. in a CI script that needs the token before the server starts).

    \b
    KSEF2_TOKEN=$(ksef-auth simulator token new 5261040828)
    ksef-auth simulator --seed-token "5261040828=$KSEF2_TOKEN"
    """
    import time

    from ksef_auth.nip import is_valid_nip

    from ksef_auth_simulator.refs import ksef_token_text, new_reference

    if not is_valid_nip(nip):
        raise click.BadParameter(f"{nip[:20]!r} is not a valid NIP", param_hint="NIP")
    click.echo(ksef_token_text(new_reference("EC", time.time()), "Nip", nip))


@token_group.command("revoke")
@click.argument("token")
@url_option
def token_revoke(token: str, url: str | None) -> None:
    """Revoke a KSeF token by its EC reference number (or the token itself)."""
    with _remote(url) as remote:
        remote.revoke_token(token)
    click.echo("revoked", err=True)


@token_group.command("activate")
@click.argument("token")
@url_option
def token_activate(token: str, url: str | None) -> None:
    """Make a Pending KSeF token (one made through POST /tokens, see --token-activation-delay)
    Active now, by its EC reference number (or the token itself)."""
    with _remote(url) as remote:
        remote.activate_token(token)
    click.echo("active", err=True)


@simulator.command("grant")
@click.argument("nips", nargs=-1, metavar="[NIP]...")
@contexts_option
@click.option("--to-nip", help="Grant to this NIP (a firm's seal or a person with a NIP).")
@click.option("--to-pesel", help="Grant to a person's certificate with this PESEL.")
@click.option("--to-fingerprint", help="Grant to the certificate with this SHA-256 (hex).")
@click.option(
    "--to-certificate",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Grant to this certificate (PEM or DER; its SHA-256 fingerprint).",
)
@click.option(
    "--permission",
    "permissions",
    multiple=True,
    type=click.Choice(PERMISSIONS),
    help="Repeatable; default InvoiceRead and InvoiceWrite.",
)
@url_option
def grant(
    nips: tuple[str, ...],
    contexts_file: Path | None,
    to_nip: str | None,
    to_pesel: str | None,
    to_fingerprint: str | None,
    to_certificate: Path | None,
    permissions: tuple[str, ...],
    url: str | None,
) -> None:
    """Grant permissions in the contexts NIP... to a subject, so its certificate logs in there
    through XAdES (an accounting firm's seal acting for its clients).

    \b
    ksef-auth simulator grant 5265877635 7627267709 --to-nip 5261040828
    ksef-auth simulator grant --contexts clients.txt --to-certificate seal.pem
    """
    subject = _subject(to_nip, to_pesel, to_fingerprint, to_certificate)
    wanted = _contexts(nips, contexts_file)
    chosen = list(permissions) or ["InvoiceRead", "InvoiceWrite"]
    with _remote(url) as remote:
        remote.grant(wanted, subject[0], subject[1], chosen)
    where = wanted[0] if len(wanted) == 1 else f"{len(wanted)} contexts"
    click.echo(f"granted {', '.join(chosen)} to {subject[0]} {subject[1]} in {where}")


def _subject(
    to_nip: str | None, to_pesel: str | None, to_fingerprint: str | None, to_cert: Path | None
) -> tuple[str, str]:
    from ksef_auth.nip import is_valid_nip, is_valid_pesel

    given = [v for v in (to_nip, to_pesel, to_fingerprint, to_cert) if v is not None]
    if len(given) != 1:
        raise click.UsageError(
            "give exactly one of --to-nip, --to-pesel, --to-fingerprint, --to-certificate"
        )
    if to_nip is not None:
        if not is_valid_nip(to_nip):
            raise click.BadParameter("not a valid NIP", param_hint="--to-nip")
        return "Nip", to_nip
    if to_pesel is not None:
        if not is_valid_pesel(to_pesel):
            raise click.BadParameter("not a valid PESEL", param_hint="--to-pesel")
        return "Pesel", to_pesel
    if to_fingerprint is not None:
        value = to_fingerprint.replace(":", "").strip().upper()
        if len(value) != 64 or any(c not in "0123456789ABCDEF" for c in value):
            raise click.BadParameter(
                "expected 64 hex digits (SHA-256)", param_hint="--to-fingerprint"
            )
        return "Fingerprint", value
    assert to_cert is not None
    return "Fingerprint", _fingerprint(to_cert)


def _fingerprint(path: Path) -> str:
    from cryptography import x509
    from cryptography.hazmat.primitives.serialization import Encoding

    data = path.read_bytes()
    try:
        cert = (
            x509.load_pem_x509_certificate(data)
            if b"-----BEGIN" in data
            else x509.load_der_x509_certificate(data)
        )
    except ValueError:
        raise click.BadParameter(
            f"{path} holds no PEM or DER certificate", param_hint="--to-certificate"
        ) from None
    return hashlib.sha256(cert.public_bytes(Encoding.DER)).hexdigest().upper()


@simulator.command("counters")
@click.option("--context", help="One context's counters (its requests per operation).")
@click.option("--json", "as_json", is_flag=True, help="The raw JSON.")
@url_option
def counters(context: str | None, as_json: bool, url: str | None) -> None:
    """What the simulator saw: logins, refreshes, 429s, requests per operation."""
    with _remote(url) as remote:
        data = remote.counters(context)
    if as_json:
        click.echo(json.dumps(data, indent=2, sort_keys=True))
        return
    events = data.get("events", {})
    title = f"context {context}" if context else "all contexts"
    click.echo(f"events ({title}):")
    for name in sorted(events):
        click.echo(f"  {name:<22} {events[name]}")
    if not events:
        click.echo("  (none)")
    click.echo("requests:")
    endpoints = data.get("endpoints", {})
    width = max((len(name) for name in endpoints), default=0)
    for name in sorted(endpoints):
        counts = endpoints[name]
        statuses = ", ".join(f"{k}: {v}" for k, v in sorted(counts.items()) if k != "calls")
        click.echo(f"  {name:<{width}}  {counts.get('calls', 0):>6} ({statuses})")
    if not endpoints:
        click.echo("  (none)")
    if not context and data.get("contexts"):
        click.echo(f"contexts seen: {len(data['contexts'])} (--context NIP for one)")


@simulator.command("reset")
@url_option
def reset(url: str | None) -> None:
    """Zero the counters and the rate-limit windows."""
    with _remote(url) as remote:
        remote.reset()
    click.echo("counters and rate-limit windows reset", err=True)


@simulator.command("nips")
@click.argument("count", type=click.IntRange(1, 1_000_000))
@click.option(
    "--start", default=0, type=click.IntRange(0), help="Where the sequence starts (another set)."
)
def nips(count: int, start: int) -> None:
    """Print COUNT valid example NIPs, one per line (a clients file for tests and docs).

    \b
    ksef-auth simulator nips 1000 > clients.txt
    """
    from ksef_auth.nip import example_nips

    click.echo("".join(f"{nip}\n" for nip in example_nips(count, start=start)), nl=False)
