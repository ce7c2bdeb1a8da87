"""Which Redis a URL names, and the redis-py client that talks to it.

Three deployments, three URL forms (``rediss`` for TLS in each):

========================  =================================================================
one server (or a proxy)   ``redis://host:6379/0``, ``rediss://host:6380/0``, ``unix:///run/redis.sock?db=0``
Redis Cluster             ``redis+cluster://node1:7000,node2:7000`` (any nodes; the rest are found)
Redis Sentinel            ``redis+sentinel://s1:26379,s2:26379,s3:26379/mymaster/0`` (the service)
========================  =================================================================

Clients are redis-py's own: ``redis.Redis``, ``redis.cluster.RedisCluster`` and the master of
``redis.sentinel.Sentinel`` (which asks the sentinels where the master is, again after a
failover). None retries on its own: a timeout is reported at once, and the session manager's
breaker (:mod:`ksef_auth.breaker`) decides when to try again, so a hung server costs a renewal one
``socket_timeout``. :func:`server_mode` tells what a server is, for the store's ``check``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qs, unquote, urlsplit

import attrs

if TYPE_CHECKING:
    import redis

__all__ = [
    "SCHEMES",
    "Mode",
    "RedisTarget",
    "make_client",
    "make_sentinel",
    "redact_url",
    "server_mode",
]

Mode = Literal["single", "cluster", "sentinel"]

SCHEMES: dict[str, tuple[Mode, bool]] = {
    "redis": ("single", False),
    "rediss": ("single", True),
    "unix": ("single", False),
    "redis+cluster": ("cluster", False),
    "rediss+cluster": ("cluster", True),
    "redis+sentinel": ("sentinel", False),
    "rediss+sentinel": ("sentinel", True),
}
_DEFAULT_PORT = {"single": 6379, "cluster": 6379, "sentinel": 26379}


def redact_url(url: str) -> str:
    """``host:port`` (or the socket path, or ``host:port,host:port``) of a Redis URL: no scheme,
    user, password, service or db."""
    try:
        return RedisTarget.parse(url).where
    except ValueError:
        return "an unparsable URL"


@attrs.frozen
class RedisTarget:
    """A parsed Redis URL: ``mode``, ``tls``, the ``nodes`` to contact first, ``db``, the
    Sentinel ``service``, a unix ``path``; ``username``/``password`` when the URL holds them."""

    mode: Mode
    tls: bool
    nodes: tuple[tuple[str, int], ...] = ()
    db: int = 0
    service: str | None = None
    path: str | None = None
    username: str | None = attrs.field(default=None, repr=False)
    password: str | None = attrs.field(default=None, repr=False)

    @classmethod
    def parse(cls, url: str) -> RedisTarget:
        """Raises ``ValueError`` with a message that never repeats the URL's credentials."""
        scheme, sep, rest = url.partition("://")
        if not sep or scheme.lower() not in SCHEMES:
            forms = ", ".join(f"{s}://" for s in SCHEMES)
            raise ValueError(f"url must start with one of {forms}; got {scheme or 'no'} scheme")
        mode, tls = SCHEMES[scheme.lower()]
        if scheme.lower() == "unix":
            parts = urlsplit(url)
            if not parts.path:
                raise ValueError("a unix:// url needs the socket's path: unix:///run/redis.sock")
            db = _db(parse_qs(parts.query).get("db", ["0"])[0])
            return cls(mode, tls, path=parts.path, db=db)
        userinfo, at, hosts_and_path = rest.rpartition("@")
        if not at:
            userinfo, hosts_and_path = "", rest
        hosts, _, path = hosts_and_path.partition("/")
        path, _, query = path.partition("?")
        nodes = tuple(_node(h, _DEFAULT_PORT[mode]) for h in hosts.split(",") if h.strip())
        if not nodes:
            raise ValueError(f"the url names no host ({scheme}://HOST:PORT)")
        if len(nodes) > 1 and mode == "single":
            raise ValueError(
                "several hosts in a redis:// url: for a Redis Cluster write redis+cluster://, for"
                " Sentinel redis+sentinel://HOSTS/SERVICE"
            )
        username, _, password = userinfo.partition(":")
        segments = [unquote(s) for s in path.split("/") if s]
        service = None
        if mode == "sentinel":
            if not segments:
                raise ValueError(
                    "a redis+sentinel:// url names the service after the hosts:"
                    " redis+sentinel://s1:26379,s2:26379/mymaster[/db]"
                )
            service, segments = segments[0], segments[1:]
        if len(segments) > 1:
            raise ValueError("the url's path is the database number only (/0)")
        db = _db(segments[0] if segments else parse_qs(query).get("db", ["0"])[0])
        if mode == "cluster" and db != 0:
            raise ValueError("a Redis Cluster has database 0 only: drop the /db from the url")
        return cls(
            mode,
            tls,
            nodes=nodes,
            db=db,
            service=service,
            username=unquote(username) or None,
            password=unquote(password) or None,
        )

    @property
    def where(self) -> str:
        """What messages call it: ``host:port``, several for a cluster or sentinels."""
        if self.path is not None:
            return self.path
        return ",".join(f"{host}:{port}" for host, port in self.nodes)

    def url_for(self, mode: Mode, *, service: str | None = None) -> str:
        """The url form for ``mode`` over these nodes (for messages: no credentials)."""
        scheme = {"single": "redis", "cluster": "redis+cluster", "sentinel": "redis+sentinel"}
        prefix = scheme[mode].replace("redis", "rediss", 1) if self.tls else scheme[mode]
        hosts = self.where if mode != "single" else self.where.split(",")[0]
        if mode == "sentinel":
            return f"{prefix}://{hosts}/{service or 'SERVICE'}"
        return f"{prefix}://{hosts}" + ("/0" if mode == "single" else "")


