"""ksef-auth-file: an encrypted session store in files, shared by the processes of one machine.

One file per session in a private directory (0700), each file 0600, written to a temporary file
and renamed into place so a reader never sees half of one. The file name is the SHA-256 of the
store key, and the content is sealed with AES-256-GCM (:mod:`ksef_auth.sealing`). Logins and
refreshes of one session are serialized across processes with ``fcntl.flock`` on a per-session
lock file. POSIX only (Linux, macOS, BSD): on Windows use the ``redis`` or ``memory`` store.

The encryption key is, in order: the ``key`` option, the ``KSEF_AUTH_STORE_KEY`` environment
variable, or a key generated once into ``store.key`` beside the sessions directory (0600). That last
default protects a copy of the sessions directory alone, not a user who can read both.
"""

from __future__ import annotations

import hashlib
import logging
import os
import struct
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import attrs

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    Environment,
    Register,
    SecretRef,
    SessionTokens,
    StoreError,
    hookimpl,
)
from ksef_auth.files import check_private, create_private_once, write_private
from ksef_auth.sealing import UnsealError, generate_key, parse_keys, seal, unseal

__all__ = ["KEY_ENV", "FileStore", "default_path"]

log = logging.getLogger("ksef_auth.store.file")

KEY_ENV = "KSEF_AUTH_STORE_KEY"
KEY_FILE = "store.key"
_MAGIC = b"KSAF"
_HINT = struct.Struct(">Q")  # the session's last expiry (unix seconds), only to prune old files
_PRUNE_EVERY = 3600.0
_PRUNE_GRACE = 3600.0


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


@attrs.define
class FileStore:
    """Encrypted session files on this machine, shared by its processes (POSIX)."""

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
            f" separated. Default: ${KEY_ENV} if set, else a key generated into"
            f" {KEY_FILE} beside the directory.",
        },
    )
    _keys: list[bytes] | None = attrs.field(init=False, default=None, repr=False)
    _mutex: threading.Lock = attrs.field(init=False, factory=threading.Lock, repr=False)
    _pruned_at: float = attrs.field(init=False, default=0.0, repr=False)

    # --- the SessionStore protocol -------------------------------------------------------------

    def get(self, key: str) -> SessionTokens | None:
        file = self._file(key)
        try:
            data = file.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise StoreError(f"cannot read session file {file}: {exc.strerror}") from None
        if not data.startswith(_MAGIC) or len(data) < len(_MAGIC) + _HINT.size:
            log.warning("session file %s is not a ksef-auth session; ignoring it", file)
            return None
        try:
            tokens = unseal(data[len(_MAGIC) + _HINT.size :], key, self._key_list())
        except UnsealError as exc:
            log.warning("%s (file %s)", exc, file)
            return None
        if _expiry(tokens) <= time.time():
            return None
        return tokens

    def put(self, key: str, tokens: SessionTokens) -> None:
        directory = self._directory()
        expiry = _expiry(tokens)
        blob = _MAGIC + _HINT.pack(max(0, int(expiry))) + seal(tokens, key, self._key_list())
        _write_private(directory / self._name(key), blob)
        self._maybe_prune(directory)

    def delete(self, key: str) -> None:
        file = self._file(key)
        try:
            file.unlink()
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise StoreError(f"cannot delete session file {file}: {exc.strerror}") from None

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        """An exclusive ``flock`` on ``<name>.lock``, polled until ``timeout`` runs out."""
        import fcntl

        lock_path = self._directory() / (self._name(key) + ".lock")
        try:
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            raise StoreError(f"cannot open lock file {lock_path}: {exc.strerror}") from None
        try:
            held = _flock(fd, timeout, lock_path)
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    # --- optional check at strategy load -------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Platform, directory ownership and the key, without creating anything."""
        if os.name != "posix":
            raise ConfigError(
                f"the file session store needs POSIX file locks; on {sys.platform} use the"
                ' "redis" or "memory" store'
            )
        for path in (self.path, self.path.parent / KEY_FILE):
            if path.exists():
                check_private(path, fix=False)
        if self.key is not None:
            parse_keys(self.key.get())
        elif KEY_ENV in os.environ:
            _keys_from_env()
        elif (self.path.parent / KEY_FILE).exists():
            _read_key_file(self.path.parent / KEY_FILE)

    # --- internals -----------------------------------------------------------------------------

    @staticmethod
    def _name(key: str) -> str:
        return hashlib.sha256(key.encode("utf-8")).hexdigest()

    def _file(self, key: str) -> Path:
        return self.path / self._name(key)

    def _directory(self) -> Path:
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
        return self.path

    def _key_list(self) -> list[bytes]:
        if self._keys is None:
            with self._mutex:
                if self._keys is None:
                    try:
                        self._keys = self._load_keys()
                    except ConfigError as exc:
                        raise StoreError(f"file session store: {exc}") from None
        return self._keys

    def _load_keys(self) -> list[bytes]:
        if self.key is not None:
            return parse_keys(self.key.get())
        if KEY_ENV in os.environ:
            return _keys_from_env()
        key_file = self.path.parent / KEY_FILE
        if not key_file.exists():
            self.path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _create_key_file(key_file)
        return _read_key_file(key_file)

    def _maybe_prune(self, directory: Path) -> None:
        """Remove session files whose every token expired over an hour ago (at most hourly)."""
        now = time.time()
        if now - self._pruned_at < _PRUNE_EVERY:
            return
        self._pruned_at = now
        for file in directory.iterdir():
            if len(file.name) != 64 or "." in file.name:
                continue
            try:
                with file.open("rb") as handle:
                    head = handle.read(len(_MAGIC) + _HINT.size)
                if not head.startswith(_MAGIC) or len(head) < len(_MAGIC) + _HINT.size:
                    continue
                (expiry,) = _HINT.unpack(head[len(_MAGIC) :])
                # a file rewritten since (fresh mtime) is someone's new session: keep it
                if expiry < now - _PRUNE_GRACE and file.stat().st_mtime < now - _PRUNE_GRACE:
                    file.unlink()
            except OSError:
                continue

    def __repr__(self) -> str:
        key = "default" if self.key is None else self.key.describe()
        return f"FileStore(path={str(self.path)!r}, key={key!r})"


def _flock(fd: int, timeout: float, lock_path: Path) -> bool:
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


def _write_private(target: Path, data: bytes) -> None:
    try:
        write_private(target, data)
    except OSError as exc:
        raise StoreError(f"cannot write session file {target}: {exc.strerror}") from None


def _keys_from_env() -> list[bytes]:
    try:
        return parse_keys(os.environ[KEY_ENV])
    except ConfigError as exc:
        raise ConfigError(f"environment variable {KEY_ENV}: {exc}") from None


def _create_key_file(key_file: Path) -> None:
    """Generate a key into ``key_file`` unless another process just did."""
    if create_private_once(key_file, generate_key() + "\n"):
        log.info("generated the session encryption key %s", key_file)


def _read_key_file(key_file: Path) -> list[bytes]:
    check_private(key_file, fix=False)
    try:
        return parse_keys(key_file.read_text(encoding="ascii"))
    except ConfigError as exc:
        raise ConfigError(f"key file {key_file}: {exc}") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read key file {key_file}: {exc}") from None


@hookimpl
def ksef_auth_register_session_stores(register: Register) -> None:
    register("file", FileStore)
