"""What the kit's own tests run it against: a session store, a credential source and a signer
written as a third-party author would (an SQLite store, a directory of token files, a KSeF token
signer), each with its kit fixtures, and deliberately broken variants of each, every one broken
in one way the kit must catch.

(No tests here: ``test_kit.py`` runs the kit on these.)
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import attrs
import pytest

from ksef_auth import CredentialError, CredentialRequest, KsefToken, NotAvailable, SecretRef
from ksef_auth.files import read_credential_file
from ksef_auth.model import SessionTokens, SignRequest, Submission
from ksef_auth.sealing import UnsealError, generate_key, parse_keys, seal, unseal
from ksef_auth.testing import (
    NIPS,
    CredentialSourceContract,
    RawStorage,
    SessionStoreContract,
    SignerContract,
)

log = logging.getLogger("kit_plugins")

# --- a good session store ----------------------------------------------------------------------


def last_expiry(tokens: SessionTokens) -> float:
    """When the session's last token expires (the refresh token's end, when it has one)."""
    ends = [tokens.access_token.valid_until.timestamp()]
    if tokens.refresh_token is not None:
        ends.append(tokens.refresh_token.valid_until.timestamp())
    return max(ends)


@attrs.define
class SqliteStore:
    """Sessions sealed in an SQLite file; a ``flock`` per key serializes logins across
    processes (it ends with its holder)."""

    leaves_process: ClassVar[bool] = True

    path: str
    key: SecretRef

    def _db(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        db.execute("CREATE TABLE IF NOT EXISTS sessions (k TEXT PRIMARY KEY, v BLOB)")
        return db

    def _keys(self) -> list[bytes]:
        return parse_keys(self.key.get())

    def encode(self, key: str, tokens: SessionTokens) -> bytes:
        return seal(tokens, key, self._keys())

    def decode(self, key: str, blob: bytes) -> SessionTokens | None:
        try:
            return unseal(blob, key, self._keys())
        except UnsealError as exc:
            log.warning("%s", exc)
            return None

    def get(self, key: str) -> SessionTokens | None:
        db = self._db()
        try:
            row = db.execute("SELECT v FROM sessions WHERE k = ?", (key,)).fetchone()
        finally:
            db.close()
        tokens = self.decode(key, bytes(row[0])) if row else None
        if tokens is None or last_expiry(tokens) <= time.time():
            return None
        return tokens

    def put(self, key: str, tokens: SessionTokens) -> None:
        db = self._db()
        try:
            db.execute("REPLACE INTO sessions VALUES (?, ?)", (key, self.encode(key, tokens)))
        finally:
            db.close()

    def delete(self, key: str) -> None:
        db = self._db()
        try:
            db.execute("DELETE FROM sessions WHERE k = ?", (key,))
        finally:
            db.close()

    def lock_path(self, key: str) -> str:
        return f"{self.path}.{hashlib.sha256(key.encode()).hexdigest()[:16]}.lock"

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        fd = os.open(self.lock_path(key), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            held = _flock(fd, timeout)
            try:
                yield held
            finally:
                if held:
                    fcntl.flock(fd, fcntl.LOCK_UN)
        finally:
            os.close(fd)

    def __repr__(self) -> str:
        return f"SqliteStore({self.path!r})"


def _flock(fd: int, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)


class SqliteStoreKit(SessionStoreContract):
    """The kit's fixtures for an SQLite store class (``store_class``)."""

    store_class: ClassVar[type[SqliteStore]] = SqliteStore

    @pytest.fixture
    def store_factory(self, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[[], Any]:
        monkeypatch.setenv("KIT_SQLITE_KEY", generate_key())
        return partial(
            self.store_class,
            path=str(tmp_path / "sessions.db"),
            key=SecretRef.env("KIT_SQLITE_KEY"),
        )

    @pytest.fixture
    def store(self, store_factory: Callable[[], Any]) -> Any:
        return store_factory()

    @pytest.fixture
    def raw_storage(self, tmp_path: Path) -> RawStorage:
        path = tmp_path / "sessions.db"

        def read(key: str) -> bytes | None:
            with sqlite3.connect(path) as db:
                row = db.execute("SELECT v FROM sessions WHERE k = ?", (key,)).fetchone()
            return bytes(row[0]) if row else None

        def write(key: str, data: bytes) -> None:
            with sqlite3.connect(path) as db:
                db.execute("REPLACE INTO sessions VALUES (?, ?)", (key, data))

        return RawStorage(read=read, write=write, dump=lambda: path.read_bytes())

    @pytest.fixture
    def dead_holder_timeout(self) -> float:
        return 3.0


# --- broken session stores: each fails one rule ------------------------------------------------

_THREAD_LOCKS: dict[str, threading.Lock] = {}


class OneProcessLockStore(SqliteStore):
    """Its lock is a ``threading.Lock``: it works inside one process only."""

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        lock = _THREAD_LOCKS.setdefault(key, threading.Lock())
        held = lock.acquire(timeout=timeout)
        try:
            yield held
        finally:
            if held:
                lock.release()


class _LockFileStore(SqliteStore):
    """A lock file created with O_EXCL (what many authors write first)."""

    def stale(self, path: str) -> bool:
        return False

    def take(self, key: str, timeout: float) -> bool:
        path = self.lock_path(key)
        deadline = time.monotonic() + timeout
        while True:
            try:
                os.close(os.open(path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600))
                return True
            except FileExistsError:
                if self.stale(path):
                    Path(path).unlink()
                    continue
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.01)

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        held = self.take(key, timeout)
        try:
            yield held
        finally:
            if held:
                Path(self.lock_path(key)).unlink()


