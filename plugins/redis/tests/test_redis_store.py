from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import textwrap
import time
import uuid
from functools import partial
from pathlib import Path

import pytest
import redis

from ksef_auth import ConfigError, ContextIdentifier, Environment, SecretRef, StoreError
from ksef_auth.sealing import generate_key
from ksef_auth.testing import RawStorage, SessionStoreContract, make_tokens
from ksef_auth_redis import RedisStore, redact_url
from ksef_auth_redis.testing import (
    NO_SERVER_REASON,
    RedisServer,
    find_redis_server,
    run_redis_server,
)

KEY = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"
ENV = Environment.of("http://127.0.0.1:1/v2")
CONTEXT = ContextIdentifier.nip("5261040828")

pytestmark = pytest.mark.redis


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def make_store(server: RedisServer, **options: object) -> RedisStore:
    options.setdefault("key", SecretRef.value(generate_key()))
    options.setdefault("prefix", f"test-{uuid.uuid4().hex[:8]}:")
    return RedisStore(url=server.url, **options)  # type: ignore[arg-type]


def raw(server: RedisServer) -> redis.Redis:
    return redis.Redis.from_url(server.url)


def session_key(store: RedisStore, key: str) -> str:
    return f"{store.prefix}session:{{{hashlib.sha256(key.encode()).hexdigest()}}}"


def raw_values(server: RedisServer, prefix: str) -> RawStorage:
    """What the kit sees of a Redis store: the values under its prefix."""
    client = raw(server)

    def name(key: str) -> str:
        return f"{prefix}session:{{{hashlib.sha256(key.encode()).hexdigest()}}}"

    def read(key: str) -> bytes | None:
        return client.get(name(key))  # type: ignore[return-value]

    def write(key: str, data: bytes) -> None:
        client.set(name(key), data)

    def dump() -> bytes:
        return b"".join(client.get(k) or b"" for k in sorted(client.scan_iter(match=f"{prefix}*")))

    return RawStorage(read=read, write=write, dump=dump)


class TestRedisStoreContract(SessionStoreContract):
    LOCK_TTL = 1.0  # a killed holder's lock expires on its own after this (nobody extends it)

    @pytest.fixture
    def store_factory(
        self, redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
    ) -> partial[RedisStore]:
        monkeypatch.setenv("KSEF_KIT_REDIS_KEY", generate_key())  # inherited by spawned workers
        return partial(
            RedisStore,
            url=redis_server.url,
            key=SecretRef.env("KSEF_KIT_REDIS_KEY"),
            prefix=f"test-{uuid.uuid4().hex[:8]}:",
            lock_ttl=self.LOCK_TTL,
        )

    @pytest.fixture
    def store(self, store_factory: partial[RedisStore]) -> RedisStore:
        return store_factory()

    @pytest.fixture
    def raw_storage(self, redis_server: RedisServer, store: RedisStore) -> RawStorage:
        return raw_values(redis_server, store.prefix)

    @pytest.fixture
    def dead_holder_timeout(self) -> float:
        return self.LOCK_TTL + 4


class TestClearRedisStoreContract(TestRedisStoreContract):
    @pytest.fixture
    def store_factory(self, redis_server: RedisServer) -> partial[RedisStore]:
        return partial(
            RedisStore,
            url=redis_server.url,
            key=None,
            encrypt=False,
            prefix=f"test-{uuid.uuid4().hex[:8]}:",
            lock_ttl=self.LOCK_TTL,
        )

    def test_sessions_at_rest_hold_no_token(self) -> None:  # type: ignore[override]
        pytest.skip("encrypt = false keeps sessions in clear, by the user's explicit choice")

    def test_entry_copied_from_another_key_is_a_miss(self) -> None:  # type: ignore[override]
        pytest.skip(
            "clear entries carry no authentication: with encrypt = false, whoever can write to"
            " Redis can plant any session"
        )


def test_ttl_ends_with_the_last_token(redis_server: RedisServer) -> None:
    store = make_store(redis_server)
    store.put(KEY, make_tokens(access_ttl=900, refresh_ttl=3600))
    ttl_ms = raw(redis_server).pttl(session_key(store, KEY))
    assert 3590_000 < ttl_ms <= 3601_000
    store.put(KEY, make_tokens(access_ttl=900, refresh_ttl=None))
    assert 890_000 < raw(redis_server).pttl(session_key(store, KEY)) <= 901_000


