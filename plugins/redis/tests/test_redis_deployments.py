"""The store on each deployment (one server, a Cluster, Sentinel): the contracts, ``check()``
against the server's real mode, TLS and passwords by reference. Real servers only."""

from __future__ import annotations

import hashlib
import logging
import uuid
from collections.abc import Callable, Iterator
from functools import partial
from typing import Any

import pytest
import redis

from ksef_auth import ConfigError, ContextIdentifier, Environment, SecretRef, StoreError
from ksef_auth.sealing import generate_key
from ksef_auth.testing import RateLimiterContract, RawStorage, SessionStoreContract, make_tokens
from ksef_auth_redis import RedisRateLimiter, RedisStore
from ksef_auth_redis.testing import (
    RedisCluster,
    RedisSentinel,
    RedisServer,
    require,
    run_redis_cluster,
    run_redis_sentinel,
    run_redis_server,
    supports_tls,
)

pytestmark = pytest.mark.redis

KEY = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"
ENV = Environment.of("http://127.0.0.1:1/v2")
CONTEXT = ContextIdentifier.nip("5261040828")

StoreFor = Callable[..., RedisStore]


def raw_values(store: RedisStore) -> RawStorage:
    """What the kit sees of a store: its values, read and written past the store's code."""
    client = store.client()

    def name(key: str) -> str:
        return f"{store.prefix}session:{{{hashlib.sha256(key.encode()).hexdigest()}}}"

    def read(key: str) -> bytes | None:
        return client.get(name(key))  # type: ignore[no-any-return]

    def write(key: str, data: bytes) -> None:
        client.set(name(key), data)

    def dump() -> bytes:
        names = sorted(client.scan_iter(match=f"{store.prefix}*"))
        return b"".join(client.get(n) or b"" for n in names)

    return RawStorage(read=read, write=write, dump=dump)


class DeploymentContract(SessionStoreContract):
    """The kit's store contract on one deployment (workers spawned in other processes too)."""

    deployment = "redis_server"

    @pytest.fixture
    def store_factory(
        self, request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch
    ) -> partial[RedisStore]:
        running = request.getfixturevalue(self.deployment)
        monkeypatch.setenv("KSEF_KIT_REDIS_KEY", generate_key())  # inherited by spawned workers
        return partial(
            RedisStore,
            url=running.url,
            key=SecretRef.env("KSEF_KIT_REDIS_KEY"),
            prefix=f"test-{uuid.uuid4().hex[:8]}:",
            lock_ttl=1.0,
        )

    @pytest.fixture
    def store(self, store_factory: partial[RedisStore]) -> RedisStore:
        return store_factory()

    @pytest.fixture
    def raw_storage(self, store: RedisStore) -> RawStorage:
        return raw_values(store)

    @pytest.fixture
    def dead_holder_timeout(self) -> float:
        return 5.0  # lock_ttl 1 s: nobody extends a dead holder's lock


class TestClusterContract(DeploymentContract):
    deployment = "redis_cluster"


class TestSentinelContract(DeploymentContract):
    deployment = "redis_sentinel"


class TestRedisLimiterContract(RateLimiterContract):
    """On each deployment; ``other_limiter`` is another store object (another process)."""

    @pytest.fixture
    def limiter(self, any_redis: Any, store_for: StoreFor) -> RedisRateLimiter:
        self.store = store_for(any_redis)
        return self.store.rate_limiter()

    @pytest.fixture
    def other_limiter(self, limiter: RedisRateLimiter, any_redis: Any) -> RedisRateLimiter:
        twin = RedisStore(url=any_redis.url, key=self.store.key, prefix=self.store.prefix)
        return twin.rate_limiter()


def test_every_deployment_checks_and_keeps_sessions(any_redis: Any, store_for: StoreFor) -> None:
    store = store_for(any_redis)
    store.check(ENV, CONTEXT)
    tokens = make_tokens()
    store.put(KEY, tokens)
    assert store.get(KEY) == tokens


def test_a_session_and_its_lock_share_a_cluster_slot(
    redis_cluster: RedisCluster, store_for: StoreFor
) -> None:
    store = store_for(redis_cluster)
    store.put(KEY, make_tokens())
    client = store.client()
    entry = hashlib.sha256(KEY.encode()).hexdigest()
    session, lock = f"{store.prefix}session:{{{entry}}}", f"{store.prefix}lock:{{{entry}}}"
    assert client.exists(session) == 1
    assert client.cluster_keyslot(session) == client.cluster_keyslot(lock)
    log, hold = store.rate_limiter().keys_for("https://x/v2|GET /auth/sessions|Nip:5261040828")
    assert client.cluster_keyslot(log) == client.cluster_keyslot(hold)
    assert "5261040828" not in log


def test_sessions_spread_over_the_masters(redis_cluster: RedisCluster, store_for: StoreFor) -> None:
    store = store_for(redis_cluster)
    for i in range(30):
        store.put(f"{KEY}-{i}", make_tokens())
    holders = {
        store.client().get_node_from_key(f"{store.prefix}session:{{{n}}}").port
        for n in (hashlib.sha256(f"{KEY}-{i}".encode()).hexdigest() for i in range(30))
    }
    assert len(holders) == 3


