"""The ``ksef-auth`` command line.

Commands live one group per module; plugins add theirs through ``ksef_auth_register_commands``.
Every error ksef-auth raises on purpose is printed as one line on stderr (no traceback, no
secret) and mapped to an exit code (see :data:`EXIT_CODES`).
"""

from __future__ import annotations

import sys

import click

from ksef_auth.errors import (
    ConfigError,
    CredentialError,
    KsefAuthError,
    KsefError,
    StoreError,
    TransportError,
)

EXIT_CODES: dict[type[BaseException], int] = {
    ConfigError: 3,
    CredentialError: 4,
    KsefError: 5,
    TransportError: 6,
    StoreError: 7,
}
"""0 ok; 1 a check failed; 2 usage error; 3 configuration; 4 credential; 5 KSeF refused;
6 KSeF unreachable; 7 session store; 1 for any other ksef-auth error."""


def exit_code(error: BaseException) -> int:
    for cls in type(error).__mro__:
        if cls in EXIT_CODES:
            return EXIT_CODES[cls]
    return 1


class _Cli(click.Group):
    def invoke(self, ctx: click.Context) -> object:
        try:
            return super().invoke(ctx)
        except KsefAuthError as exc:
            click.secho(f"error: {exc}", fg="red", err=True)
            ctx.exit(exit_code(exc))


@click.group(cls=_Cli)
@click.version_option(package_name="ksef-auth")
def cli() -> None:
    """Authenticate to KSeF 2.0 with any credential, keep sessions alive, diagnose setups."""


def _add_builtin_commands() -> None:
    from ksef_auth.cli import config, doctor, nip, plugin_template, plugins, profile, session

    cli.add_command(plugins.plugins)
    cli.add_command(plugin_template.plugin)
    cli.add_command(config.config)
    cli.add_command(profile.profile)
    cli.add_command(nip.nip)
    cli.add_command(doctor.doctor)
    for command in session.COMMANDS:
        cli.add_command(command)


def build() -> click.Group:
    """The CLI with built-in and plugin commands (a broken plugin is reported, not fatal)."""
    from ksef_auth.manager import default_manager

    _add_builtin_commands()
    default_manager().register_commands(cli)
    return cli


def main() -> None:
    build()
    sys.exit(cli.main(standalone_mode=True))