def test_an_expired_session_is_not_written(redis_server: RedisServer) -> None:
    store = make_store(redis_server)
    store.put(KEY, make_tokens())
    store.put(KEY, make_tokens(access_ttl=-5, refresh_ttl=-5))
    assert raw(redis_server).exists(session_key(store, KEY)) == 0


def test_the_value_in_redis_holds_no_token(redis_server: RedisServer) -> None:
    store = make_store(redis_server)
    tokens = make_tokens()
    store.put(KEY, tokens)
    value = raw(redis_server).get(session_key(store, KEY))
    assert isinstance(value, bytes) and value
    assert tokens.access_token.value.reveal().encode() not in value
    assert tokens.refresh_token is not None
    assert tokens.refresh_token.value.reveal().encode() not in value
    assert b"5261040828" not in value
    names = [n.decode() for n in raw(redis_server).keys(f"{store.prefix}*")]
    assert names == [session_key(store, KEY)]
    assert "5261040828" not in names[0]


def test_clear_storage_only_when_asked(redis_server: RedisServer) -> None:
    store = make_store(redis_server, key=None, encrypt=False)
    tokens = make_tokens()
    store.put(KEY, tokens)
    value = raw(redis_server).get(session_key(store, KEY))
    assert tokens.access_token.value.reveal().encode() in value  # as asked for
    with pytest.raises(ConfigError, match="needs option 'key'.*encrypt = false explicitly"):
        RedisStore(url=redis_server.url)
    store.check(ENV, CONTEXT)  # issue 12 item 6: this raised AssertionError
    assert "encrypt = false" in repr(store)
    with pytest.raises(ConfigError, match="key' is given but encrypt = false"):
        RedisStore(key=SecretRef.value(generate_key()), encrypt=False)


