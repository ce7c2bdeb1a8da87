"""The ``ksef-auth`` command line.

Commands live one group per module; plugins add theirs through ``ksef_auth_register_commands``
(the ``cert`` and ``tokens`` groups are core's, for plugins to add subcommands to: see
:func:`group`). Every error ksef-auth raises on purpose is printed as one line on stderr (no
traceback, no secret) and mapped to an exit code (:data:`EXIT_CODES`, the one table of them);
with ``--json`` the error is also printed on stdout as ``{"ok": false, "error": {...}}``.

Conventions: ``-h``/``--help`` everywhere, ``NO_COLOR`` (any value) turns colours off,
``-v``/``--verbose`` logs what ksef-auth does and ``--debug`` also the HTTP requests and the
traceback of an unexpected error, on stderr. Shell completion: ``ksef-auth completion bash``.
"""

from __future__ import annotations

import json
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import click

from ksef_auth.errors import (
    ConfigError,
    CredentialError,
    KsefAuthError,
    KsefError,
    NoSession,
    StoreError,
    TransportError,
)

EXIT_CODES: dict[type[BaseException], int] = {
    ConfigError: 3,
    CredentialError: 4,
    KsefError: 5,
    TransportError: 6,
    StoreError: 7,
    NoSession: 8,
}
"""The exit code of each error class (the first class of an error's MRO found here wins)."""

EXIT_MEANINGS: dict[int, str] = {
    0: "success",
    1: "a check failed (`doctor`, `nip check`, `demo`), or an unexpected error",
    2: "usage error: an unknown command, a missing or invalid option or argument",
    3: "configuration: strategy file, profile, plugin name, unset variable (`ConfigError`)",
    4: "credential: cannot be loaded, or unusable: expired, mismatched (`CredentialError`)",
    5: "KSeF refused: an error answer or a failed authentication status (`KsefError`)",
    6: "KSeF unreachable: no answer, connection refused, timeout, DNS (`TransportError`)",
    7: "session store unreachable, unwritable or refusing (`StoreError`)",
    8: "no session: nothing to show or revoke without logging in first (`NoSession`)",
    141: "stdout was closed early (`ksef-auth tokens list | head -1`): stopped quietly, as"
    " tools stopped by SIGPIPE do",
}
"""What each exit code means: the table the CLI reference prints."""

CONTEXT_SETTINGS: dict[str, Any] = {"help_option_names": ["-h", "--help"]}

log = logging.getLogger("ksef_auth.cli")
_json_errors = False  # set by the root group's main from the command line


BROKEN_PIPE = 141
"""The exit code when whoever reads stdout stopped reading (128 + SIGPIPE, as the shell says)."""


