"""ksef-auth plugin entry point: adds the ``simulator`` command to the ``ksef-auth`` CLI."""

from __future__ import annotations

from typing import Any

from ksef_auth import hookimpl


@hookimpl
def ksef_auth_register_commands(cli: Any) -> None:
    """``cli`` is the root click group of ``ksef-auth``."""
    from ksef_auth_simulator.cli import simulator

    cli.add_command(simulator)
