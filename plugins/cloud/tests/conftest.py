"""Fixtures: moto's server mode as a real HTTP server on loopback, and an AWS environment that
holds only what a test gives it."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from cloud_support import Moto

from ksef_auth_cloud.testing import isolate_aws, use_test_credentials


@pytest.fixture(scope="session")
def moto() -> Iterator[Moto]:
    pytest.importorskip("moto.server")
    with Moto.running() as server:
        yield server


@pytest.fixture
def aws_home(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No AWS settings at all: no variables, empty config and credentials files, and a metadata
    service endpoint on a closed loopback port (so no test ever reaches a real one)."""
    isolate_aws(monkeypatch, tmp_path)
    return tmp_path


@pytest.fixture
def aws_env(aws_home: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Dummy credentials in the environment, as in any moto test."""
    use_test_credentials(monkeypatch)


@pytest.fixture
def unique() -> Callable[[str], str]:
    """A fresh name per call: moto's state is shared by every server in the process."""
    return lambda prefix: f"{prefix}-{uuid.uuid4().hex[:12]}"


@pytest.fixture
def denied(
    moto: Moto, unique: Callable[[str], str], monkeypatch: pytest.MonkeyPatch
) -> Callable[[], contextlib.AbstractContextManager[str]]:
    """``with denied() as access_secret:`` runs its block as an IAM user with no rights, IAM
    enforced (moto enforces policies after /moto-api/reset-auth); yields that user's secret
    access key, so tests can check it never shows in a message."""

    @contextlib.contextmanager
    def as_user_without_rights() -> Iterator[str]:
        iam = moto.client("iam")
        user = unique("no-rights")
        iam.create_user(UserName=user)
        key = iam.create_access_key(UserName=user)["AccessKey"]
        monkeypatch.setenv("AWS_ACCESS_KEY_ID", key["AccessKeyId"])
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", key["SecretAccessKey"])
        moto.enforce_iam(after=0)
        try:
            yield key["SecretAccessKey"]
        finally:
            moto.enforce_iam(after=float("inf"))

    return as_user_without_rights
