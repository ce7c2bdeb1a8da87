"""The file store's rate limiter: the kit's contract, and one budget across processes."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from ksef_auth import SecretRef
from ksef_auth.pacing import Rate, RateLimiter
from ksef_auth.sealing import generate_key
from ksef_auth.testing import RateLimiterContract
from ksef_auth_file import FileRateLimiter, FileStore


class TestFileRateLimiterContract(RateLimiterContract):
    @pytest.fixture
    def limiter(self, tmp_path: Path) -> FileRateLimiter:
        return FileStore(path=tmp_path / "s", key=SecretRef.value(generate_key())).rate_limiter()

    @pytest.fixture
    def other_limiter(self, tmp_path: Path) -> FileRateLimiter:
        return FileStore(path=tmp_path / "s").rate_limiter()  # another store, the same folder


def test_the_store_offers_one_limiter(tmp_path: Path) -> None:
    store = FileStore(path=tmp_path / "s")
    assert store.rate_limiter() is store.rate_limiter()
    assert isinstance(store.rate_limiter(), RateLimiter)
    assert store.rate_limiter().directory == tmp_path / "s" / "rate-limits"


def test_processes_share_one_budget(tmp_path: Path) -> None:
    """Four processes ask for 10 immediate sends each out of 7 a minute: 7 get one."""
    code = f"""
        import json
        from ksef_auth.pacing import Rate
        from ksef_auth_file import FileRateLimiter
        limiter = FileRateLimiter({str(tmp_path / "limits")!r})
        got = [limiter.reserve("POST /auth/challenge", [Rate(7, 60.0)], 0.0) for _ in range(10)]
        print(json.dumps(got))
        """
    workers = [
        subprocess.Popen(
            [sys.executable, "-c", textwrap.dedent(code)], stdout=subprocess.PIPE, text=True
        )
        for _ in range(4)
    ]
    results = []
    for worker in workers:
        out, _ = worker.communicate(timeout=60)
        assert worker.returncode == 0
        results += json.loads(out)
    assert sum(r is not None for r in results) == 7


def test_state_files_are_private_and_a_torn_one_starts_over(tmp_path: Path) -> None:
    limiter = FileRateLimiter(tmp_path / "limits")
    assert limiter.reserve("k", [Rate(1, 60.0)], 0.0) == 0.0
    (state,) = (tmp_path / "limits").iterdir()
    assert state.stat().st_mode & 0o077 == 0
    assert "k" not in state.name
    state.write_text("{not json")
    assert limiter.reserve("k", [Rate(1, 60.0)], 0.0) == 0.0


def test_an_unusable_directory_never_fails_a_login(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import logging

    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    limiter = FileRateLimiter(blocker / "limits")
    with caplog.at_level(logging.WARNING, logger="ksef_auth.store.file"):
        assert limiter.reserve("k", [Rate(1, 60.0)], 0.0) == 0.0
        assert limiter.reserve("k", [Rate(1, 60.0)], 0.0) is None  # still kept, in-process
        limiter.penalize("k", 1.0)
    assert len(caplog.records) == 1
    assert "cannot create the rate limit directory" in caplog.text
    assert "kept by this process alone" in caplog.text
