"""``RedisStore``: sealed sessions and short-lived locks in one Redis, a Cluster or behind
Sentinel."""

from __future__ import annotations

import logging
import math
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any, ClassVar

import attrs

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    Environment,
    SecretRef,
    SessionTokens,
    StoreError,
)
from ksef_auth.sealing import KeyRing, UnsealError, entry_name
from ksef_auth.store_keys import KEY_ENV, RekeyReport, StoreKeys
from ksef_auth_redis.connection import RedisTarget, make_client, make_sentinel, server_mode
from ksef_auth_redis.lock import LockKeeper

if TYPE_CHECKING:
    from ksef_auth_redis.limiter import RedisRateLimiter

log = logging.getLogger("ksef_auth.store.redis")

DEFAULT_URL = "redis://127.0.0.1:6379/0"

# Re-seal one entry only if nobody rewrote it meanwhile, keeping its expiry.
_RESEAL = """
if redis.call('GET', KEYS[1]) ~= ARGV[1] then return 0 end
local ttl = redis.call('PTTL', KEYS[1])
if ttl > 0 then
  redis.call('SET', KEYS[1], ARGV[2], 'PX', ttl)
else
  redis.call('SET', KEYS[1], ARGV[2])
end
return 1
"""


def _expiry(tokens: SessionTokens) -> float:
    last = tokens.refresh_token or tokens.access_token
    return max(last.valid_until.timestamp(), tokens.access_token.valid_until.timestamp())


