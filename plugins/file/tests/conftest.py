"""Every test gets its own user state directory (where generated keys go) and no store key
from the environment."""

from __future__ import annotations

from pathlib import Path

import pytest

from ksef_auth.store_keys import KEY_ENV


@pytest.fixture(autouse=True)
def state_home(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path_factory.mktemp("state-home")
    monkeypatch.setenv("XDG_STATE_HOME", str(home))
    monkeypatch.delenv(KEY_ENV, raising=False)
    return home


@pytest.fixture
def state_key(state_home: Path) -> Path:
    """Where the file store generates its default key."""
    from ksef_auth.store_keys import default_key_file

    return default_key_file()
