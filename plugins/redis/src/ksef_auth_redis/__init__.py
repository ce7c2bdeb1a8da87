"""ksef-auth-redis: encrypted sessions in Redis, shared by every worker and host.

One server, a Redis Cluster or Sentinel, chosen by the url (see
:mod:`ksef_auth_redis.connection`): ``redis://``, ``redis+cluster://``, ``redis+sentinel://``,
``rediss`` for TLS in each; ``check()`` refuses a url that does not match the server's mode and
says which form to use.

Each session is one string ``<prefix>session:{<entry>}`` (the entry is the SHA-256 of the store
key) holding the session sealed with AES-256-GCM under a key ring (:mod:`ksef_auth.sealing`,
keys from :mod:`ksef_auth.store_keys`), written with ``SET ... PX`` so Redis drops it when its
last token expires. Logins and refreshes of one session are serialized by a lock on
``<prefix>lock:{<entry>}`` (the same hash tag, hence the same cluster slot) that lives
``lock_ttl`` seconds unless its holder extends it (:mod:`ksef_auth_redis.lock`), so a hundred
workers starting together log in once and a holder that dies frees it within seconds.

``store.rate_limiter()`` shares KSeF's rate limits among everyone on the Redis (one Lua script:
:mod:`ksef_auth_redis.limiter`); ``ksef-auth redis rekey`` re-seals every session with the
newest key after a rotation. Plaintext storage exists only when ``encrypt = false`` is written
explicitly. Messages name the Redis host and port, never a user or password.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import Register, hookimpl
from ksef_auth_redis.connection import RedisTarget, redact_url
from ksef_auth_redis.limiter import RedisRateLimiter
from ksef_auth_redis.store import RedisStore

if TYPE_CHECKING:
    import click

__all__ = ["RedisRateLimiter", "RedisStore", "RedisTarget", "redact_url"]


@hookimpl
def ksef_auth_register_session_stores(register: Register) -> None:
    register("redis", RedisStore)


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth_redis.cli import redis_group

    cli.add_command(redis_group)