def _node(text: str, default_port: int) -> tuple[str, int]:
    text = text.strip()
    if text.startswith("["):  # [::1]:6379
        host, _, port = text[1:].partition("]")
        port = port.lstrip(":")
    else:
        host, _, port = text.rpartition(":") if ":" in text else (text, "", "")
    if not host:
        raise ValueError("the url has an empty host")
    try:
        number = int(port) if port else default_port
    except ValueError:
        raise ValueError(f"port {port!r} of host {host} is not a number") from None
    if not 0 < number < 65536:
        raise ValueError(f"port {number} of host {host} is out of range")
    return host, number


def _db(text: str) -> int:
    try:
        db = int(text)
    except ValueError:
        raise ValueError(f"the database number {text!r} is not a number") from None
    if db < 0:
        raise ValueError(f"the database number {db} is negative")
    return db


def make_client(
    target: RedisTarget,
    *,
    socket_timeout: float,
    username: str | None = None,
    password: str | None = None,
    sentinel_password: str | None = None,
    ca_file: str | None = None,
) -> Any:
    """A redis-py client for ``target`` that never retries by itself (bytes in, bytes out)."""
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    common: dict[str, Any] = {
        "socket_timeout": socket_timeout,
        "socket_connect_timeout": socket_timeout,
        "retry": Retry(NoBackoff(), 0),
        "decode_responses": False,  # sealed sessions are bytes
        "username": username or target.username,
        "password": password or target.password,
    }
    if target.tls:
        common["ssl"] = True
        if ca_file:
            common["ssl_ca_certs"] = ca_file
    if target.mode == "single":
        if target.path is not None:
            common.pop("ssl", None)
            common.pop("ssl_ca_certs", None)
            return redis.Redis(unix_socket_path=target.path, db=target.db, **common)
        host, port = target.nodes[0]
        return redis.Redis(host=host, port=port, db=target.db, **common)
    if target.mode == "cluster":
        from redis.cluster import ClusterNode, RedisCluster

        extra: dict[str, Any] = {}
        if int(redis.__version__.split(".")[0]) < 6:  # later versions count retries in `retry`
            extra["cluster_error_retry_attempts"] = 0
        return RedisCluster(
            startup_nodes=[ClusterNode(host, port) for host, port in target.nodes],
            require_full_coverage=False,
            **extra,
            **common,
        )
    sentinel = make_sentinel(
        target,
        sentinel_timeout=socket_timeout,
        sentinel_password=sentinel_password,
        ca_file=ca_file,
        **common,
    )
    return sentinel.master_for(target.service, db=target.db)


def make_sentinel(
    target: RedisTarget,
    *,
    sentinel_timeout: float,
    sentinel_password: str | None = None,
    ca_file: str | None = None,
    **master_kwargs: Any,
) -> Any:
    """A ``redis.sentinel.Sentinel`` over ``target``'s sentinels; ``master_kwargs`` are for the
    connections to the master it names."""
    from redis.backoff import NoBackoff
    from redis.retry import Retry
    from redis.sentinel import Sentinel

    sentinel_kwargs: dict[str, Any] = {
        "socket_timeout": sentinel_timeout,
        "socket_connect_timeout": sentinel_timeout,
        "retry": Retry(NoBackoff(), 0),
        "password": sentinel_password,
    }
    if target.tls:
        sentinel_kwargs["ssl"] = True
        if ca_file:
            sentinel_kwargs["ssl_ca_certs"] = ca_file
    return Sentinel(list(target.nodes), sentinel_kwargs=sentinel_kwargs, **master_kwargs)


ServerMode = Literal["standalone", "replica", "cluster", "sentinel", "unknown"]


def server_mode(client: redis.Redis) -> tuple[ServerMode, dict[str, Any]]:
    """What a server answering on a plain connection is, from ``INFO``: ``standalone`` (a
    master), ``replica``, ``cluster`` (a cluster node), ``sentinel``, or ``unknown`` when INFO
    is not allowed (an ACL, a managed service); and the INFO fields read."""
    from redis.exceptions import NoPermissionError, ResponseError

    try:
        info: dict[str, Any] = client.info("server")
        info.update(client.info("replication") if info.get("redis_mode") != "sentinel" else {})
    except (NoPermissionError, ResponseError):
        return "unknown", {}
    mode = info.get("redis_mode")
    if mode == "cluster":
        return "cluster", info
    if mode == "sentinel":
        return "sentinel", info
    if info.get("role") == "slave":
        return "replica", info
    return "standalone", info
