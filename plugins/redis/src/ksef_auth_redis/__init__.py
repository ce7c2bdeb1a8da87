"""ksef-auth-redis: encrypted sessions in Redis, shared by every worker and host.

Each session is one string ``<prefix>session:<sha256 of the store key>`` holding the session
sealed with AES-256-GCM (:mod:`ksef_auth.sealing`), written with ``SET ... PX`` so Redis drops it
when its last token expires. Logins and refreshes of one session are serialized by a redis-py
lock on ``<prefix>lock:<sha256>`` (``SET NX PX`` plus a token-checked release script), so a
hundred workers starting together log in once.

Plaintext storage exists only when ``encrypt = false`` is written explicitly. Messages name the
Redis host and port, never the URL's user or password.
"""

from __future__ import annotations

import hashlib
import json
import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar
from urllib.parse import urlsplit

import attrs

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    Environment,
    Register,
    SecretRef,
    SessionTokens,
    StoreError,
    hookimpl,
)
from ksef_auth.sealing import UnsealError, parse_keys, seal, unseal

if TYPE_CHECKING:
    import redis

__all__ = ["RedisStore", "redact_url"]

log = logging.getLogger("ksef_auth.store.redis")

DEFAULT_URL = "redis://127.0.0.1:6379/0"


def redact_url(url: str) -> str:
    """``host:port`` (or the socket path) of a Redis URL: no scheme, user, password or db."""
    parts = urlsplit(url)
    if parts.scheme == "unix":
        return parts.path or "a unix socket"
    try:
        port = str(parts.port or 6379)
    except ValueError:
        port = "?"
    return f"{parts.hostname or '127.0.0.1'}:{port}"


def _expiry(tokens: SessionTokens) -> float:
    last = tokens.refresh_token or tokens.access_token
    return max(last.valid_until.timestamp(), tokens.access_token.valid_until.timestamp())


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if value <= 0:
        raise ValueError(f"{attribute.name} must be positive, got {value}")


def _check_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    scheme = urlsplit(value).scheme
    if scheme not in ("redis", "rediss", "unix"):
        raise ValueError(
            f"url must start with redis://, rediss:// or unix://, got {scheme or 'no'} scheme"
            f" ({redact_url(value)})"
        )


