"""Real Redis deployments for these tests, each started once per session and stopped by pid:
one server, a 3-master cluster (with a replica each) and a master + replica + 3 sentinels.
Where a binary is missing the tests that need it skip, saying what to install.

``KSEF_AUTH_REDIS_FAULT_SECONDS`` sets how long the SIGSTOP fault lasts (2 s by default, 10 s in
``nox -s redis_fleet``); ``KSEF_AUTH_REDIS_FLEET=1`` (set there) runs the long failover scenarios
as well.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from ksef_auth import SecretRef
from ksef_auth.sealing import generate_key
from ksef_auth_redis import RedisStore
from ksef_auth_redis.testing import (
    RedisCluster,
    RedisSentinel,
    RedisServer,
    require,
    run_redis_cluster,
    run_redis_sentinel,
    run_redis_server,
)


@pytest.fixture(scope="session")
def fault_seconds() -> float:
    """How long a SIGSTOP fault lasts: $KSEF_AUTH_REDIS_FAULT_SECONDS, 2 s by default."""
    return float(os.environ.get("KSEF_AUTH_REDIS_FAULT_SECONDS", "2"))


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    with run_redis_server(require()) as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[RedisCluster]:
    """Shared by the tests that do not harm it (use fresh prefixes)."""
    with run_redis_cluster(binary=require("cluster")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel() -> Iterator[RedisSentinel]:
    """Shared by the tests that do not harm it (use fresh prefixes)."""
    with run_redis_sentinel(binary=require("sentinel")) as deployment:
        yield deployment


@pytest.fixture
def fresh_cluster() -> Iterator[RedisCluster]:
    """A cluster of its own, for a test that kills or pauses a node."""
    with run_redis_cluster(binary=require("cluster")) as cluster:
        yield cluster


@pytest.fixture
def fresh_sentinel() -> Iterator[RedisSentinel]:
    """A Sentinel deployment of its own, for a test that kills or pauses a server."""
    with run_redis_sentinel(binary=require("sentinel")) as deployment:
        yield deployment


@pytest.fixture(params=["single", "cluster", "sentinel"])
def any_redis(request: pytest.FixtureRequest) -> Any:
    """Each deployment in turn (a running server, cluster or Sentinel deployment)."""
    name = {"single": "redis_server", "cluster": "redis_cluster", "sentinel": "redis_sentinel"}
    return request.getfixturevalue(name[request.param])


@pytest.fixture
def store_for() -> Callable[..., RedisStore]:
    """``store_for(deployment, **options)``: a store with a fresh prefix and key."""

    def make(deployment: Any, **options: Any) -> RedisStore:
        options.setdefault("key", SecretRef.value(generate_key()))
        options.setdefault("prefix", f"test-{uuid.uuid4().hex[:8]}:")
        if getattr(deployment, "tls_ca", None):
            options.setdefault("tls_ca_file", deployment.tls_ca)
        return RedisStore(url=deployment.url, **options)

    return make
