"""Which deployment a url names (no server needed)."""

from __future__ import annotations

import pytest

from ksef_auth_redis import RedisStore, RedisTarget, redact_url


@pytest.mark.parametrize(
    ("url", "mode", "tls", "nodes", "db", "service"),
    [
        ("redis://cache:6380/2", "single", False, [("cache", 6380)], 2, None),
        ("rediss://cache", "single", True, [("cache", 6379)], 0, None),
        ("redis://[::1]:7000/0", "single", False, [("::1", 7000)], 0, None),
        (
            "redis+cluster://a:7000,b:7001",
            "cluster",
            False,
            [("a", 7000), ("b", 7001)],
            0,
            None,
        ),
        ("rediss+cluster://a", "cluster", True, [("a", 6379)], 0, None),
        (
            "redis+sentinel://s1,s2:26380/mymaster/3",
            "sentinel",
            False,
            [("s1", 26379), ("s2", 26380)],
            3,
            "mymaster",
        ),
        ("rediss+sentinel://s1:26379/svc", "sentinel", True, [("s1", 26379)], 0, "svc"),
    ],
)
def test_the_three_forms(
    url: str, mode: str, tls: bool, nodes: list[tuple[str, int]], db: int, service: str | None
) -> None:
    target = RedisTarget.parse(url)
    assert (target.mode, target.tls, list(target.nodes), target.db, target.service) == (
        mode,
        tls,
        nodes,
        db,
        service,
    )


def test_a_unix_socket() -> None:
    target = RedisTarget.parse("unix:///run/redis.sock?db=1")
    assert (target.mode, target.path, target.db) == ("single", "/run/redis.sock", 1)
    assert redact_url("unix:///run/redis.sock?db=1") == "/run/redis.sock"


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("http://a:6379", "url must start with one of redis://"),
        ("redis://a:1,b:2", r"for a Redis Cluster write redis\+cluster://"),
        ("redis+sentinel://s1:26379", "names the service after the hosts"),
        ("redis+cluster://a:7000/1", "database 0 only"),
        ("redis://a:port", "is not a number"),
        ("redis://a:70000", "out of range"),
        ("redis://a/x", "not a number"),
        ("redis://", "names no host"),
    ],
)
def test_mistakes_are_explained(url: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisTarget.parse(url)


def test_credentials_in_a_url_never_show() -> None:
    url = "redis+sentinel://admin:hunter2@s1:26379,s2:26379/mymaster"
    target = RedisTarget.parse(url)
    assert (target.username, target.password) == ("admin", "hunter2")
    for text in (redact_url(url), repr(target), target.where):
        assert "hunter2" not in text and "admin" not in text
    assert redact_url(url) == "s1:26379,s2:26379"
    with pytest.raises(ValueError) as info:
        RedisTarget.parse("http://admin:hunter2@s1")
    assert "hunter2" not in str(info.value)
    store = RedisStore(url=url, encrypt=False)
    assert "hunter2" not in repr(store) and "mode='sentinel'" in repr(store)


def test_the_suggested_forms() -> None:
    target = RedisTarget.parse("redis://127.0.0.1:7000/0")
    assert target.url_for("cluster") == "redis+cluster://127.0.0.1:7000"
    assert (
        target.url_for("sentinel", service="mymaster") == "redis+sentinel://127.0.0.1:7000/mymaster"
    )
    tls = RedisTarget.parse("rediss+cluster://a:1,b:2")
    assert tls.url_for("single") == "rediss://a:1/0"


def test_lock_ttl_must_be_shorter_than_lock_timeout() -> None:
    from ksef_auth import ConfigError

    with pytest.raises(ConfigError, match=r"lock_ttl \(30 s\) must be shorter"):
        RedisStore(encrypt=False, lock_ttl=30, lock_timeout=20)
    with pytest.raises(ValueError, match="socket_timeout must be a positive"):
        RedisStore(encrypt=False, socket_timeout=float("nan"))


def test_the_key_may_come_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    from ksef_auth.sealing import generate_key
    from ksef_auth.store_keys import KEY_ENV

    monkeypatch.setenv(KEY_ENV, generate_key())
    store = RedisStore()
    assert f"environment variable {KEY_ENV}" in repr(store)
    assert len(store.key_ring()) == 1
