"""ksef-auth-demo: the ``ksef-auth demo`` command.

It lives in a plugin because it starts the simulator, and core never imports a plugin. It uses
the other plugins only by name, through strategy dicts, and skips those that are not installed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import hookimpl

if TYPE_CHECKING:
    import click


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth_demo.cli import demo

    cli.add_command(demo)
