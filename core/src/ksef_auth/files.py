"""Files: reading credential files with clear errors, writing private files, reading
configuration text.

Every plugin that reads a key, a certificate or a token file, or writes a session, key or profile
file, goes through these functions, so the rules live in one place: private files are written
atomically with mode 0600 in a 0700 folder, a secret file that other users may read is refused,
and a file that cannot be used is reported with its path and what to do, never with its content.

::

    data = read_credential_file(Path("key.pem"), "key file", secret=True)
    write_private(Path("state/session"), blob)          # 0600, atomic, parent folder 0700
    created = create_private_once(Path("store.key"), generate_key())
    check_private(Path("sessions"), fix=True)           # tighten a folder of this user
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

MAX_CONFIG_BYTES = 16 * 1024 * 1024
"""The largest strategy or contexts file read (a list of 100,000 NIPs is about 1.2 MB)."""


def read_credential_file(path: Path, what: str, *, secret: bool = False) -> bytes:
    """The bytes of ``path``; ``what`` names it in messages (``"certificate file"``, ...).

    Raises :class:`NotAvailable` when the file does not exist (so a chain moves on) and
    :class:`CredentialError` when it is a directory, unreadable or empty. With ``secret`` (the
    file holds a token, a private key or a PKCS#12 file) a file of this user that its group or
    others may read is a :class:`CredentialError` too (see :func:`check_secret_file`).
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
        with path.open("rb") as handle:
            if secret:
                check_secret_file(path, what, os.fstat(handle.fileno()))
            data = handle.read()
    except OSError as exc:
        raise CredentialError(f"{what} {path} cannot be read: {exc.strerror}") from None
    if not data.strip():
        raise CredentialError(f"{what} {path} is empty")
    return data


def check_secret_file(path: Path, what: str, info: os.stat_result | None = None) -> None:
    """Refuse a secret file of this user that its group or others may read.

    Raises :class:`CredentialError` (not :class:`NotAvailable`: a chain must not move on past
    a leaked secret) naming the file, its mode and the ``chmod`` that fixes it. A file that
    belongs to another user (a secret a platform mounts, owned by root) is that user's to
    protect, as ``ssh`` does for keys; so is a file on a read-only mount (a Kubernetes secret
    volume, a Docker or compose secret: the platform chose its mode, and a process running as
    root would otherwise refuse its own platform's secrets). ``info`` is the file's ``stat``
    when already taken.
    """
    info = info if info is not None else path.stat()
    mode = stat.S_IMODE(info.st_mode)
    if info.st_uid == os.geteuid() and mode & 0o077 and not _read_only_mount(path):
        raise CredentialError(
            f"{what} {path} holds a secret but is open to other users (mode {mode:o}):"
            f" chmod 600 {path}"
        )


def _read_only_mount(path: Path) -> bool:
    try:
        return bool(os.statvfs(path).f_flag & os.ST_RDONLY)
    except (OSError, AttributeError):
        return False


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


def read_config_file(path: Path, what: str = "strategy file") -> str:
    """The text of a configuration file (a strategy or contexts file): UTF-8 (a byte-order mark
    is allowed), at most :data:`MAX_CONFIG_BYTES`. Raises :class:`ConfigError` naming the file
    and what to do when it is missing, a folder, too large or in another encoding."""
    source = str(path)
    try:
        size = path.stat().st_size
        if path.is_dir():
            raise ConfigError(f"is a directory, not a {what}", source=source)
        if size > MAX_CONFIG_BYTES:
            raise ConfigError(
                f"is {size / 1e6:.1f} MB; a {what} may be at most {MAX_CONFIG_BYTES / 1e6:.0f} MB",
                source=source,
            )
        with path.open("rb") as handle:
            data = handle.read(MAX_CONFIG_BYTES + 1)
    except FileNotFoundError:
        raise ConfigError(f"{what} not found", source=source) from None
    except OSError as exc:
        raise ConfigError(f"cannot read the {what}: {exc.strerror}", source=source) from None
    if data[:2] in (b"\xff\xfe", b"\xfe\xff") or (len(data) > 1 and b"\x00" in data[:64]):
        raise ConfigError(
            f"is UTF-16 text; save the {what} as UTF-8 (without a byte-order mark is best)",
            source=source,
        )
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ConfigError(
            f"is not UTF-8 text (byte 0x{data[exc.start]:02x} on line {line}; a latin-1 or"
            f" Windows-1250 file?): save the {what} as UTF-8",
            source=source,
        ) from None
