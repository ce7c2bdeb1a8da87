"""A real redis-server for these tests, started once per session and stopped by its pid."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from ksef_auth_redis.testing import (
    NO_SERVER_REASON,
    RedisServer,
    find_redis_server,
    run_redis_server,
)


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    binary = find_redis_server()
    if binary is None:
        pytest.skip(NO_SERVER_REASON)
    with run_redis_server(binary) as server:
        yield server