class NeverFreedLockStore(_LockFileStore):
    """A killed holder's lock file stays forever: every later login waits it out."""


class StealingLockStore(_LockFileStore):
    """Takes a lock held for over half a second, taking it for a crashed holder's."""

    def stale(self, path: str) -> bool:
        try:
            return time.time() - Path(path).stat().st_mtime > 0.5
        except FileNotFoundError:
            return False


class WaiterReleasesStore(_LockFileStore):
    """Removes the lock file on the way out even when it never held the lock."""

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        held = self.take(key, timeout)
        try:
            yield held
        finally:
            try:
                Path(self.lock_path(key)).unlink()
            except FileNotFoundError:
                pass


class KeepsLockOnRaiseStore(SqliteStore):
    """Releases the lock only when the holder's code returns, not when it raises."""

    @contextmanager
    def lock(self, key: str, timeout: float) -> Iterator[bool]:
        fd = os.open(self.lock_path(key), os.O_RDWR | os.O_CREAT, 0o600)
        held = _flock(fd, timeout)
        yield held
        if held:
            fcntl.flock(fd, fcntl.LOCK_UN)
        os.close(fd)


class AccessExpiryStore(SqliteStore):
    """Drops a session when its access token expires, though its refresh token lives on."""

    def get(self, key: str) -> SessionTokens | None:
        tokens = super().get(key)
        if tokens is not None and tokens.access_token.valid_until.timestamp() <= time.time():
            return None
        return tokens


class ReturnsExpiredStore(SqliteStore):
    """Returns entries whose every token has expired ("the caller checks")."""

    def get(self, key: str) -> SessionTokens | None:
        db = self._db()
        try:
            row = db.execute("SELECT v FROM sessions WHERE k = ?", (key,)).fetchone()
        finally:
            db.close()
        return self.decode(key, bytes(row[0])) if row else None


class PlaintextStore(SqliteStore):
    """Leaves the process but keeps sessions as clear JSON."""

    def encode(self, key: str, tokens: SessionTokens) -> bytes:
        return json.dumps({"key": key, "session": tokens.to_dict()}).encode()

    def decode(self, key: str, blob: bytes) -> SessionTokens | None:
        try:
            data = json.loads(blob)
            return SessionTokens.from_dict(data["session"]) if data["key"] == key else None
        except (ValueError, KeyError, TypeError):
            return None


