"""``Secret``: a string that never shows itself.

repr, str, format, logging and JSON all see ``'***'``; pickling is refused. The value comes out
only through :meth:`Secret.reveal`, which is easy to grep for.

Tests can learn every secret made: :func:`watch` calls back with each new ``Secret``'s value,
and :func:`note_secret` reports a secret kept as a plain string (a token a test server issues).
The secret guard of :mod:`ksef_auth.testing` uses them to find secrets in logs and output.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable
from typing import Any, NoReturn

__all__ = ["Secret", "note_secret", "watch", "watching"]

_watchers: list[Callable[[str], None]] = []


def watch(callback: Callable[[str], None]) -> Callable[[], None]:
    """Call ``callback(value)`` with the value of every :class:`Secret` made from now on, and of
    every :func:`note_secret`; returns the function that stops it. For tests only: nothing in
    ksef-auth watches unless a test asks."""
    _watchers.append(callback)

    def stop() -> None:
        if callback in _watchers:
            _watchers.remove(callback)

    return stop


def watching() -> bool:
    """Whether anything watches for secrets (so that costly reporting can be skipped)."""
    return bool(_watchers)


def note_secret(value: str) -> None:
    """Report ``value`` as a secret to the watchers (see :func:`watch`), for code that holds a
    secret as a plain string, such as a test server issuing tokens. Does nothing unwatched."""
    for callback in _watchers:
        callback(value)


class Secret:
    """A secret string (KSeF token, password, JWT). Compare with ``==``; read with ``reveal()``."""

    __slots__ = ("_value",)
    _value: str

    def __init__(self, value: str | Secret) -> None:
        if isinstance(value, Secret):
            value = value.reveal()
        if not isinstance(value, str):
            raise TypeError(f"Secret takes a str, not {type(value).__name__}")
        object.__setattr__(self, "_value", value)
        if _watchers:
            note_secret(value)

    def reveal(self) -> str:
        """The secret value itself. Call it only where the value must leave the process."""
        return self._value

    def fingerprint(self) -> str:
        """A short, stable, one-way identifier (SHA-256, 16 hex chars): safe to log and key by."""
        # surrogatepass: a value read with undecodable bytes still has a fingerprint (the
        # component that uses it reports the bad bytes)
        return hashlib.sha256(self._value.encode("utf-8", "surrogatepass")).hexdigest()[:16]

    def __repr__(self) -> str:
        return "Secret('***')"

    def __str__(self) -> str:
        return "***"

    def __format__(self, spec: str) -> str:
        return "***"

    def __bool__(self) -> bool:
        return bool(self._value)

    def __len__(self) -> int:
        return len(self._value)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Secret):
            return NotImplemented
        return hmac.compare_digest(
            self._value.encode("utf-8", "surrogatepass"),
            other._value.encode("utf-8", "surrogatepass"),
        )

    def __hash__(self) -> int:
        return hash(("Secret", self.fingerprint()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "a Secret cannot be pickled; persist sessions through a session store, which encrypts"
        )
