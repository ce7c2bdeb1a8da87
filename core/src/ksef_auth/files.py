"""Files that hold secrets: reading credential files with clear errors, writing private files.

Every plugin that reads a key, a certificate or a token file, or writes a session, key or profile
file, goes through these two functions, so the rules live in one place: private files are
written atomically with mode 0600 in a 0700 folder, and a file that cannot be used is reported
with its path and what to do, never with its content.
"""

from __future__ import annotations

import logging
import os
import stat
import tempfile
from contextlib import suppress
from pathlib import Path

from ksef_auth.errors import ConfigError, CredentialError, NotAvailable

log = logging.getLogger("ksef_auth.files")


def read_credential_file(path: Path, what: str) -> bytes:
    """The bytes of ``path``; ``what`` names it in messages (``"certificate file"``, ...).

    Raises :class:`NotAvailable` when the file does not exist (so a chain moves on) and
    :class:`CredentialError` when it is a directory, unreadable or empty.
    """
    if not path.exists():
        raise NotAvailable(f"{what} {path} does not exist")
    if path.is_dir():
        raise CredentialError(f"{what} {path} is a directory; give the path of a file inside it")
    if not os.access(path, os.R_OK):
        raise CredentialError(
            f"{what} {path} is not readable by this user (uid {os.geteuid()}):"
            " fix its owner or permissions"
        )
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise CredentialError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if not data.strip():
        raise CredentialError(f"{what} {path} is empty")
    return data


def write_private(path: Path, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically, readable by its owner only.

    The file is created 0600 beside its target, synced, then moved into place, so readers
    never see half a file; a missing parent folder is created 0700. Raises ``OSError``.
    """
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:  # mkstemp creates the file 0600
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        Path(temp).replace(path)
    except BaseException:
        with suppress(OSError):
            Path(temp).unlink()
        raise


def create_private_once(path: Path, data: bytes | str) -> bool:
    """Create ``path`` (0600) holding ``data`` unless it exists; True when this call created it.

    Safe when several processes race: the file is written beside its target and hard-linked
    into place, so exactly one content wins and nobody reads a half-written file.
    Raises ``OSError``.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        try:
            os.link(temp, path)
        except FileExistsError:
            return False
        return True
    finally:
        with suppress(OSError):
            Path(temp).unlink()


def check_private(path: Path, *, fix: bool) -> None:
    """``path`` must belong to this user and be closed to group and others.

    With ``fix``, a file or folder of this user that is open to others is tightened (0600/0700);
    otherwise that is a :class:`ConfigError`, as is a path owned by another user.
    """
    info = path.stat()
    if info.st_uid != os.getuid():
        raise ConfigError(
            f"{path} belongs to another user (uid {info.st_uid}); use a path of your own"
        )
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        wanted = 0o700 if path.is_dir() else 0o600
        if not fix:
            raise ConfigError(f"{path} is open to other users (mode {mode:o}); chmod {wanted:o} it")
        path.chmod(wanted)
        log.info("tightened %s from mode %o to %o", path, mode, wanted)