@attrs.define
class RedisStore:
    """Encrypted sessions in Redis, with a distributed lock: one login for all workers."""

    leaves_process: ClassVar[bool] = True

    url: str = attrs.field(
        default=DEFAULT_URL,
        validator=_check_url,
        metadata={
            "help": "Redis URL: redis://host:port/db, rediss:// for TLS, unix:///path.sock."
            " Give a password with the password option, not in the URL."
        },
    )
    key: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "Encryption key(s), 32 bytes in url-safe base64, newest first, comma"
            " separated. Required unless encrypt = false.",
        },
    )
    encrypt: bool = attrs.field(
        default=True,
        metadata={"help": "Set false, explicitly, to store sessions in clear (not advised)."},
    )
    prefix: str = attrs.field(
        default="ksef-auth:",
        metadata={"help": "Prefix of every Redis key this store writes."},
    )
    lock_timeout: float = attrs.field(
        default=180.0,
        converter=float,
        validator=_positive,
        metadata={
            "help": "Seconds a held lock lives in Redis before expiring on its own (frees it"
            " after a crash); longer than the slowest login."
        },
    )
    password: SecretRef | None = attrs.field(
        default=None,
        metadata={"secret": True, "help": "Redis password (AUTH), if the server needs one."},
    )
    socket_timeout: float = attrs.field(
        default=5.0,
        converter=float,
        validator=_positive,
        metadata={"help": "Seconds to wait for Redis to connect or answer."},
    )
    _client: redis.Redis | None = attrs.field(init=False, default=None, repr=False)
    _keys: list[bytes] | None = attrs.field(init=False, default=None, repr=False)
    _mutex: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)

    def __attrs_post_init__(self) -> None:
        if self.encrypt and self.key is None:
            raise ConfigError(
                "the redis store needs option 'key' (an encryption key by reference, e.g."
                ' { env = "KSEF_AUTH_STORE_KEY" }); to store sessions in clear, set'
                " encrypt = false explicitly"
            )
        if not self.encrypt and self.key is not None:
            raise ConfigError("option 'key' is given but encrypt = false: drop one of them")

    # --- the SessionStore protocol -------------------------------------------------------------

    def get(self, key: str) -> SessionTokens | None:
        with self._errors("read a session from"):
            raw = self._redis().get(self._session_key(key))
        if raw is None:
            return None
        try:
            tokens = self._decode(raw if isinstance(raw, bytes) else raw.encode(), key)
        except UnsealError as exc:
            log.warning("%s (Redis key %s)", exc, self._session_key(key))
            return None
        if _expiry(tokens) <= time.time():
            return None
        return tokens

    def put(self, key: str, tokens: SessionTokens) -> None:
        ttl_ms = math.ceil((_expiry(tokens) - time.time()) * 1000)
        name = self._session_key(key)
        with self._errors("write a session to"):
            if ttl_ms <= 0:  # nothing left to keep
                self._redis().delete(name)
                return
            self._redis().set(name, self._encode(tokens, key), px=ttl_ms)

    def delete(self, key: str) -> None:
        with self._errors("delete a session from"):
            self._redis().delete(self._session_key(key))

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        """A redis-py lock: ``SET NX PX lock_timeout``, waited for up to ``timeout`` seconds."""
        from redis.exceptions import LockError

        lock = self._redis().lock(
            self._lock_key(key),
            timeout=self.lock_timeout,
            sleep=0.05,
            blocking=True,
            blocking_timeout=max(0.0, timeout),
            thread_local=False,  # the session manager may release from another thread or task
        )
        with self._errors("take a lock in"):
            held = bool(lock.acquire())
        try:
            yield held
        finally:
            if held:
                try:
                    lock.release()
                except LockError:
                    log.warning(
                        "the lock on %s expired before it was released: the login took longer"
                        " than lock_timeout (%.0f s); raise it",
                        self._lock_key(key),
                        self.lock_timeout,
                    )
                except Exception as exc:  # Redis went away: the lock expires on its own
                    log.warning(
                        "could not release the lock in Redis at %s (%s); it expires in %.0f s",
                        redact_url(self.url),
                        self._reason(exc),
                        self.lock_timeout,
                    )

    # --- optional check at strategy load -------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """The key parses, and Redis answers PING (within a short timeout)."""
        try:
            self._key_list()
            client = self._redis(socket_timeout=min(self.socket_timeout, 2.0))
            try:
                with self._errors("reach"):
                    client.ping()
            finally:
                client.close()
        except StoreError as exc:
            raise ConfigError(str(exc)) from None

    # --- internals -----------------------------------------------------------------------------

    def _session_key(self, key: str) -> str:
        return f"{self.prefix}session:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}lock:{hashlib.sha256(key.encode('utf-8')).hexdigest()}"

    def _encode(self, tokens: SessionTokens, key: str) -> bytes:
        if not self.encrypt:
            return json.dumps(tokens.to_dict(), separators=(",", ":")).encode("utf-8")
        return seal(tokens, key, self._key_list())

    def _decode(self, raw: bytes, key: str) -> SessionTokens:
        if not self.encrypt:
            try:
                return SessionTokens.from_dict(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                raise UnsealError(
                    f"stored session is not clear JSON ({type(exc).__name__}): was it written"
                    " encrypted? the session will be re-created"
                ) from None
        return unseal(raw, key, self._key_list())

    def _key_list(self) -> list[bytes]:
        if self._keys is None:
            assert self.key is not None
            try:
                keys = parse_keys(self.key.get())
            except ConfigError as exc:
                raise StoreError(
                    f"redis store option 'key' ({self.key.describe()}): {exc}"
                ) from None
            self._keys = keys
        return self._keys

    def _redis(self, socket_timeout: float | None = None) -> redis.Redis:
        if socket_timeout is not None:
            return self._make_client(socket_timeout)
        if self._client is None:
            with self._mutex:
                if self._client is None:
                    self._client = self._make_client(self.socket_timeout)
        return self._client

    def _make_client(self, socket_timeout: float) -> redis.Redis:
        import redis

        kwargs: dict[str, Any] = {
            "socket_timeout": socket_timeout,
            "socket_connect_timeout": socket_timeout,
            "decode_responses": False,  # sealed sessions are bytes
        }
        if self.password is not None:
            try:
                kwargs["password"] = self.password.get().reveal()
            except ConfigError as exc:
                raise StoreError(f"redis store option 'password': {exc}") from None
        return redis.Redis.from_url(self.url, **kwargs)

    def _reason(self, exc: BaseException) -> str:
        """A short reason for a Redis failure, with no credential in it."""
        seen: BaseException | None = exc
        while seen is not None:
            if isinstance(seen, OSError) and seen.strerror:
                return seen.strerror
            seen = seen.__cause__ or seen.__context__
        from redis.exceptions import TimeoutError as RedisTimeout

        if isinstance(exc, RedisTimeout | TimeoutError):
            return f"no answer within {self.socket_timeout:g} s"
        text = str(exc) or type(exc).__name__
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> list[str]:
        parts = urlsplit(self.url)
        found = [s for s in (parts.password, parts.username) if s]
        if self.password is not None and self.password.problem() is None:
            found.append(self.password.get().reveal())
        return [s for s in found if s]

    @contextmanager
    def _errors(self, doing: str) -> Iterator[None]:
        from redis.exceptions import AuthenticationError, RedisError, ResponseError
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout

        where = redact_url(self.url)
        try:
            yield
        except AuthenticationError as exc:
            raise StoreError(
                f"Redis at {where} refused the credentials ({self._reason(exc)}); check the"
                " password option"
            ) from None
        except (RedisConnectionError, RedisTimeout, OSError) as exc:
            raise StoreError(
                f"Redis at {where} is unreachable ({self._reason(exc)}); check the url option"
                " and that redis-server runs"
            ) from None
        except ResponseError as exc:
            raise StoreError(
                f"Redis at {where} refused to {doing} it: {self._reason(exc)}"
            ) from None
        except RedisError as exc:
            raise StoreError(f"could not {doing} Redis at {where}: {self._reason(exc)}") from None

    def __repr__(self) -> str:
        key = "none (encrypt = false)" if self.key is None else self.key.describe()
        return f"RedisStore(url={redact_url(self.url)!r}, prefix={self.prefix!r}, key={key!r})"


@hookimpl
def ksef_auth_register_session_stores(register: Register) -> None:
    register("redis", RedisStore)
