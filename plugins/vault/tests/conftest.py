from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ksef_auth.sealing import generate_key


@pytest.fixture(autouse=True)
def _clean_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No test sees the developer's vault key or vault path."""
    monkeypatch.delenv("KSEF_AUTH_VAULT_KEY", raising=False)
    monkeypatch.delenv("KSEF_AUTH_VAULT_PATH", raising=False)
    yield


@pytest.fixture
def vault_path(tmp_path: Path) -> Path:
    return tmp_path / "secrets" / "vault.json"


@pytest.fixture
def key() -> str:
    return generate_key()