def _stdout_gone() -> int:
    """stdout's reader is gone: point stdout at /dev/null (so nothing more fails on it, not even
    the flush at exit) and return :data:`BROKEN_PIPE`."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)
    return BROKEN_PIPE


def exit_code(error: BaseException) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


def _wants_json(args: Sequence[str]) -> bool:
    args = list(args)
    if "--" in args:
        args = args[: args.index("--")]
    return "--json" in args


def _report(message: str, code: int, kind: str, as_json: bool) -> None:
    click.secho(f"error: {message}", fg="red", err=True)
    if as_json:
        error = {"type": kind, "message": message, "exit_code": code}
        click.echo(json.dumps({"ok": False, "error": error}, indent=2))


class _Cli(click.Group):
    """The root group: turns every error into one line (and a JSON object with ``--json``)."""

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        **extra: Any,
    ) -> Any:
        global _json_errors
        argv = list(sys.argv[1:] if args is None else args)
        as_json = _json_errors = _wants_json(argv)
        if os.environ.get("NO_COLOR"):
            extra.setdefault("color", False)
        try:
            result = super().main(
                argv, prog_name or "ksef-auth", complete_var, standalone_mode=False, **extra
            )
        except click.exceptions.Exit as exc:
            code = exc.exit_code
        except click.ClickException as exc:  # usage errors: exit 2
            if as_json:
                _report(exc.format_message(), exc.exit_code, type(exc).__name__, True)
            else:
                exc.show()
            code = exc.exit_code
        except click.Abort:
            click.echo("Aborted!", err=True)
            code = 1
        except BrokenPipeError:
            code = _stdout_gone()
        except KsefAuthError as exc:  # raised outside a command (a callback, a plugin)
            code = exit_code(exc)
            _report(str(exc), code, type(exc).__name__, as_json)
        else:
            code = result if isinstance(result, int) else 0
        if standalone_mode:
            sys.exit(code)
        return code

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except KsefAuthError as exc:
            code = exit_code(exc)
            _report(str(exc), code, type(exc).__name__, _json_errors)
            ctx.exit(code)
        except (click.exceptions.Exit, click.ClickException, click.Abort, SystemExit):
            raise
        except BrokenPipeError:
            ctx.exit(_stdout_gone())
        except Exception as exc:
            if ctx.meta.get("ksef_auth.debug"):
                raise
            message = f"unexpected {type(exc).__name__}: {exc} (run with --debug for details)"
            _report(message, 1, type(exc).__name__, _json_errors)
            ctx.exit(1)


def _setup_logging(verbose: bool, debug: bool) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    level = logging.DEBUG if debug else logging.INFO if verbose else logging.WARNING
    if level == logging.WARNING:
        handler.setFormatter(logging.Formatter("warning: %(message)s"))
    root = logging.getLogger("ksef_auth")
    root.handlers[:] = [handler]
    root.setLevel(level)
    root.propagate = False
    if debug:  # httpx logs the method, URL and status of each request (never a header)
        logging.getLogger("httpx").addHandler(handler)
        logging.getLogger("httpx").setLevel(logging.INFO)


@click.group(cls=_Cli, context_settings=CONTEXT_SETTINGS)
@click.version_option(package_name="ksef-auth")
@click.option("-v", "--verbose", is_flag=True, help="Log what ksef-auth does, on stderr.")
@click.option(
    "--debug", is_flag=True, help="Log HTTP requests too, and show tracebacks of unexpected errors."
)
@click.pass_context
def cli(ctx: click.Context, verbose: bool, debug: bool) -> None:
    """Authenticate to KSeF 2.0 with any credential, keep sessions alive, diagnose setups.

    Settings come from a profile (ksef-auth profile create), or from the environment alone:
    KSEF2_ENV, KSEF2_NIP and KSEF2_TOKEN (see ksef-auth env --help).
    """
    ctx.meta["ksef_auth.debug"] = debug
    _setup_logging(verbose, debug)


def group(cli: click.Group, name: str) -> click.Group:
    """The core command group ``name`` of ``cli`` (``cert``, ``tokens``, ``sessions``), for a
    plugin to add subcommands to: ``group(cli, "cert").add_command(enroll)``. Added to ``cli``
    when missing (a bare group in a plugin's tests); ``LookupError`` for a name core has no
    group for."""
    found = cli.commands.get(name)
    if isinstance(found, click.Group):
        return found
    from ksef_auth.cli import cert, session, tokens

    groups: dict[str, click.Group] = {
        "cert": cert.cert,
        "tokens": tokens.tokens,
        "sessions": session.sessions,  # type: ignore[dict-item]
    }
    if name not in groups:
        raise LookupError(f"ksef-auth has no command group {name!r} (groups: {', '.join(groups)})")
    cli.add_command(groups[name])
    return groups[name]


def _add_builtin_commands() -> None:
    from ksef_auth.cli import (
        cert,
        completion,
        config,
        doctor,
        environment,
        nip,
        plugin_template,
        plugins,
        profile,
        rotation,
        session,
        tokens,
    )

    cli.add_command(plugins.plugins)
    cli.add_command(plugin_template.plugin)
    cli.add_command(config.config)
    cli.add_command(profile.profile)
    profile.profile.add_command(rotation.rotate)
    cli.add_command(nip.nip)
    cli.add_command(doctor.doctor)
    cli.add_command(cert.cert)
    cli.add_command(tokens.tokens)
    cli.add_command(completion.completion)
    cli.add_command(environment.env)
    cli.add_command(environment.url)
    for command in session.COMMANDS:
        cli.add_command(command)


def build() -> click.Group:
    """The CLI with built-in and plugin commands (a broken plugin is reported, not fatal)."""
    from ksef_auth.manager import default_manager

    _add_builtin_commands()
    default_manager().register_commands(cli)
    return cli


def fail(message: str, code: int = 1) -> NoReturn:
    """Print ``error: message`` (and the JSON error with ``--json``) and exit with ``code``."""
    _report(message, code, "Error", _json_errors)
    raise SystemExit(code)


def main() -> None:
    build()
    cli.main()
