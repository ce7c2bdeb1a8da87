"""``ksef-auth file rekey``: seal every session file again with the newest key, in place.

After a rotation (the key option or ``KSEF_AUTH_STORE_KEY`` set to ``"NEW,OLD"`` everywhere),
run it once: every session is re-sealed with ``NEW`` under its own lock, nobody is logged out,
and when it reports nothing left over ``OLD`` can be dropped. The store is the one a strategy
file names (``--strategy-file``, ``--strategy``), or given by ``--path`` and ``--key-env`` /
``--key-file``, or the default one (the CLI's). Exit 0 when every session is sealed with the
newest key, 1 when some could not be re-sealed (listed by entry name, a hash), 3 for a
configuration error, 7 when the store cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ksef_auth import ConfigError, SecretRef

if TYPE_CHECKING:
    from ksef_auth_file.store import FileStore


@click.group("file")
def file_group() -> None:
    """The encrypted file session store ("file")."""


@file_group.command("rekey")
@click.option(
    "--strategy-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Use the file store of a strategy in this strategy file.",
)
@click.option("--strategy", "strategy_name", metavar="NAME", help="That strategy's name.")
@click.option(
    "--path",
    type=click.Path(file_okay=False, path_type=Path),
    help="The sessions directory (default: the user state directory's ksef-auth/sessions).",
)
@click.option("--key-env", metavar="VAR", help="Variable holding the keys, newest first.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the keys, newest first.",
)
def rekey(
    strategy_file: Path | None,
    strategy_name: str | None,
    path: Path | None,
    key_env: str | None,
    key_file: Path | None,
) -> None:
    """Re-seal every session with the newest key (after a rotation), logging nobody out."""
    store = _store(strategy_file, strategy_name, path, key_env, key_file)
    report = store.rekey()
    click.echo(report.summary())
    if not report.complete:
        raise SystemExit(1)


def _store(
    strategy_file: Path | None,
    strategy_name: str | None,
    path: Path | None,
    key_env: str | None,
    key_file: Path | None,
) -> FileStore:
    from ksef_auth_file.store import FileStore

    if key_env and key_file:
        raise click.UsageError("--key-env and --key-file exclude each other")
    if strategy_file is not None:
        if path or key_env or key_file:
            raise click.UsageError("--strategy-file excludes --path, --key-env and --key-file")
        import ksef_auth

        store = ksef_auth.load(strategy_file, check=False).strategy(strategy_name).store
        if not isinstance(store, FileStore):
            raise ConfigError(
                f"strategy {strategy_name or '(the current one)'} does not use the file store",
                source=str(strategy_file),
            )
        return store
    if strategy_name:
        raise click.UsageError("--strategy needs --strategy-file")
    key = SecretRef.env(key_env) if key_env else SecretRef.file(key_file) if key_file else None
    return FileStore(path=path, key=key)