class CorruptRaisesStore(SqliteStore):
    """Lets a damaged entry's error escape from ``get``."""

    def decode(self, key: str, blob: bytes) -> SessionTokens | None:
        return unseal(blob, key, self._keys())


class UnboundEntriesStore(SqliteStore):
    """Seals entries without binding them to their key: an entry copied to another key opens."""

    def encode(self, key: str, tokens: SessionTokens) -> bytes:
        return seal(tokens, "", self._keys())

    def decode(self, key: str, blob: bytes) -> SessionTokens | None:
        try:
            return unseal(blob, "", self._keys())
        except UnsealError:
            return None


# --- a good credential source -------------------------------------------------------------------


@attrs.frozen
class TokenDirectory:
    """One KSeF token file per client in a directory: ``DIR/5261040828.token``."""

    directory: Path = attrs.field(converter=Path)
    pattern: str = "{nip}.token"

    def load(self, request: CredentialRequest) -> KsefToken:
        path = self.directory / request.fill(self.pattern)
        return KsefToken(self.token_in(path, self.read(path)), source=f"token-directory:{path}")

    def read(self, path: Path) -> bytes:
        return read_credential_file(path, "token file", secret=True)

    def token_in(self, path: Path, data: bytes) -> str:
        try:
            text = data.decode("utf-8").strip()
        except UnicodeDecodeError:
            raise CredentialError(f"token file {path} is not UTF-8 text") from None
        if not text or any(c.isspace() or not c.isprintable() for c in text):
            raise CredentialError(
                f"token file {path} does not hold one token (it has spaces or control"
                " characters): put the KSeF token alone in it"
            )
        return text


TOKEN = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5261040828|" + "5eed" * 16


class TokenDirectoryKit(CredentialSourceContract):
    """The kit's fixtures for a token directory class (``source_class``)."""

    source_class: ClassVar[type[TokenDirectory]] = TokenDirectory

    @pytest.fixture
    def tokens(self, tmp_path: Path) -> Path:
        directory = tmp_path / "tokens"
        directory.mkdir()
        for n, nip in enumerate(NIPS[:2]):
            path = directory / f"{nip}.token"
            path.write_text(f"{TOKEN}-{n}\n")
            path.chmod(0o600)
        return directory

    @pytest.fixture
    def source(self, tokens: Path) -> Any:
        return self.source_class(tokens)

    @pytest.fixture
    def unavailable_source(self, tmp_path: Path) -> Any:
        return self.source_class(tmp_path / "nothing-here")

    @pytest.fixture
    def secret_files(self, tokens: Path) -> list[Path]:
        return [tokens / f"{NIPS[0]}.token"]

    @pytest.fixture
    def rotate(self, tokens: Path) -> Callable[[], None]:
        return lambda: (tokens / f"{NIPS[0]}.token").write_text(TOKEN[::-1])

    @pytest.fixture
    def keyed_source(self, tokens: Path) -> Any:
        return self.source_class(tokens)

    @pytest.fixture
    def failing_sources(self, tmp_path: Path) -> dict[str, Any]:
        spaced = tmp_path / "spaced"
        spaced.mkdir()
        (spaced / f"{NIPS[0]}.token").write_text(f"{TOKEN} {TOKEN}\n")
        (spaced / f"{NIPS[0]}.token").chmod(0o600)
        return {"two tokens in one file": self.source_class(spaced)}


# --- broken credential sources: each fails one rule ---------------------------------------------


class OpenFileNotAvailable(TokenDirectory):
    """Treats a token file that others may read as "not available": the chain moves on."""

    def read(self, path: Path) -> bytes:
        try:
            return super().read(path)
        except NotAvailable:
            raise
        except CredentialError as exc:
            raise NotAvailable(str(exc)) from None