# --- check(): the url must match the server's mode ---------------------------------------------


def test_a_plain_url_on_a_cluster_node_is_refused_with_the_cluster_form(
    redis_cluster: RedisCluster,
) -> None:
    port = redis_cluster.ports[0]
    store = RedisStore(url=f"redis://127.0.0.1:{port}/0", encrypt=False)
    with pytest.raises(ConfigError) as info:
        store.check(ENV, CONTEXT)
    assert str(info.value) == (
        f"Redis at 127.0.0.1:{port} is a cluster node (cluster_enabled): use"
        f' url = "redis+cluster://127.0.0.1:{port}"'
    )


def test_a_moved_answer_is_reported_not_lost(
    redis_cluster: RedisCluster, caplog: pytest.LogCaptureFixture
) -> None:
    """Issue 12 item 6: without check(), writes through a plain url fail with MOVED, and the
    message says so and what to do."""
    port = redis_cluster.ports[0]
    store = RedisStore(url=f"redis://127.0.0.1:{port}/0", encrypt=False)
    errors = []
    for i in range(20):  # some keys live on this node; most do not
        try:
            store.put(f"{KEY}-{i}", make_tokens())
        except StoreError as exc:
            errors.append(str(exc))
    assert errors
    assert "answered 'MOVED " in errors[0]
    assert f'it is a Redis Cluster node; use url = "redis+cluster://127.0.0.1:{port}"' in errors[0]


def test_a_cluster_url_on_a_single_server_is_refused(redis_server: RedisServer) -> None:
    store = RedisStore(url=f"redis+cluster://127.0.0.1:{redis_server.port}", encrypt=False)
    with pytest.raises(ConfigError) as info:
        store.check(ENV, CONTEXT)
    assert f"Redis Cluster at 127.0.0.1:{redis_server.port}" in str(info.value)
    assert f'not a cluster node: use url = "redis://127.0.0.1:{redis_server.port}/0"' in str(
        info.value
    )


def test_a_sentinel_url_on_a_single_server_is_refused(redis_server: RedisServer) -> None:
    store = RedisStore(url=f"redis+sentinel://127.0.0.1:{redis_server.port}/x", encrypt=False)
    with pytest.raises(ConfigError) as info:
        store.check(ENV, CONTEXT)
    assert str(info.value) == (
        f"Redis at 127.0.0.1:{redis_server.port} is not a Sentinel (standalone):"
        f' use url = "redis://127.0.0.1:{redis_server.port}/0"'
    )


def test_a_plain_url_on_a_sentinel_names_the_service(redis_sentinel: RedisSentinel) -> None:
    port = redis_sentinel.sentinel_ports[0]
    store = RedisStore(url=f"redis://127.0.0.1:{port}/0", encrypt=False)
    with pytest.raises(ConfigError) as info:
        store.check(ENV, CONTEXT)
    assert str(info.value) == (
        f"Redis at 127.0.0.1:{port} is a Sentinel: use"
        f' url = "redis+sentinel://127.0.0.1:{port}/mymaster"'
    )


def test_a_plain_url_on_a_replica_is_refused(redis_sentinel: RedisSentinel) -> None:
    port = redis_sentinel.replica_ports[0]
    store = RedisStore(url=f"redis://127.0.0.1:{port}/0", encrypt=False)
    with pytest.raises(ConfigError, match=f"Redis at 127.0.0.1:{port} is a read-only replica"):
        store.check(ENV, CONTEXT)


def test_an_unknown_service_lists_the_known_ones(redis_sentinel: RedisSentinel) -> None:
    hosts = ",".join(f"127.0.0.1:{p}" for p in redis_sentinel.sentinel_ports)
    store = RedisStore(url=f"redis+sentinel://{hosts}/nosuch", encrypt=False)
    with pytest.raises(ConfigError) as info:
        store.check(ENV, CONTEXT)
    assert "knows a master named 'nosuch' (they monitor: mymaster)" in str(info.value)


