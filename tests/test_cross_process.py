"""Six processes ask for a token at the same instant through one shared store: KSeF sees one login.

The shared stores: the file store (with a given key, and racing to generate one), and the redis
store on one server, on a real 3-master Redis Cluster and behind a real Sentinel.

Every worker is a separate ``python`` process that loads the same strategy (a KSeF token from the
environment, the ``ksef-token`` signer, the simulator over real loopback HTTP) and the same
session store. They start together (each has imported everything and says "ready" before the
parent says "go"), call ``strategy.token()``, and print the token. The store's cross-process lock
and the session manager's re-read after taking it must turn six logins into one.

The ``memory`` store is the control: it is not shared, so every worker logs in, which shows the
test can see duplicate logins at all.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ksef_auth_simulator")
pytest.importorskip("ksef_auth_token")
pytest.importorskip("ksef_auth_env")

from ksef_auth.sealing import generate_key  # noqa: E402

WORKERS = 6
NIP = "5261040828"

WORKER = textwrap.dedent(
    """
    import json, sys
    import ksef_auth

    config = ksef_auth.load(json.loads(sys.argv[1]))
    strategy = config.strategy()
    print("ready", flush=True)
    assert sys.stdin.readline().strip() == "go"
    print("token " + strategy.token(), flush=True)
    """
)


def run_workers(config: dict[str, Any], env: dict[str, str]) -> list[str]:
    """Start the workers, release them together, return each one's token."""
    # never the developer's own store key: the file store must use (or make) its own
    base_env = {k: v for k, v in os.environ.items() if k != "KSEF_AUTH_STORE_KEY"}
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, json.dumps(config)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**base_env, **env},
        )
        for _ in range(WORKERS)
    ]
    try:
        for worker in workers:
            assert worker.stdout is not None
            line = worker.stdout.readline()
            assert line.strip() == "ready", worker.communicate(timeout=30)[1]
        for worker in workers:  # as close to "the same moment" as one parent can make it
            assert worker.stdin is not None
            worker.stdin.write("go\n")
            worker.stdin.flush()
        tokens = []
        for worker in workers:
            out, err = worker.communicate(timeout=60)
            assert worker.returncode == 0, err
            tokens.append(out.strip().removeprefix("token "))
        return tokens
    finally:
        for worker in workers:
            if worker.poll() is None:
                worker.kill()
                worker.wait()


def strategy_config(base_url: str, store: dict[str, Any]) -> dict[str, Any]:
    return {
        "strategy": {
            "shop": {
                "environment": base_url,
                "context": NIP,
                "credential": {"use": "env", "var": "KSEF_CROSS_PROCESS_TOKEN"},
                "signer": "ksef-token",
                "store": store,
            }
        }
    }


@pytest.fixture(scope="module")
def redis_url() -> Iterator[str]:
    testing = pytest.importorskip("ksef_auth_redis.testing")
    with testing.run_redis_server(testing.require()) as server:
        yield server.url


@pytest.fixture(scope="module")
def redis_cluster_url() -> Iterator[str]:
    """A real 3-master cluster (one replica each)."""
    testing = pytest.importorskip("ksef_auth_redis.testing")
    with testing.run_redis_cluster(binary=testing.require("cluster")) as cluster:
        yield cluster.url


@pytest.fixture(scope="module")
def redis_sentinel_url() -> Iterator[str]:
    """A real master + replica + 3 sentinels."""
    testing = pytest.importorskip("ksef_auth_redis.testing")
    with testing.run_redis_sentinel(binary=testing.require("sentinel")) as deployment:
        yield deployment.url


StoreFactory = Callable[[Path], dict[str, Any]]


def file_store(tmp_path: Path) -> dict[str, Any]:
    return {"use": "file", "path": str(tmp_path / "sessions"), "key": {"env": "KSEF_X_STORE_KEY"}}


@pytest.fixture(params=["file", "file-generated-key", "redis", "redis-cluster", "redis-sentinel"])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> dict[str, Any]:
    if request.param == "file":
        pytest.importorskip("ksef_auth_file")
        return file_store(tmp_path)
    if request.param == "file-generated-key":  # the workers race to create store.key as well
        pytest.importorskip("ksef_auth_file")
        return {"use": "file", "path": str(tmp_path / "state" / "sessions")}
    fixture = {"redis": "redis_url", "redis-cluster": "redis_cluster_url"}.get(
        request.param, "redis_sentinel_url"
    )
    url = request.getfixturevalue(fixture)
    prefix = f"xproc-{uuid.uuid4().hex[:8]}:"
    return {"use": "redis", "url": url, "key": {"env": "KSEF_X_STORE_KEY"}, "prefix": prefix}


def events(running: Any) -> dict[str, int]:
    return dict(running.sim.counters()["events"])


@pytest.mark.slow
def test_workers_sharing_a_store_log_in_once(
    make_ksef_simulator: Callable[..., Any], shared_store: dict[str, Any], tmp_path: Path
) -> None:
    # a login that takes a while widens the window in which the workers would all log in
    running = make_ksef_simulator(auth_delay=0.5)
    secret = running.sim.issue_ksef_token(NIP)
    env = {
        "KSEF_CROSS_PROCESS_TOKEN": secret,
        "KSEF_X_STORE_KEY": generate_key(),
        "XDG_STATE_HOME": str(tmp_path / "state-home"),  # where a generated store key goes
    }
    tokens = run_workers(strategy_config(running.base_url, shared_store), env)

    assert len(set(tokens)) == 1, "every worker must get the one session's access token"
    assert tokens[0] and secret not in tokens[0]
    counted = events(running)
    assert counted.get("challenges") == 1, counted
    assert counted.get("logins_completed") == 1, counted


@pytest.mark.slow
def test_control_unshared_memory_stores_log_in_once_per_worker(
    make_ksef_simulator: Callable[..., Any],
) -> None:
    running = make_ksef_simulator(auth_delay=0.5)
    secret = running.sim.issue_ksef_token(NIP)
    tokens = run_workers(
        strategy_config(running.base_url, {"use": "memory"}),
        {"KSEF_CROSS_PROCESS_TOKEN": secret},
    )
    assert len(set(tokens)) == WORKERS
    assert events(running).get("logins_completed") == WORKERS
