"""KSeF's ``X-System-Warning``: what ``login`` and ``doctor`` show of it.

KSeF announces behaviour it will refuse in future in the ``X-System-Warning`` response header
(``[code]: message | [code]: message``). The transport records the warnings of every answer
(:mod:`ksef_auth.system_warnings`) and logs each new one once, which the CLI prints on stderr
(``warning: KSeF warns (URL, endpoint): [code] message``); ``login --json`` lists them under
``system_warnings`` and ``doctor`` gives them a line of their own (``system``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ksef_auth.strategy import Strategy


def recent(strategy: Strategy) -> list[dict[str, Any]]:
    """The warnings KSeF sent to this strategy's environment in this process, newest first."""
    from ksef_auth import system_warnings

    return [
        {
            "code": warning.code,
            "message": warning.message,
            "endpoint": warning.endpoint,
            "count": warning.count,
        }
        for warning in system_warnings.recent(strategy.environment)
    ]


def describe(rows: list[dict[str, Any]]) -> str:
    """``[code] message (endpoint); ...`` for one line of a report."""
    return "; ".join(
        (f"[{r['code']}] " if r["code"] else "") + f"{r['message']} ({r['endpoint']})" for r in rows
    )