def test_a_strategy_file_reports_the_mismatch_at_load(
    redis_cluster: RedisCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksef_auth.config import load
    from ksef_auth.errors import PluginNotFound

    monkeypatch.setenv("K_TEST_TOKEN", "some-ksef-token")
    port = redis_cluster.ports[1]
    spec = {
        "strategy": {
            "shop": {
                "environment": "http://127.0.0.1:1/v2",
                "context": "5261040828",
                "credential": {"use": "env", "var": "K_TEST_TOKEN"},
                "signer": "ksef-token",
                "store": {"use": "redis", "url": f"redis://127.0.0.1:{port}", "encrypt": False},
            }
        }
    }
    try:
        with pytest.raises(ConfigError) as info:
            load(spec)
    except PluginNotFound as exc:
        pytest.skip(f"needs the env and token plugins: {exc}")
    assert "strategy.shop.store: Redis at" in str(info.value)
    assert "redis+cluster://" in str(info.value)


# --- passwords by reference and TLS, on each deployment ----------------------------------------


@pytest.fixture
def secret_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:
    values = {"K_REDIS_PASSWORD": "data-nodes-secret", "K_SENTINEL_PASSWORD": "sentinels-secret"}
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    yield values


def _roundtrip(store: RedisStore) -> None:
    store.check(ENV, CONTEXT)
    store.put(KEY, make_tokens())
    assert store.get(KEY) is not None


def test_a_password_by_reference_on_a_single_server(
    secret_env: dict[str, str], store_for: StoreFor
) -> None:
    with run_redis_server(require(), "--requirepass", secret_env["K_REDIS_PASSWORD"]) as s:
        _roundtrip(store_for(s, password=SecretRef.env("K_REDIS_PASSWORD")))
        with pytest.raises(ConfigError) as info:
            store_for(s).check(ENV, CONTEXT)
        assert "refused the credentials" in str(info.value) or "NOAUTH" in str(info.value)


@pytest.mark.slow
def test_a_password_by_reference_on_a_cluster(
    secret_env: dict[str, str], store_for: StoreFor
) -> None:
    password = secret_env["K_REDIS_PASSWORD"]
    with run_redis_cluster(binary=require("cluster"), replicas=0, password=password) as cluster:
        store = store_for(cluster, password=SecretRef.env("K_REDIS_PASSWORD"))
        _roundtrip(store)
        assert password not in repr(store)


@pytest.mark.slow
def test_passwords_by_reference_on_sentinel(
    secret_env: dict[str, str], store_for: StoreFor, caplog: pytest.LogCaptureFixture
) -> None:
    with run_redis_sentinel(
        binary=require("sentinel"),
        password=secret_env["K_REDIS_PASSWORD"],
        sentinel_password=secret_env["K_SENTINEL_PASSWORD"],
    ) as deployment:
        store = store_for(
            deployment,
            password=SecretRef.env("K_REDIS_PASSWORD"),
            sentinel_password=SecretRef.env("K_SENTINEL_PASSWORD"),
        )
        with caplog.at_level(logging.DEBUG):
            _roundtrip(store)
        without = store_for(deployment, password=SecretRef.env("K_REDIS_PASSWORD"))
        with pytest.raises(ConfigError) as info:
            without.check(ENV, CONTEXT)
    for text in (str(info.value), caplog.text, repr(store)):
        assert secret_env["K_REDIS_PASSWORD"] not in text
        assert secret_env["K_SENTINEL_PASSWORD"] not in text


@pytest.fixture(scope="module")
def tls_server() -> Iterator[RedisServer]:
    binary = require()
    if not supports_tls(binary):
        pytest.skip(
            f"{binary} is built without TLS: apt-get install redis-server (Debian's has it)"
        )
    with run_redis_server(binary, tls=True) as server:
        yield server


def test_tls_with_a_private_ca(tls_server: RedisServer, store_for: StoreFor) -> None:
    assert tls_server.url.startswith("rediss://")
    _roundtrip(store_for(tls_server))  # tls_ca_file = the test CA
    unverified = RedisStore(url=tls_server.url, encrypt=False, socket_timeout=2)
    with pytest.raises(ConfigError) as info:
        unverified.check(ENV, CONTEXT)
    assert "certificate verify failed" in str(info.value) or "unreachable" in str(info.value)
    plain = RedisStore(
        url=f"redis://127.0.0.1:{tls_server.port}/0", encrypt=False, socket_timeout=2
    )
    with pytest.raises(ConfigError):
        plain.check(ENV, CONTEXT)


def test_the_ca_file_option_is_relative_to_the_strategy_file(
    tls_server: RedisServer, tmp_path: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    from ksef_auth.config import load
    from ksef_auth.errors import PluginNotFound

    assert tls_server.tls_ca is not None
    shutil.copy(tls_server.tls_ca, tmp_path / "redis-ca.pem")
    monkeypatch.setenv("K_TEST_TOKEN", "some-ksef-token")
    (tmp_path / "ksef-auth.toml").write_text(
        "[strategy.shop]\n"
        'environment = "http://127.0.0.1:1/v2"\n'
        'context = "5261040828"\n'
        'credential = { use = "env", var = "K_TEST_TOKEN" }\n'
        'signer = "ksef-token"\n'
        f'store = {{ use = "redis", url = "{tls_server.url}", encrypt = false,'
        ' tls_ca_file = "redis-ca.pem" }\n'
    )
    try:
        store = load(tmp_path / "ksef-auth.toml").strategy().store
    except PluginNotFound as exc:
        pytest.skip(f"needs the env and token plugins: {exc}")
    assert store.tls_ca_file == str(tmp_path / "redis-ca.pem")


def test_the_client_never_retries_by_itself(redis_server: RedisServer, store_for: StoreFor) -> None:
    """A timeout is reported at once (the breaker decides about retrying), so one operation on
    a hung server costs one socket_timeout."""
    client = store_for(redis_server).client()
    assert isinstance(client, redis.Redis)
    retry = client.get_retry()
    assert retry is not None and retry._retries == 0
