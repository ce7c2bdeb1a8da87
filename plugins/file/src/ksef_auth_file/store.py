"""``FileStore``: one sealed file per session in a private directory, flock between processes."""

from __future__ import annotations

import logging
import os
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import TYPE_CHECKING, ClassVar

import attrs

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    Environment,
    SecretRef,
    SessionTokens,
    StoreError,
)
from ksef_auth.files import check_private, write_private
from ksef_auth.sealing import KeyRing, UnsealError, entry_name
from ksef_auth.store_keys import KEY_ENV, KEY_FILE_NAME, RekeyReport, StoreKeys, default_key_file

if TYPE_CHECKING:
    from ksef_auth_file.limiter import FileRateLimiter

log = logging.getLogger("ksef_auth.store.file")

_MAGIC = b"KSAF"
_HINT = struct.Struct(">Q")  # the session's last expiry (unix seconds), only to prune old files
_HEAD = len(_MAGIC) + _HINT.size
_PRUNE_EVERY = 3600.0
_PRUNE_GRACE = 3600.0
_PRUNE_MARK = ".pruned"
_DECODED_MAX = 4096


def default_path() -> Path:
    """``platformdirs.user_state_dir("ksef-auth")/sessions``, e.g.
    ``~/.local/state/ksef-auth/sessions`` on Linux."""
    import platformdirs

    return Path(platformdirs.user_state_dir("ksef-auth")) / "sessions"


def _expiry(tokens: SessionTokens) -> float:
    last = tokens.refresh_token or tokens.access_token
    return max(last.valid_until.timestamp(), tokens.access_token.valid_until.timestamp())


def _to_path(value: str | os.PathLike[str] | None) -> Path:
    return default_path() if value is None or value == "" else Path(value).expanduser()


def _is_entry(name: str) -> bool:
    return len(name) == 64 and all(c in "0123456789abcdef" for c in name)


