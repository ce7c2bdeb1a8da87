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


def test_create_private_once_keeps_the_first_content(tmp_path: Path) -> None:
    from ksef_auth.files import create_private_once

    target = tmp_path / "key"
    assert create_private_once(target, "first") is True
    assert create_private_once(target, "second") is False
    assert target.read_text() == "first"
    assert stat.S_IMODE(target.stat().st_mode) == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["key"]


def test_check_private_tightens_or_refuses(tmp_path: Path) -> None:
    from ksef_auth import ConfigError
    from ksef_auth.files import check_private

    loose = tmp_path / "loose"
    loose.write_text("x")
    loose.chmod(0o644)
    with pytest.raises(ConfigError, match="is open to other users \\(mode 644\\); chmod 600 it"):
        check_private(loose, fix=False)
    check_private(loose, fix=True)
    assert stat.S_IMODE(loose.stat().st_mode) == 0o600


def test_a_platform_secret_on_a_read_only_mount_is_read(tmp_path: Path) -> None:
    """Kubernetes secret volumes and Docker secrets are read-only mounts with mode 0644 or
    0444; a process running as their owner (root) reads them. The same file on a writable
    file system is refused."""
    import shutil
    import subprocess

    from ksef_auth import CredentialError
    from ksef_auth.files import read_credential_file

    loose = tmp_path / "writable-token"
    loose.write_text("a-secret-token")
    loose.chmod(0o644)
    with pytest.raises(CredentialError, match="open to other users"):
        read_credential_file(loose, "token file", secret=True)

    mount = tmp_path / "secrets"
    mount.mkdir()
    if (
        shutil.which("mount") is None
        or subprocess.run(
            ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
        ).returncode
    ):
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        (mount / "token").write_text("a-secret-token")
        (mount / "token").chmod(0o644)
        subprocess.run(["mount", "-o", "remount,ro", str(mount)], check=True)
        assert read_credential_file(mount / "token", "token file", secret=True) == (
            b"a-secret-token"
        )
    finally:
        subprocess.run(["umount", str(mount)], check=False)
