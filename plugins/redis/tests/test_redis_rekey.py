"""Key rotation on each deployment: a ring reads what older keys sealed, ``rekey()`` and
``ksef-auth redis rekey`` re-seal every session in place, then the old key can go."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest

from ksef_auth import SecretRef
from ksef_auth.sealing import generate_key, key_id, parse_keys
from ksef_auth.testing import make_tokens
from ksef_auth_redis import RedisStore
from ksef_auth_redis.testing import RedisServer

pytestmark = pytest.mark.redis

KEY = "http://127.0.0.1:1/v2|Nip:5261040828|tok:0123456789abcdef"


def test_rotate_then_rekey_then_drop_the_old_key(
    any_redis: Any, store_for: Callable[..., RedisStore]
) -> None:
    a, b = generate_key(), generate_key()
    under_a = store_for(any_redis, key=SecretRef.value(a))
    prefix = under_a.prefix
    sessions = {f"{KEY}-{i}": make_tokens() for i in range(12)}
    for key, tokens in sessions.items():
        under_a.put(key, tokens)

    rotated = store_for(any_redis, key=SecretRef.value(f"{b},{a}"), prefix=prefix)
    assert all(rotated.get(key) == tokens for key, tokens in sessions.items())  # A still reads
    rotated.put(f"{KEY}-0", sessions[f"{KEY}-0"])  # a refresh: re-sealed with B at its write
    client = rotated.client()
    blob = client.get(rotated._session_key(f"{KEY}-0"))
    assert blob[1:5] == key_id(parse_keys(b)[0])
    ttl_before = client.pttl(rotated._session_key(f"{KEY}-5"))

    report = rotated.rekey()
    assert (report.resealed, report.current, report.complete) == (11, 1, True)
    only_b = store_for(any_redis, key=SecretRef.value(b), prefix=prefix)
    assert all(only_b.get(key) == tokens for key, tokens in sessions.items())  # nothing lost
    assert 0 < client.pttl(rotated._session_key(f"{KEY}-5")) <= ttl_before  # expiry kept
    assert rotated.rekey().resealed == 0


def test_rekey_reports_sessions_no_key_opens(
    redis_server: RedisServer, store_for: Callable[..., RedisStore]
) -> None:
    lost = store_for(redis_server)
    store_for(redis_server, prefix=lost.prefix).put(KEY, make_tokens())  # another key
    report = lost.rekey()
    assert not report.complete and "was the key changed?" in report.summary()
    assert "5261040828" not in report.summary()


def test_rekey_leaves_other_prefixes_alone(
    redis_server: RedisServer, store_for: Callable[..., RedisStore]
) -> None:
    mine, theirs = store_for(redis_server), store_for(redis_server)
    theirs.put(KEY, make_tokens())
    assert mine.rekey().complete and mine.rekey().current == 0


def cli(*args: str, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "ksef_auth.cli", "redis", *args],
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=60,
    )


def test_the_rekey_command(redis_server: RedisServer, store_for: Callable[..., RedisStore]) -> None:
    a, b = generate_key(), generate_key()
    store = store_for(redis_server, key=SecretRef.value(a))
    store.put(KEY, make_tokens())
    args = ["rekey", "--url", redis_server.url, "--prefix", store.prefix, "--key-env", "K"]
    done = cli(*args, K=f"{b},{a}")
    assert done.returncode == 0, done.stderr
    assert "1 session(s) re-sealed with the newest key" in done.stdout
    assert "older keys can go" in done.stdout
    for secret in (a, b):
        assert secret not in done.stdout + done.stderr
    assert store_for(redis_server, key=SecretRef.value(b), prefix=store.prefix).get(KEY)

    missing = cli(*args, K=a)  # the key that sealed them is gone
    assert missing.returncode == 1 and "could not be re-sealed" in missing.stdout

    down = cli("rekey", "--url", "redis://:hunter2@127.0.0.1:1/0", "--key-env", "K", K=a)
    assert down.returncode == 7, down.stderr
    assert "error: Redis at 127.0.0.1:1 is unreachable" in down.stderr
    assert "hunter2" not in down.stderr and "Traceback" not in down.stderr

    bad = cli("rekey", "--url", "http://x", "--key-env", "K", K=a)
    assert bad.returncode == 2 and "url must start with one of" in bad.stderr
