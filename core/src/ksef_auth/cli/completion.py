"""``ksef-auth completion SHELL``: the shell completion script for bash, zsh or fish.

::

    eval "$(ksef-auth completion bash)"      # in ~/.bashrc
    eval "$(ksef-auth completion zsh)"       # in ~/.zshrc
    ksef-auth completion fish > ~/.config/fish/completions/ksef-auth.fish

Commands, options, profile names (``--profile``) and plugin commands all complete.
"""

from __future__ import annotations

import click
from click.shell_completion import get_completion_class

SHELLS = ("bash", "zsh", "fish")
COMPLETE_VAR = "_KSEF_AUTH_COMPLETE"


@click.command()
@click.argument("shell", type=click.Choice(SHELLS))
@click.pass_context
def completion(ctx: click.Context, shell: str) -> None:
    """Print the completion script for SHELL (bash, zsh or fish).

    \b
    eval "$(ksef-auth completion bash)"
    ksef-auth completion fish > ~/.config/fish/completions/ksef-auth.fish
    """
    root = ctx.find_root().command
    cls = get_completion_class(shell)
    assert cls is not None  # every choice has a class in click
    click.echo(cls(root, {}, "ksef-auth", COMPLETE_VAR).source())
