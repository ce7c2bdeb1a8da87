"""``FileRateLimiter``: KSeF's rate limits shared by the processes of one machine.

The semantics of :class:`ksef_auth.pacing.LocalRateLimiter` (a sliding log of booked send times
per key, first come first served, ``penalize``), with the log of each key in a small file
(``<sha256 of the key>``, JSON, 0600) read and rewritten under an exclusive ``flock``, so every
process that uses the same directory books from one budget. Times are the machine's clock
(``time.time()``), which every process shares.

A limiter never fails a login: when its files cannot be used (a read-only or full disk), it
says so once and books in this process's :class:`~ksef_auth.pacing.LocalRateLimiter` instead,
trying the files again a minute later.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ksef_auth import StoreError
from ksef_auth.pacing import LocalRateLimiter, Rate

__all__ = ["FileRateLimiter"]

log = logging.getLogger("ksef_auth.store.file")

_RETRY_AFTER = 60.0  # seconds of booking in this process after the files failed


class FileRateLimiter:
    """A :class:`~ksef_auth.pacing.RateLimiter` for every process using ``directory``."""

    def __init__(
        self,
        directory: Path,
        *,
        margin: float = 0.02,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.directory = Path(directory)
        self.margin = margin
        self._clock = clock
        self._ready = False
        self._threads = threading.Lock()  # flock is per open file; this orders our own threads
        self._fallback = LocalRateLimiter(margin=margin)
        self._failed_at: float | None = None

    def reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        if self._in_fallback():
            return self._fallback.reserve(key, rates, max_wait)
        try:
            return self._reserve(key, rates, max_wait)
        except StoreError as exc:
            self._failed(exc)
            return self._fallback.reserve(key, rates, max_wait)

    def penalize(self, key: str, seconds: float) -> None:
        self._fallback.penalize(key, seconds)
        if self._in_fallback():
            return
        try:
            self._penalize(key, seconds)
        except StoreError as exc:
            self._failed(exc)

    def _in_fallback(self) -> bool:
        failed = self._failed_at
        if failed is None:
            return False
        if time.monotonic() - failed < _RETRY_AFTER:
            return True
        self._failed_at = None
        return False

    def _failed(self, error: StoreError) -> None:
        self._failed_at = time.monotonic()
        log.warning(
            "%s; KSeF's rate limits are kept by this process alone for the next %g s",
            error,
            _RETRY_AFTER,
        )

    def _reserve(self, key: str, rates: Sequence[Rate], max_wait: float) -> float | None:
        longest = max((r.per for r in rates), default=0.0) + self.margin
        with self._state(key) as state:
            now = self._clock()
            booked = [t for t in state.get("booked", []) if t > now - longest]
            blocked = float(state.get("blocked", 0.0))
            send = max(now, booked[-1] if booked else now, blocked)
            for rate in rates:
                if len(booked) >= rate.limit:
                    send = max(send, booked[-rate.limit] + rate.per + self.margin)
            wait = send - now
            if wait > max_wait:
                state["booked"] = booked
                return None
            booked.append(send)
            state["booked"] = booked
            return wait

    def _penalize(self, key: str, seconds: float) -> None:
        with self._state(key) as state:
            until = self._clock() + max(0.0, seconds)
            state["blocked"] = max(float(state.get("blocked", 0.0)), until)

    def _state(self, key: str) -> _State:
        if not self._ready:
            try:
                self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(
                    f"cannot create the rate limit directory {self.directory}: {exc.strerror}"
                ) from None
            self._ready = True
        name = hashlib.sha256(key.encode("utf-8")).hexdigest()
        return _State(self.directory / name, self._threads)

    def __repr__(self) -> str:
        return f"FileRateLimiter({str(self.directory)!r})"


class _State:
    """One key's state file, locked (threads, then processes) while it is read and rewritten."""

    def __init__(self, path: Path, threads: threading.Lock) -> None:
        self.path = path
        self.threads = threads
        self.fd = -1
        self.data: dict[str, Any] = {}

    def __enter__(self) -> dict[str, Any]:
        import fcntl

        self.threads.acquire()
        try:
            self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            fcntl.flock(self.fd, fcntl.LOCK_EX)
            raw = b""
            while chunk := os.read(self.fd, 65536):
                raw += chunk
        except OSError as exc:
            self._close()
            raise StoreError(f"cannot use rate limit file {self.path}: {exc.strerror}") from None
        try:
            data = json.loads(raw) if raw else {}
        except ValueError:
            data = {}  # a torn or foreign file: start over rather than stall
        self.data = data if isinstance(data, dict) else {}
        return self.data

    def __exit__(self, *exc_info: object) -> None:
        try:
            payload = json.dumps(self.data, separators=(",", ":")).encode("ascii")
            os.lseek(self.fd, 0, os.SEEK_SET)
            os.ftruncate(self.fd, 0)
            os.write(self.fd, payload)
        except OSError as exc:
            raise StoreError(f"cannot write rate limit file {self.path}: {exc.strerror}") from None
        finally:
            self._close()

    def _close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)  # closing drops the flock
            self.fd = -1
        self.threads.release()
