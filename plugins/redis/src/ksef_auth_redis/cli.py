"""``ksef-auth redis rekey``: seal every session in Redis again with the newest key, in place.

After a rotation (the key option or ``KSEF_AUTH_STORE_KEY`` set to ``"NEW,OLD"`` on every
machine), run it once from any machine: every session is re-sealed with ``NEW`` (an entry a
refresh rewrites meanwhile is left alone: it is sealed with ``NEW`` already), nobody is logged
out, and when it reports nothing left over ``OLD`` can be dropped. The store is the one a
strategy file names (``--strategy-file``, ``--strategy``), or given by ``--url``, ``--key-env``
/ ``--key-file``, ``--prefix`` and ``--password-env``. Exit 0 when every session is sealed with
the newest key, 1 when some could not be re-sealed (listed by entry name, a hash), 3 for a
configuration error, 7 when Redis cannot be used.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from ksef_auth import ConfigError, SecretRef

if TYPE_CHECKING:
    from ksef_auth_redis.store import RedisStore


@click.group("redis")
def redis_group() -> None:
    """The Redis session store ("redis"): one server, a Cluster or Sentinel."""


@redis_group.command("rekey")
@click.option(
    "--strategy-file",
    type=click.Path(dir_okay=False, exists=True, path_type=Path),
    help="Use the redis store of a strategy in this strategy file.",
)
@click.option("--strategy", "strategy_name", metavar="NAME", help="That strategy's name.")
@click.option("--url", metavar="URL", help="redis://, redis+cluster:// or redis+sentinel:// url.")
@click.option("--key-env", metavar="VAR", help="Variable holding the keys, newest first.")
@click.option(
    "--key-file",
    type=click.Path(dir_okay=False, path_type=Path),
    help="File holding the keys, newest first.",
)
@click.option("--prefix", default="ksef-auth:", show_default=True, help="The store's prefix.")
@click.option("--password-env", metavar="VAR", help="Variable holding the Redis password.")
def rekey(
    strategy_file: Path | None,
    strategy_name: str | None,
    url: str | None,
    key_env: str | None,
    key_file: Path | None,
    prefix: str,
    password_env: str | None,
) -> None:
    """Re-seal every session with the newest key (after a rotation), logging nobody out."""
    store = _store(strategy_file, strategy_name, url, key_env, key_file, prefix, password_env)
    report = store.rekey()
    click.echo(report.summary())
    if not report.complete:
        raise SystemExit(1)


def _store(
    strategy_file: Path | None,
    strategy_name: str | None,
    url: str | None,
    key_env: str | None,
    key_file: Path | None,
    prefix: str,
    password_env: str | None,
) -> RedisStore:
    from ksef_auth_redis.store import DEFAULT_URL, RedisStore

    if key_env and key_file:
        raise click.UsageError("--key-env and --key-file exclude each other")
    if strategy_file is not None:
        if url or key_env or key_file or password_env:
            raise click.UsageError(
                "--strategy-file excludes --url, --key-env, --key-file and --password-env"
            )
        import ksef_auth

        store = ksef_auth.load(strategy_file, check=False).strategy(strategy_name).store
        if not isinstance(store, RedisStore):
            raise ConfigError(
                f"strategy {strategy_name or '(the current one)'} does not use the redis store",
                source=str(strategy_file),
            )
        return store
    if strategy_name:
        raise click.UsageError("--strategy needs --strategy-file")
    key = SecretRef.env(key_env) if key_env else SecretRef.file(key_file) if key_file else None
    password = SecretRef.env(password_env) if password_env else None
    try:
        return RedisStore(url=url or DEFAULT_URL, key=key, prefix=prefix, password=password)
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None