def test_wrong_key_is_a_miss_then_a_new_login_replaces_it(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    first = make_store(redis_server)
    first.put(KEY, make_tokens())
    rotated = make_store(redis_server, prefix=first.prefix)  # the deployment key changed
    with caplog.at_level(logging.WARNING, logger="ksef_auth.store.redis"):
        assert rotated.get(KEY) is None
    assert "cannot be decrypted with the configured key: was the key changed?" in caplog.text
    fresh = make_tokens()
    rotated.put(KEY, fresh)  # the re-login
    got = rotated.get(KEY)
    assert got is not None and got.access_token == fresh.access_token
    assert first.get(KEY) is None  # and the old key no longer reads it


def test_rotation_with_two_keys(redis_server: RedisServer) -> None:
    old, new = generate_key(), generate_key()
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    make_store(redis_server, key=SecretRef.value(old), prefix=prefix).put(KEY, make_tokens())
    both = make_store(redis_server, key=SecretRef.value(f"{new},{old}"), prefix=prefix)
    assert both.get(KEY) is not None


def test_a_value_copied_to_another_key_does_not_open(redis_server: RedisServer) -> None:
    store = make_store(redis_server)
    store.put(KEY, make_tokens())
    other = KEY.replace("5261040828", "1234563218")
    client = raw(redis_server)
    client.set(session_key(store, other), client.get(session_key(store, KEY)))
    assert store.get(other) is None


def test_unreachable_redis_is_a_clear_store_error_without_the_password() -> None:
    port = closed_port()
    store = RedisStore(
        url=f"redis://admin:hunter2@127.0.0.1:{port}/0",
        key=SecretRef.value(generate_key()),
        socket_timeout=1,
    )
    expected = (
        f"Redis at 127.0.0.1:{port} is unreachable (Connection refused); check the url option"
        " and that redis-server runs"
    )
    for action in (
        lambda: store.get(KEY),
        lambda: store.put(KEY, make_tokens()),
        lambda: store.delete(KEY),
    ):
        with pytest.raises(StoreError) as info:
            action()
        assert str(info.value) == expected
        assert "hunter2" not in str(info.value) and "admin" not in str(info.value)
        assert info.value.__cause__ is None and info.value.__suppress_context__
    with pytest.raises(StoreError, match="unreachable"), store.lock(KEY, timeout=0.1):
        pass
    with pytest.raises(StoreError, match=f"127.0.0.1:{port} is unreachable") as checked:
        store.check(ENV, CONTEXT)
    assert "hunter2" not in str(checked.value)
    assert "hunter2" not in repr(store)


def test_wrong_password_is_reported_without_it() -> None:
    binary = find_redis_server()
    if binary is None:
        pytest.skip(NO_SERVER_REASON)
    with run_redis_server(binary, "--requirepass", "right-password") as server:
        os.environ["KSEF_AUTH_TEST_REDIS_PASSWORD"] = "wrong-password"
        try:
            store = make_store(server, password=SecretRef.env("KSEF_AUTH_TEST_REDIS_PASSWORD"))
            with pytest.raises(StoreError) as info:
                store.get(KEY)
            assert "wrong-password" not in str(info.value)
            assert f"Redis at 127.0.0.1:{server.port}" in str(info.value)
            os.environ["KSEF_AUTH_TEST_REDIS_PASSWORD"] = "right-password"
            good = make_store(server, password=SecretRef.env("KSEF_AUTH_TEST_REDIS_PASSWORD"))
            good.put(KEY, make_tokens())
            assert good.get(KEY) is not None
        finally:
            del os.environ["KSEF_AUTH_TEST_REDIS_PASSWORD"]


def test_check_pings(redis_server: RedisServer) -> None:
    make_store(redis_server).check(ENV, CONTEXT)
    with pytest.raises(ConfigError, match="is 5 bytes, not 32"):
        make_store(redis_server, key=SecretRef.value("c2hvcnQ")).check(ENV, CONTEXT)


def test_url_is_validated_and_redacted() -> None:
    with pytest.raises(ValueError, match="redis://, rediss://, unix://") as info:
        RedisStore(url="http://user:pw@example.com:6379", encrypt=False)
    assert "pw" not in str(info.value)
    assert redact_url("rediss://u:p@cache.internal:6380/2") == "cache.internal:6380"
    assert redact_url("redis://cache") == "cache:6379"
    assert redact_url("unix:///run/redis.sock?db=1") == "/run/redis.sock"


def test_lock_released_after_expiry_does_not_raise(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> None:
    store = make_store(redis_server, lock_ttl=0.3, lock_timeout=0.4)  # extended 0.4 s at most
    with caplog.at_level(logging.WARNING), store.lock(KEY, timeout=1) as held:
        assert held
        time.sleep(1.2)  # the lock is no longer extended, and expires, while "logging in"
        with store.lock(KEY, timeout=1) as again:  # someone else may take it meanwhile
            assert again
    assert "is no longer extended" in caplog.text
    assert "expired before it was released" in caplog.text


def test_a_held_lock_is_extended_beyond_its_ttl(redis_server: RedisServer) -> None:
    store = make_store(redis_server, lock_ttl=0.3)
    with store.lock(KEY, timeout=1) as held:
        assert held
        time.sleep(1.0)  # three TTLs: the holder keeps extending it
        with make_store(redis_server, prefix=store.prefix).lock(KEY, timeout=0) as other:
            assert other is False
    with make_store(redis_server, prefix=store.prefix).lock(KEY, timeout=0) as other:
        assert other is True  # released on exit


def test_the_lock_keeper_outlives_an_error_that_is_no_redis_error() -> None:
    """During a cluster failover redis-py may raise RedisClusterException (no RedisError) from
    an extension: it killed the keeper's thread, and this process extended no lock again."""
    from redis.exceptions import RedisClusterException

    from ksef_auth_redis.lock import LockKeeper

    class FirstExtensionFails:  # stands for redis-py's Lock: only reacquire() is called
        calls = 0

        def reacquire(self) -> None:
            self.calls += 1
            if self.calls == 1:
                raise RedisClusterException("Redis Cluster cannot be connected")

    keeper, lock = LockKeeper(ttl=0.15, max_hold=60), FirstExtensionFails()
    keeper.hold(lock, "a lock")
    deadline = time.monotonic() + 30
    while lock.calls < 3:
        assert time.monotonic() < deadline, "the keeper stopped extending after the error"
        time.sleep(0.02)
    keeper.drop(lock)
    assert keeper.holding() == 0


def test_lock_outlives_nothing_after_a_crash(redis_server: RedisServer) -> None:
    store = make_store(redis_server, lock_ttl=0.5)
    lock_name = f"{store.prefix}lock:{{{hashlib.sha256(KEY.encode()).hexdigest()}}}"
    raw(redis_server).set(lock_name, "crashed-holder", px=500)
    with store.lock(KEY, timeout=3) as held:
        assert held


def test_registered_through_the_entry_point() -> None:
    from ksef_auth.manager import PluginManager

    registration = PluginManager(only="redis").get("session_store", "redis")
    assert registration.factory is RedisStore
    options = {o.name: o for o in registration.options}
    assert list(options) == [
        "url",
        "key",
        "encrypt",
        "prefix",
        "password",
        "username",
        "sentinel_password",
        "tls_ca_file",
        "socket_timeout",
        "lock_ttl",
        "lock_timeout",
    ]
    assert options["key"].secret and options["password"].secret and not options["url"].secret
    assert options["sentinel_password"].secret and options["tls_ca_file"].path


def strategy_dict(store: dict[str, object]) -> dict[str, object]:
    return {
        "strategy": {
            "shop": {
                "environment": "http://127.0.0.1:1/v2",
                "context": "5261040828",
                "credential": {"use": "env", "var": "K_TEST_TOKEN"},
                "signer": "ksef-token",
                "store": store,
            }
        }
    }


def test_a_strategy_builds_and_checks_the_store(
    redis_server: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    from ksef_auth.config import load
    from ksef_auth.errors import PluginNotFound

    monkeypatch.setenv("K_TEST_TOKEN", "some-ksef-token")
    monkeypatch.setenv("K_STORE", generate_key())
    good = {"use": "redis", "url": redis_server.url, "key": {"env": "K_STORE"}}
    try:
        store = load(strategy_dict(good)).strategy().store
    except PluginNotFound as exc:
        pytest.skip(f"needs the env and token plugins: {exc}")
    assert isinstance(store, RedisStore) and store.key == SecretRef.env("K_STORE")

    with pytest.raises(ConfigError, match="is a secret: give it by reference"):
        load(strategy_dict({**good, "key": generate_key()}))
    with pytest.raises(ConfigError, match=r"strategy.shop.store: .*needs option 'key'"):
        load(strategy_dict({"use": "redis", "url": redis_server.url}))
    port = closed_port()
    down = {**good, "url": f"redis://:pw-in-url@127.0.0.1:{port}/0"}
    with pytest.raises(StoreError) as info:  # Redis down is the store's failure, not the file's
        load(strategy_dict(down))
    assert f"strategy.shop.store: Redis at 127.0.0.1:{port} is unreachable" in str(info.value)
    assert "pw-in-url" not in str(info.value)
    load(strategy_dict(down), check=False)  # without checks nothing connects


# --- across processes --------------------------------------------------------------------------


def test_lock_excludes_another_process(redis_server: RedisServer, tmp_path: Path) -> None:
    key = generate_key()
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    ready = tmp_path / "ready"
    code = f"""
        import pathlib, time
        from ksef_auth import SecretRef
        from ksef_auth_redis import RedisStore
        store = RedisStore(url={redis_server.url!r}, key=SecretRef.value({key!r}),
                           prefix={prefix!r})
        with store.lock({KEY!r}, timeout=5) as held:
            assert held
            pathlib.Path({str(ready)!r}).touch()
            time.sleep(1.5)
        """
    holder = subprocess.Popen(
        [sys.executable, "-c", textwrap.dedent(code)], stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + 20
        while not ready.exists():
            assert holder.poll() is None, holder.communicate()[1]
            assert time.monotonic() < deadline
            time.sleep(0.02)
        seen_ready = time.monotonic()
        store = make_store(redis_server, key=SecretRef.value(key), prefix=prefix)
        started = time.monotonic()
        with store.lock(KEY, timeout=0.3) as held:
            assert held is False
        assert 0.2 <= time.monotonic() - started < 5  # waited the timeout, then gave up
        with store.lock(KEY, timeout=10) as held:
            assert held is True
            assert time.monotonic() - seen_ready >= 1.4
    finally:
        holder.wait(timeout=20)
    assert holder.returncode == 0, holder.communicate()[1]
