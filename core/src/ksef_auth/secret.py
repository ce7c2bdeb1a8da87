"""``Secret``: a string that never shows itself.

repr, str, format, logging and JSON all see ``'***'``; pickling is refused. The value comes out
only through :meth:`Secret.reveal`, which is easy to grep for.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any, NoReturn


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

    def reveal(self) -> str:
        """The secret value itself. Call it only where the value must leave the process."""
        return self._value

    def fingerprint(self) -> str:
        """A short, stable, one-way identifier (SHA-256, 16 hex chars): safe to log and key by."""
        return hashlib.sha256(self._value.encode()).hexdigest()[:16]

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
        return hmac.compare_digest(self._value.encode(), other._value.encode())

    def __hash__(self) -> int:
        return hash(("Secret", self.fingerprint()))

    def __setattr__(self, name: str, value: Any) -> NoReturn:
        raise AttributeError("Secret is immutable")

    def __reduce__(self) -> NoReturn:
        raise TypeError(
            "a Secret cannot be pickled; persist sessions through a session store, which encrypts"
        )