def _positive(instance: object, attribute: attrs.Attribute[float], value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{attribute.name} must be a positive number of seconds, got {value}")


def _check_url(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    RedisTarget.parse(value)  # raises ValueError, never with the URL's credentials


@attrs.define
class RedisStore:
    """Encrypted sessions in Redis (one server, a Cluster or Sentinel), with a distributed lock:
    one login for all workers."""

    leaves_process: ClassVar[bool] = True

    url: str = attrs.field(
        default=DEFAULT_URL,
        validator=_check_url,
        metadata={
            "help": "redis://host:port/db (rediss:// for TLS, unix:///path.sock), a cluster"
            " redis+cluster://node:port[,node:port], Sentinel"
            " redis+sentinel://sentinel:port[,...]/SERVICE[/db]. No password in it: use the"
            " password option."
        },
    )
    key: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "Encryption key(s), 32 bytes in url-safe base64, newest first, comma"
            f" separated. Default: ${KEY_ENV}. Required (one or the other) unless"
            " encrypt = false.",
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
    password: SecretRef | None = attrs.field(
        default=None,
        metadata={"secret": True, "help": "Redis password (AUTH), if the servers need one."},
    )
    username: str | None = attrs.field(
        default=None, metadata={"help": "Redis ACL user name, with password (Redis 6+)."}
    )
    sentinel_password: SecretRef | None = attrs.field(
        default=None,
        metadata={"secret": True, "help": "Password of the sentinels, if they need one."},
    )
    tls_ca_file: str | None = attrs.field(
        default=None,
        metadata={
            "path": True,
            "help": "CA certificates (PEM) that sign the servers' TLS certificates, for"
            " rediss:// with a private CA; the system's CAs otherwise.",
        },
    )
    socket_timeout: float = attrs.field(
        default=5.0,
        converter=float,
        validator=_positive,
        metadata={
            "help": "Seconds to wait for Redis to connect or answer: the most a hung Redis"
            " costs one renewal."
        },
    )
    lock_ttl: float = attrs.field(
        default=10.0,
        converter=float,
        validator=_positive,
        metadata={
            "help": "Seconds a lock lives unless its holder extends it (every third of it): a"
            " holder that dies frees it within this."
        },
    )
    lock_timeout: float = attrs.field(
        default=180.0,
        converter=float,
        validator=_positive,
        metadata={
            "help": "The longest a holder keeps extending its lock; longer than the slowest login."
        },
    )
    _target: RedisTarget = attrs.field(init=False, repr=False)
    _client: Any = attrs.field(init=False, default=None, repr=False)
    _ring: KeyRing | None = attrs.field(init=False, default=None, repr=False)
    _mutex: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _keeper: LockKeeper = attrs.field(init=False, repr=False)
    _failed_at: float = attrs.field(init=False, default=-math.inf, repr=False)
    _relearn: bool = attrs.field(init=False, default=False, repr=False)
    _failed_node: str | None = attrs.field(init=False, default=None, repr=False)
    _checked: bool = attrs.field(init=False, default=False, repr=False)
    _limiter: RedisRateLimiter | None = attrs.field(init=False, default=None, repr=False)
    _decoded: dict[str, tuple[bytes, SessionTokens]] = attrs.field(
        init=False, factory=dict, repr=False
    )

    def __attrs_post_init__(self) -> None:
        self._target = RedisTarget.parse(self.url)
        self._keeper = LockKeeper(self.lock_ttl, self.lock_timeout)
        if self.encrypt and not self._keys().configured():
            raise ConfigError(
                "the redis store needs option 'key' (an encryption key by reference, e.g."
                f' {{ env = "{KEY_ENV}" }}) or the environment variable {KEY_ENV}; to store'
                " sessions in clear, set encrypt = false explicitly"
            )
        if not self.encrypt and self.key is not None:
            raise ConfigError("option 'key' is given but encrypt = false: drop one of them")
        if self.lock_ttl >= self.lock_timeout:
            raise ConfigError(
                f"lock_ttl ({self.lock_ttl:g} s) must be shorter than lock_timeout"
                f" ({self.lock_timeout:g} s)"
            )

    @property
    def target(self) -> RedisTarget:
        """The parsed url: mode (single, cluster, sentinel), nodes, db, service."""
        return self._target

    # --- the SessionStore protocol -------------------------------------------------------------

    def get(self, key: str) -> SessionTokens | None:
        name = self._session_key(key)
        with self.errors("read a session from"):
            raw = self.client().get(name)
        if raw is None:
            return None
        seen = self._decoded.get(key)
        if seen is not None and seen[0] == raw:
            tokens = seen[1]  # the very bytes already opened and authenticated here
        else:
            try:
                tokens = self._decode(raw, key)
            except UnsealError as exc:
                log.warning("%s (Redis key %s)", exc, name)
                return None
            if len(self._decoded) >= 4096:
                self._decoded.clear()
            self._decoded[key] = (raw, tokens)
        if _expiry(tokens) <= time.time():
            return None
        return tokens

    def put(self, key: str, tokens: SessionTokens) -> None:
        ttl_ms = math.ceil((_expiry(tokens) - time.time()) * 1000)
        name = self._session_key(key)
        with self.errors("write a session to"):
            if ttl_ms <= 0:  # nothing left to keep
                self.client().delete(name)
                return
            self.client().set(name, self._encode(tokens, key), px=ttl_ms)

    def delete(self, key: str) -> None:
        self._decoded.pop(key, None)
        with self.errors("delete a session from"):
            self.client().delete(self._session_key(key))

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        """``SET NX PX lock_ttl``, waited for up to ``timeout`` seconds, extended while held."""
        from redis.exceptions import LockNotOwnedError, RedisClusterException, RedisError

        name = self._lock_key(key)
        with self.errors("take a lock in"):
            lock = self.client().lock(
                name,
                timeout=self.lock_ttl,
                sleep=0.05,
                blocking=True,
                blocking_timeout=max(0.0, timeout),
                thread_local=False,  # the session manager may release from another thread
            )
            held = bool(lock.acquire())
        taken_at = time.monotonic()
        if held:
            self._keeper.hold(lock, name)
        try:
            yield held
        finally:
            if held:
                self._keeper.drop(lock)
                if self._failed_at >= taken_at:
                    # Redis failed while we held it: releasing could cost another timeout,
                    # and the lock runs out within lock_ttl anyway
                    log.debug("not releasing %s: Redis failed meanwhile", name)
                else:
                    try:
                        lock.release()
                    except LockNotOwnedError:
                        log.warning(
                            "the lock %s expired before it was released (lock_ttl %g s);"
                            " another process may have renewed the session too",
                            name,
                            self.lock_ttl,
                        )
                    except (RedisError, RedisClusterException, OSError) as exc:
                        self._failed(exc)
                        log.warning(
                            "could not release the lock in Redis at %s (%s); it expires in %g s",
                            self._target.where,
                            self._reason(exc),
                            self.lock_ttl,
                        )

    # --- optional members ----------------------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """The key parses, Redis answers (within at most 2 s), and it is what the url says: a
        cluster node for ``redis+cluster://``, a Sentinel that knows the service for
        ``redis+sentinel://``, a writable server for ``redis://``. The server is checked once
        per store object: a later check (a new session manager) never waits on Redis. Nothing
        listening there is a :class:`StoreError` (Redis is down); anything else a
        :class:`ConfigError` (the key, the url, the password, TLS)."""
        if self.encrypt:
            try:
                self._keys().check()
            except StoreError as exc:  # a key that does not parse: the strategy file's mistake
                raise ConfigError(str(exc)) from None
        if not self._checked:
            try:
                self._check_server(min(self.socket_timeout, 2.0))
            except StoreError as exc:
                if not self._listening():  # Redis down: the store's failure (CLI exit 7)
                    raise
                raise ConfigError(str(exc)) from None  # it answers, but not as the url says
            self._checked = True

    def _listening(self) -> bool:
        """Whether anything accepts a connection where the url points (no Redis protocol)."""
        import socket

        if self._target.path is not None:
            from pathlib import Path

            return Path(self._target.path).exists()
        for host, port in self._target.nodes:
            try:
                with socket.create_connection((host, port), timeout=1.0):
                    return True
            except OSError:
                continue
        return False

    def rate_limiter(self) -> RedisRateLimiter:
        """KSeF's rate limits shared by every process using this Redis (one Lua script)."""
        if self._limiter is None:
            from ksef_auth_redis.limiter import RedisRateLimiter

            with self._mutex:
                if self._limiter is None:
                    self._limiter = RedisRateLimiter(self)
        return self._limiter

    def rekey(self) -> RekeyReport:
        """Seal every session of this prefix again with the newest key, in place (an entry
        rewritten meanwhile by a refresh is left as it is: it is sealed with the newest already).
        Nobody is logged out; once it returns with nothing left over, older keys can go."""
        report = RekeyReport(store=f"redis store {self._target.where} (prefix {self.prefix!r})")
        if not self.encrypt:
            return report
        ring = self.key_ring()
        pattern = self.prefix.replace("[", "\\[").replace("*", "\\*") + "session:*"
        with self.errors("re-seal sessions in"):
            client = self.client()
            script = client.register_script(_RESEAL)
            for raw_name in client.scan_iter(match=pattern, count=500):
                name = raw_name.decode() if isinstance(raw_name, bytes) else raw_name
                entry = name.rpartition("{")[2].rstrip("}")
                blob = client.get(name)
                if blob is None:
                    continue  # expired or deleted meanwhile
                try:
                    fresh = ring.reseal(blob, entry)
                except UnsealError as exc:
                    report.failed(entry, str(exc))
                    continue
                if fresh is None:
                    report.current += 1
                elif script(keys=[name], args=[blob, fresh], client=client):
                    report.resealed += 1
                else:
                    report.current += 1  # a refresh rewrote it, with the newest key
        return report

    def key_ring(self) -> KeyRing:
        """The encryption keys (read once). Raises :class:`StoreError`."""
        ring = self._ring
        if ring is None:
            with self._mutex:
                if self._ring is None:
                    try:
                        self._ring = self._keys().ring()
                    except ConfigError as exc:
                        raise StoreError(f"redis store: {exc}") from None
                ring = self._ring
        return ring

    def client(self) -> Any:
        """The redis-py client (``Redis``, ``RedisCluster``, or Sentinel's master), made once.

        On a cluster, the first call after a failed operation asks the cluster for its slots
        again (one ``CLUSTER SLOTS``, to a node other than the one that failed) before the
        operation, so after a failover the store goes to the new master at once rather than
        failing once more on the dead one. Raises what redis-py raises: call it inside
        :meth:`errors`."""
        client = self._client
        if client is None:
            with self._mutex:
                if self._client is None:
                    self._client = self._make_client(self.socket_timeout)
                client = self._client
        if self._relearn:
            self._relearn_slots(client)
        return client

    def _relearn_slots(self, client: Any) -> None:
        """The cluster's slot map, learnt again (see :meth:`client`). redis-py refreshes it
        itself when a node fails, but while a failover is going on the cluster still names the
        dead master, and with the store skipped by its breaker nothing asks again: the first
        operation after the outage would meet the dead node once more (costing a caller one
        more ``socket_timeout`` and the store another ``store_backoff``)."""
        self._relearn = False
        failed, self._failed_node = self._failed_node, None
        manager = client.nodes_manager
        if failed is not None and "last_failed_node_name" in _parameters(manager.initialize):
            manager.initialize(last_failed_node_name=failed)  # asked last, if at all
        else:
            manager.initialize()

    def _failed(self, exc: BaseException) -> None:
        """Redis failed to answer: remembered for the lock's release and, on a cluster, for the
        next operation to learn the slots again first (:meth:`client`)."""
        self._failed_at = time.monotonic()
        if self._target.mode == "cluster":
            connection = getattr(exc, "connection", None)  # redis-py: the node that failed
            host, port = getattr(connection, "host", None), getattr(connection, "port", None)
            if host and port:
                self._failed_node = f"{host}:{port}"
            self._relearn = True

    # --- internals -----------------------------------------------------------------------------

    def _keys(self) -> StoreKeys:
        return StoreKeys("redis", self.key)  # never generated: every machine needs the same key

    def _session_key(self, key: str) -> str:
        # the hash tag {...} puts a session and its lock in one cluster slot
        return f"{self.prefix}session:{{{entry_name(key)}}}"

    def _lock_key(self, key: str) -> str:
        return f"{self.prefix}lock:{{{entry_name(key)}}}"

    def _encode(self, tokens: SessionTokens, key: str) -> bytes:
        if not self.encrypt:
            import json

            return json.dumps(tokens.to_dict(), separators=(",", ":")).encode("utf-8")
        return self.key_ring().seal(tokens, key)

    def _decode(self, raw: bytes, key: str) -> SessionTokens:
        if not self.encrypt:
            import json

            try:
                return SessionTokens.from_dict(json.loads(raw))
            except (ValueError, KeyError, TypeError) as exc:
                raise UnsealError(
                    f"stored session is not clear JSON ({type(exc).__name__}): was it written"
                    " encrypted? the session will be re-created"
                ) from None
        return self.key_ring().unseal(raw, key)

    def _secret(self, ref: SecretRef | None, option: str) -> str | None:
        if ref is None:
            return None
        try:
            return ref.get().reveal()
        except ConfigError as exc:
            raise StoreError(f"redis store option '{option}': {exc}") from None

    def _make_client(self, socket_timeout: float) -> Any:
        return make_client(
            self._target,
            socket_timeout=socket_timeout,
            username=self.username,
            password=self._secret(self.password, "password"),
            sentinel_password=self._secret(self.sentinel_password, "sentinel_password"),
            ca_file=self.tls_ca_file,
        )

    def _check_server(self, timeout: float) -> None:
        target = self._target
        if target.mode == "sentinel":
            self._check_sentinel(timeout)
            return
        with self.errors("reach"):
            client = self._make_client(timeout)
            try:
                if target.mode == "cluster":
                    state = client.cluster_info().get("cluster_state")
                    if state not in ("ok", b"ok"):
                        raise StoreError(
                            f"the Redis Cluster at {target.where} reports cluster_state:{state}:"
                            " some hash slots have no master; fix the cluster first"
                        )
                    return
                mode, info = server_mode(client)
                if mode == "cluster":
                    raise StoreError(
                        f"Redis at {target.where} is a cluster node (cluster_enabled): use"
                        f' url = "{target.url_for("cluster")}"'
                    )
                if mode == "sentinel":
                    raise StoreError(
                        f"Redis at {target.where} is a Sentinel: use"
                        f' url = "{target.url_for("sentinel", service=_service_of(client))}"'
                    )
                if mode == "replica":
                    raise StoreError(
                        f"Redis at {target.where} is a read-only replica: point url at its"
                        " master, or let Sentinel find it: url ="
                        f' "{target.url_for("sentinel")}" (the sentinels\' host:port)'
                    )
                client.ping()
            finally:
                client.close()

    def _check_sentinel(self, timeout: float) -> None:
        from redis.exceptions import ResponseError
        from redis.sentinel import MasterNotFoundError

        target = self._target
        sentinel = make_sentinel(
            target,
            sentinel_timeout=timeout,
            sentinel_password=self._secret(self.sentinel_password, "sentinel_password"),
            ca_file=self.tls_ca_file,
        )
        with self.errors("reach"):
            first = sentinel.sentinels[0]
            try:
                mode, _info = server_mode(first)
                if mode in ("standalone", "replica", "cluster"):
                    better = target.url_for("cluster" if mode == "cluster" else "single")
                    raise StoreError(
                        f"Redis at {target.where.split(',')[0]} is not a Sentinel ({mode}):"
                        f' use url = "{better}"'
                    )
                try:
                    sentinel.discover_master(target.service)
                except MasterNotFoundError:
                    known = _service_of(first)
                    raise StoreError(
                        f"no Sentinel at {target.where} knows a master named"
                        f" {target.service!r}"
                        + (f" (they monitor: {known})" if known != "SERVICE" else "")
                    ) from None
                except ResponseError as exc:
                    raise StoreError(
                        f"Redis at {target.where} does not answer as a Sentinel ({exc})"
                    ) from None
            finally:
                for each in sentinel.sentinels:
                    each.close()
        master = self._make_client(timeout)
        with self.errors("reach the master named by the sentinels at"):
            try:
                master.ping()
            finally:
                master.close()

    def _reason(self, exc: BaseException) -> str:
        """A short reason for a Redis failure, with no credential in it."""
        from redis.exceptions import TimeoutError as RedisTimeout

        seen: BaseException | None = exc
        while seen is not None:
            if isinstance(seen, OSError) and seen.strerror:
                return seen.strerror
            seen = seen.__cause__ or seen.__context__
        if isinstance(exc, RedisTimeout | TimeoutError):
            return f"no answer within {self.socket_timeout:g} s"
        text = str(exc) or type(exc).__name__
        for secret in self._secrets():
            text = text.replace(secret, "***")
        return text

    def _secrets(self) -> list[str]:
        found = [s for s in (self._target.password, self._target.username) if s]
        for ref in (self.password, self.sentinel_password):
            if ref is not None and ref.problem() is None:
                found.append(ref.get().reveal())
        return [s for s in found if s]

    @contextmanager
    def errors(self, doing: str) -> Iterator[None]:
        """Turn redis-py's errors into one-line :class:`StoreError` messages that say what to
        do (``host:port`` only, never a credential); connection failures are remembered. The
        exception classes are looked at only when something failed."""
        try:
            yield
        except StoreError:
            raise
        except Exception as exc:
            error = self._translate(exc, doing)
            if error is None:
                raise
            raise error from None

    def _translate(self, exc: Exception, doing: str) -> StoreError | None:
        """The :class:`StoreError` for a failure of redis-py (None: not a Redis failure)."""
        from redis.exceptions import (
            AuthenticationError,
            ReadOnlyError,
            RedisClusterException,
            RedisError,
            ResponseError,
        )
        from redis.exceptions import ConnectionError as RedisConnectionError
        from redis.exceptions import TimeoutError as RedisTimeout
        from redis.sentinel import MasterNotFoundError

        where = self._target.where
        if isinstance(exc, AuthenticationError):
            return StoreError(
                f"Redis at {where} refused the credentials ({self._reason(exc)}); check the"
                " password (and username) options"
            )
        if isinstance(exc, MasterNotFoundError):
            self._failed(exc)
            return StoreError(
                f"no Sentinel at {where} names a reachable master for"
                f" {self._target.service!r}: is the service name right, is a failover going on?"
                f" ({self._reason(exc)})"
            )
        if isinstance(exc, RedisConnectionError | RedisTimeout | OSError):
            self._failed(exc)
            return StoreError(
                f"Redis at {where} is unreachable ({self._reason(exc)}); check the url option"
                " and that redis-server runs"
            )
        if isinstance(exc, ReadOnlyError):
            return StoreError(
                f"Redis at {where} is a read-only replica: point url at its master, or use"
                f' url = "{self._target.url_for("sentinel")}" with the sentinels\' host:port'
            )
        if isinstance(exc, ResponseError):
            text = self._reason(exc)
            kind = type(exc).__name__
            if self._target.mode == "cluster" and kind in ("ClusterDownError", "TryAgainError"):
                self._failed(exc)
                return StoreError(f"the Redis Cluster at {where} is down or failing over ({text})")
            redirected = kind in ("MovedError", "AskError") or text.startswith(("MOVED", "ASK"))
            if self._target.mode != "cluster" and redirected:
                answer = text if text.startswith(("MOVED", "ASK")) else f"MOVED {text}"
                return StoreError(
                    f"Redis at {where} answered {answer!r} when asked to {doing} it: it is a"
                    f' Redis Cluster node; use url = "{self._target.url_for("cluster")}"'
                )
            return StoreError(f"Redis at {where} refused to {doing} it: {text}")
        if isinstance(exc, RedisClusterException):
            self._failed(exc)  # no node reachable, a slot not covered: the map is out of date
            text = self._reason(exc)
            hint = ""
            if "not enabled" in text.lower():
                hint = f'; it is not a cluster node: use url = "{self._target.url_for("single")}"'
            return StoreError(f"Redis Cluster at {where}: {text}{hint}")
        if isinstance(exc, RedisError):
            return StoreError(f"could not {doing} Redis at {where}: {self._reason(exc)}")
        return None

    def __repr__(self) -> str:
        key = "none (encrypt = false)" if not self.encrypt else self._keys().origin()
        return (
            f"RedisStore(url={self._target.where!r}, mode={self._target.mode!r},"
            f" prefix={self.prefix!r}, key={key!r})"
        )


def _parameters(function: Any) -> frozenset[str]:
    """The names of ``function``'s parameters (what this redis-py version takes)."""
    import inspect

    try:
        return frozenset(inspect.signature(function).parameters)
    except (TypeError, ValueError):
        return frozenset()


def _service_of(sentinel_client: Any) -> str:
    """The master names a Sentinel monitors, comma separated (``SERVICE`` when unknown)."""
    try:
        masters = sentinel_client.sentinel_masters()
    except Exception:
        return "SERVICE"
    names = sorted(str(name) for name in masters)
    return ",".join(names) if names else "SERVICE"
