"""moto's server on loopback (through ksef_auth_cloud.testing, the cloud plugin's public test
helpers), an AWS environment holding only its test credentials, KMS keys made for a test, a CA."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from kms_support import LocalCa

from ksef_auth_cloud.testing import MotoServer, isolate_aws, use_test_credentials


@pytest.fixture(scope="session")
def moto() -> Iterator[MotoServer]:
    pytest.importorskip("moto.server")
    with MotoServer.running() as server:
        yield server


@pytest.fixture
def aws(moto: MotoServer, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> MotoServer:
    isolate_aws(monkeypatch, tmp_path)
    use_test_credentials(monkeypatch)
    return moto


@pytest.fixture(scope="session")
def ca() -> LocalCa:
    return LocalCa()


@pytest.fixture
def kms_key(aws: MotoServer) -> Callable[..., dict[str, Any]]:
    """``kms_key("ECC_NIST_P256")``: a new KMS key's metadata (``Arn``, ``KeyId``, ...)."""

    def create(spec: str = "ECC_NIST_P256", usage: str = "SIGN_VERIFY") -> dict[str, Any]:
        return dict(aws.client("kms").create_key(KeySpec=spec, KeyUsage=usage)["KeyMetadata"])

    return create