@attrs.define
class FileStore:
    """Encrypted session files on this machine, shared by its processes (POSIX)."""

    leaves_process: ClassVar[bool] = True

    path: Path = attrs.field(
        default=None,
        converter=_to_path,
        metadata={
            "path": True,
            "help": "Directory of the session files (created 0700); relative to the strategy"
            " file. Default: the user state directory, e.g. ~/.local/state/ksef-auth/sessions.",
        },
    )
    key: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "Encryption key(s), 32 bytes in url-safe base64, newest first, comma"
            f" separated. Default: ${KEY_ENV} if set, else a key generated into {KEY_FILE_NAME}"
            " in the user state directory (e.g. ~/.local/state/ksef-auth/store.key).",
        },
    )
    _ring: KeyRing | None = attrs.field(init=False, default=None, repr=False)
    _directory_ok: bool = attrs.field(init=False, default=False, repr=False)
    _mutex: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _pruning: threading.Thread | None = attrs.field(init=False, default=None, repr=False)
    _pruned_at: float = attrs.field(init=False, default=0.0, repr=False)
    _limiter: FileRateLimiter | None = attrs.field(init=False, default=None, repr=False)
    # the last file content read per key and what it decoded to: an unchanged file (most reads)
    # is neither decrypted nor parsed again
    _decoded: dict[str, tuple[bytes, SessionTokens]] = attrs.field(
        init=False, factory=dict, repr=False
    )

    # --- the SessionStore protocol -------------------------------------------------------------

    def get(self, key: str) -> SessionTokens | None:
        file = f"{self.path}/{entry_name(key)}"
        try:
            with open(file, "rb") as handle:
                data = handle.read()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read session file {file}: {exc.strerror}") from None
        seen = self._decoded.get(key)
        if seen is not None and seen[0] == data:
            tokens = seen[1]  # the very bytes already opened and authenticated here
        else:
            if data[:4] != _MAGIC or len(data) < _HEAD:
                log.warning("session file %s is not a ksef-auth session; ignoring it", file)
                return None
            try:
                tokens = self.key_ring().unseal(data[_HEAD:], key)
            except UnsealError as exc:
                log.warning("%s (file %s)", exc, file)
                return None
            if len(self._decoded) >= _DECODED_MAX:
                self._decoded.clear()
            self._decoded[key] = (data, tokens)
        if _expiry(tokens) <= time.time():
            return None
        return tokens

    def put(self, key: str, tokens: SessionTokens) -> None:
        directory = self._directory()
        blob = self.key_ring().seal(tokens, key)
        self._write(directory / entry_name(key), _expiry(tokens), blob)
        self._maybe_prune(directory)

    def delete(self, key: str) -> None:
        self._decoded.pop(key, None)
        file = self.path / entry_name(key)
        try:
            file.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot delete session file {file}: {exc.strerror}") from None

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        """An exclusive ``flock`` on ``<name>.lock``, polled until ``timeout`` runs out. The
        kernel drops it when its holder exits or dies."""
        with self._flock(entry_name(key), timeout) as held:
            yield held

    # --- optional members ----------------------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Platform, directory ownership and the key, without creating anything."""
        if os.name != "posix":
            raise ConfigError(
                f"the file session store needs POSIX file locks; on {sys.platform} use the"
                ' "redis" or "memory" store'
            )
        if self.path.exists():
            check_private(self.path, fix=False)
        self._keys().check()

    def rate_limiter(self) -> FileRateLimiter:
        """A rate limiter shared by every process of this machine that uses this directory
        (its state under ``flock`` in ``<path>/rate-limits``)."""
        if self._limiter is None:
            from ksef_auth_file.limiter import FileRateLimiter

            with self._mutex:
                if self._limiter is None:
                    self._limiter = FileRateLimiter(self.path / "rate-limits")
        return self._limiter

    def key_ring(self) -> KeyRing:
        """The encryption keys (read, or generated, once). Raises :class:`StoreError`."""
        ring = self._ring
        if ring is None:
            with self._mutex:
                if self._ring is None:
                    try:
                        self._ring = self._keys().ring()
                    except ConfigError as exc:
                        raise StoreError(f"file session store: {exc}") from None
                ring = self._ring
        return ring

    def key_origin(self) -> str:
        """Where this store's keys come from (an option, the variable, a key file)."""
        return self._keys().origin()

    def rekey(self, *, lock_timeout: float = 10.0) -> RekeyReport:
        """Seal every session file again with the newest key, in place, under each session's
        lock (a process refreshing it at that moment is waited for). Nobody is logged out:
        once it returns with nothing left over, older keys can be dropped."""
        report = RekeyReport(store=f"file store {self.path}")
        if not self.path.is_dir():
            return report
        ring = self.key_ring()
        for file in sorted(self.path.iterdir()):
            if not _is_entry(file.name):
                continue
            with self._flock(file.name, lock_timeout) as held:
                if not held:
                    report.failed(file.name, "its lock stayed taken; run rekey again")
                    continue
                self._rekey_one(file, ring, report)
        return report

    # --- internals -----------------------------------------------------------------------------

    def _keys(self) -> StoreKeys:
        # A key generated by ksef-auth-file 0.1 beside the directory is still used; a new one
        # goes to the user state directory, never beside an application's relative path.
        legacy = self.path.parent / KEY_FILE_NAME
        return StoreKeys("file", self.key, legacy if legacy.exists() else default_key_file())

    def _rekey_one(self, file: Path, ring: KeyRing, report: RekeyReport) -> None:
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return  # deleted meanwhile (a logout, pruning)
        except OSError as exc:
            report.failed(file.name, f"cannot read it: {exc.strerror}")
            return
        if data[:4] != _MAGIC or len(data) < _HEAD:
            report.failed(file.name, "not a ksef-auth session file")
            return
        try:
            blob = ring.reseal(data[_HEAD:], file.name)
        except UnsealError as exc:
            report.failed(file.name, str(exc))
            return
        if blob is None:
            report.current += 1
            return
        (expiry,) = _HINT.unpack(data[len(_MAGIC) : _HEAD])
        self._write(file, float(expiry), blob)
        report.resealed += 1

    def _write(self, target: Path, expiry: float, blob: bytes) -> None:
        try:
            write_private(target, _MAGIC + _HINT.pack(max(0, int(expiry))) + blob)
        except OSError as exc:
            raise StoreError(f"cannot write session file {target}: {exc.strerror}") from None

    @contextmanager
    def _flock(self, name: str, timeout: float) -> Iterator[bool]:
        import fcntl

        lock_path = self._directory() / (name + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except FileNotFoundError:  # the directory was removed since: make it again
            self._directory_ok = False
            lock_path = self._directory() / (name + ".lock")
            fd = _open_lock(lock_path)
        except OSError as exc:
            raise StoreError(f"cannot open lock file {lock_path}: {exc.strerror}") from None
        try:
            held = _wait_for_flock(fd, timeout, lock_path)
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def _directory(self) -> Path:
        if self._directory_ok:
            return self.path
        try:
            self.path.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(
                f"cannot create the session directory {self.path}: {exc.strerror}"
            ) from None
        try:
            check_private(self.path, fix=True)
        except ConfigError as exc:
            raise StoreError(str(exc)) from None
        self._directory_ok = True
        return self.path

    def _maybe_prune(self, directory: Path) -> None:
        """Start pruning in the background (at most hourly, machine-wide), never in the caller:
        ``put`` runs under the session's lock."""
        now = time.time()
        if now - self._pruned_at < _PRUNE_EVERY:
            return
        with self._mutex:
            if now - self._pruned_at < _PRUNE_EVERY:
                return
            self._pruned_at = now
            mark = directory / _PRUNE_MARK
            try:
                if now - mark.stat().st_mtime < _PRUNE_EVERY:
                    return  # another process pruned within the hour
            except FileNotFoundError:
                pass
            except OSError:
                return
            with suppress(OSError):
                mark.touch(mode=0o600)
            self._pruning = threading.Thread(
                target=_prune, args=(directory, now), name="ksef-auth-file-prune", daemon=True
            )
            self._pruning.start()

    def __repr__(self) -> str:
        key = "default" if self.key is None else self.key.describe()
        return f"FileStore(path={str(self.path)!r}, key={key!r})"


def _prune(directory: Path, now: float) -> None:
    """Remove session files whose every token expired over an hour ago."""
    try:
        files = list(directory.iterdir())
    except OSError:
        return
    removed = 0
    for file in files:
        if not _is_entry(file.name):
            continue
        try:
            with file.open("rb") as handle:
                head = handle.read(_HEAD)
                # the file still at this path (not replaced since we opened it) is the one read
                written = os.fstat(handle.fileno()).st_mtime
            if head[:4] != _MAGIC or len(head) < _HEAD:
                continue
            (expiry,) = _HINT.unpack(head[len(_MAGIC) :])
            # a file rewritten since (fresh mtime) is someone's new session: keep it
            old = expiry < now - _PRUNE_GRACE and written < now - _PRUNE_GRACE
            if old and file.stat().st_mtime == written:
                file.unlink()
                removed += 1
        except OSError:
            continue
    if removed:
        log.info("pruned %d expired session file(s) from %s", removed, directory)


def _open_lock(lock_path: Path) -> int:
    try:
        return os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
    except OSError as exc:
        raise StoreError(f"cannot open lock file {lock_path}: {exc.strerror}") from None


def _wait_for_flock(fd: int, timeout: float, lock_path: Path) -> bool:
    import fcntl

    deadline = time.monotonic() + max(0.0, timeout)
    pause = 0.005
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot lock {lock_path}: {exc.strerror}") from None
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(pause, remaining))
        pause = min(pause * 2, 0.05)