class NoPermissionCheck(TokenDirectory):
    """Reads token files whoever else may read them."""

    def read(self, path: Path) -> bytes:
        return read_credential_file(path, "token file")


class TokenInMessage(TokenDirectory):
    """Quotes what it read when it is not a token."""

    def token_in(self, path: Path, data: bytes) -> str:
        try:
            return super().token_in(path, data)
        except CredentialError:
            raise CredentialError(f"token file {path} holds {data.decode('latin-1')!r}") from None


class UntypedErrors(TokenDirectory):
    """Lets a decoding error escape untyped."""

    def token_in(self, path: Path, data: bytes) -> str:
        return super().token_in(path, data.decode("utf-8").encode())


_CACHE: dict[str, KsefToken] = {}


class CachesForever(TokenDirectory):
    """Reads each file once and keeps the token: a rotated file changes nothing."""

    def load(self, request: CredentialRequest) -> KsefToken:
        path = str(self.directory / request.fill(self.pattern))
        if path not in _CACHE:
            _CACHE[path] = super().load(request)
        return _CACHE[path]


class RemembersContext(TokenDirectory):
    """Remembers the first context it served and hands every later one its token."""

    _first: dict[int, KsefToken] = {}  # noqa: RUF012 (deliberately shared: the bug)

    def load(self, request: CredentialRequest) -> KsefToken:
        if id(self) not in self._first:
            self._first[id(self)] = super().load(request)
        return self._first[id(self)]


# --- a good signer --------------------------------------------------------------------------------


class TokenSigner:
    """KSeF 2.0's token login: ``token|timestampMs`` encrypted with RSA-OAEP (SHA-256) under
    KSeF's ``KsefTokenEncryption`` key (what a third-party signer does for its own scheme)."""

    method = "kit-token"
    challenge_path = "/auth/challenge"

    def encrypt(self, request: SignRequest) -> str:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import padding

        key = next(k for k in request.public_keys if "KsefTokenEncryption" in k.usage)
        public = x509.load_der_x509_certificate(key.certificate).public_key()
        plain = f"{request.credential.token.reveal()}|{request.challenge.timestamp_ms}".encode()
        oaep = padding.OAEP(padding.MGF1(hashes.SHA256()), hashes.SHA256(), None)
        return base64.b64encode(public.encrypt(plain, oaep)).decode()  # type: ignore[union-attr]

    def sign(self, request: SignRequest) -> Submission:
        body = {
            "challenge": request.challenge.challenge,
            "contextIdentifier": {"type": request.context.type, "value": request.context.value},
            "encryptedToken": self.encrypt(request),
        }
        return Submission("/auth/ksef-token", json.dumps(body).encode(), "application/json")


class TokenSignerKit(SignerContract):
    """The kit's fixtures for a token signer class (``signer_class``)."""

    signer_class: ClassVar[type[TokenSigner]] = TokenSigner

    @pytest.fixture
    def signer(self) -> Any:
        return self.signer_class()

    @pytest.fixture
    def credential(self) -> KsefToken:
        return KsefToken(TOKEN)


# --- broken signers: each fails one rule -------------------------------------------------------


class ClearTokenSigner(TokenSigner):
    """Sends the token itself, "encrypted" only by base64 of nothing: in clear."""

    def encrypt(self, request: SignRequest) -> str:
        return request.credential.token.reveal()


class NetworkSigner(TokenSigner):
    """Fetches KSeF's keys itself inside ``sign`` (outside the flow's deadlines)."""

    def sign(self, request: SignRequest) -> Submission:
        import socket

        with socket.create_connection(("127.0.0.1", 9), timeout=1):
            pass
        return super().sign(request)


_SIGNED: dict[int, Submission] = {}


class ReplayingSigner(TokenSigner):
    """Signs once and sends that submission for every later challenge."""

    def sign(self, request: SignRequest) -> Submission:
        return _SIGNED.setdefault(id(type(self)), super().sign(request))
