"""KSeF's ``X-System-Warning``: what ``login`` and ``doctor`` show of it.

KSeF announces behaviour it will refuse in future in the ``X-System-Warning`` response header
(``[code]: message | [code]: message``). The transport keeps the warnings of recent responses
(:func:`ksef_auth.transport.system_warnings`); the CLI shows those of the commands it ran, on
stderr (``warning from KSeF [code]: message``) and in the ``--json`` output.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import click

if TYPE_CHECKING:
    from ksef_auth.strategy import Strategy


def recent(strategy: Strategy) -> list[dict[str, Any]]:
    """The warnings KSeF sent to this strategy's environment in this process, oldest first."""
    from ksef_auth import transport

    reader = getattr(transport, "system_warnings", None)
    if reader is None:  # a core without the capture: nothing to show
        return []
    rows = []
    for item in reader(strategy.environment):
        rows.append(
            {
                "code": getattr(item, "code", None),
                "message": getattr(item, "message", str(item)),
                "action": getattr(item, "action", None),
            }
        )
    return rows


def show_warnings(strategy: Strategy, *, as_json: bool = False) -> list[dict[str, Any]]:
    """Print the warnings on stderr (unless ``as_json``: the caller puts them in its JSON) and
    return them."""
    rows = recent(strategy)
    if not as_json:
        for row in rows:
            code = f" [{row['code']}]" if row["code"] else ""
            during = f" (while {row['action']})" if row["action"] else ""
            click.secho(f"warning from KSeF{code}: {row['message']}{during}", fg="yellow", err=True)
    return rows
