from __future__ import annotations

import stat
from pathlib import Path

import pytest

from ksef_auth import CredentialError, NotAvailable
from ksef_auth.files import read_credential_file, write_private


def test_write_private_is_0600_in_a_0700_folder_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "new" / "secret.bin"
    write_private(target, b"one")
    write_private(target, "two")
    assert target.read_text() == "two"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
    assert [p.name for p in target.parent.iterdir()] == ["secret.bin"]  # no temp file left


def test_read_credential_file_reports_each_problem(tmp_path: Path) -> None:
    with pytest.raises(NotAvailable, match="key file .*absent does not exist"):
        read_credential_file(tmp_path / "absent", "key file")
    with pytest.raises(CredentialError, match="is a directory"):
        read_credential_file(tmp_path, "key file")
    empty = tmp_path / "empty"
    empty.write_bytes(b" \n")
    with pytest.raises(CredentialError, match="is empty"):
        read_credential_file(empty, "key file")
    full = tmp_path / "full"
    full.write_bytes(b"data")
    assert read_credential_file(full, "key file") == b"data"
