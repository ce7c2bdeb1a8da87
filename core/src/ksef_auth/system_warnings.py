"""KSeF's system warnings: what ``X-System-Warning`` said, per environment, for this process.

KSeF (API 2.6.0 and later) may add ``X-System-Warning: [code]: message | [code]: message`` to
any answer: an early notice that something the client does will be rejected in future. The
operation itself succeeded. The transport hands every such header to :func:`record`, which keeps
the distinct warnings of each environment (the latest :data:`KEEP`) and says which are new, so
that each is logged once and observers hear of it once (``ksef_auth_system_warning``).

:func:`recent` is what a CLI or a health check shows::

    from ksef_auth import system_warnings
    for warning in system_warnings.recent("test"):
        print(warning.code, warning.message, warning.count)

On TEST, sending ``X-Test-System-Warning: <text>`` makes KSeF echo a warning, to try this out.
"""

from __future__ import annotations

import re
import threading
from datetime import UTC, datetime

import attrs

from ksef_auth.model import Environment

__all__ = ["KEEP", "SystemWarning", "clear", "parse", "recent", "record"]

#: distinct warnings kept per environment (the oldest are dropped)
KEEP = 20
MAX_MESSAGE = 300

_ONE = re.compile(r"\[(?P<code>[^\]]+)\]:\s*(?P<message>[^|]+)")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]+")


@attrs.frozen
class SystemWarning:
    """One distinct warning: KSeF's ``code`` (None when the header had no ``[code]:``), its
    ``message``, the ``endpoint`` that first answered with it, when it was first and last seen,
    and how many answers carried it."""

    environment: str  # base URL
    code: str | None
    message: str
    endpoint: str
    first_seen: datetime
    last_seen: datetime
    count: int = 1

    def __str__(self) -> str:
        return f"[{self.code}] {self.message}" if self.code else self.message


def parse(header: str) -> list[tuple[str | None, str]]:
    """``(code, message)`` pairs of one header value (control characters removed, each
    message cut to :data:`MAX_MESSAGE` characters)."""
    text = _CONTROL.sub(" ", header).strip()
    found = [(m.group("code").strip()[:40], _cut(m.group("message"))) for m in _ONE.finditer(text)]
    if not found and text:
        found = [(None, _cut(text))]
    return [(code, message) for code, message in found if message]


def _cut(message: str) -> str:
    message = " ".join(message.split())
    return message if len(message) <= MAX_MESSAGE else message[: MAX_MESSAGE - 3] + "..."


_seen: dict[str, dict[tuple[str | None, str], SystemWarning]] = {}
_lock = threading.Lock()


def record(base_url: str, header: str, endpoint: str) -> list[SystemWarning]:
    """Note a header's warnings for the environment at ``base_url``; the ones not seen before."""
    now = datetime.now(UTC)
    new: list[SystemWarning] = []
    with _lock:
        known = _seen.setdefault(base_url, {})
        for code, message in parse(header):
            key = (code, message)
            warning = known.pop(key, None)
            if warning is None:
                warning = SystemWarning(base_url, code, message, endpoint, now, now)
                new.append(warning)
            else:
                warning = attrs.evolve(warning, last_seen=now, count=warning.count + 1)
            known[key] = warning  # most recent last
            while len(known) > KEEP:
                del known[next(iter(known))]
    return new


def recent(environment: Environment | str) -> list[SystemWarning]:
    """The distinct warnings seen from ``environment`` (a name, a base URL or an
    :class:`Environment`) in this process, the most recently seen first."""
    base_url = Environment.of(environment).base_url
    with _lock:
        return list(reversed(_seen.get(base_url, {}).values()))


def clear() -> None:
    """Forget every warning (tests)."""
    with _lock:
        _seen.clear()
