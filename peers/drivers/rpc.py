"""The line protocol every peer driver speaks (runs in the peer's interpreter, stdlib only).

The test writes one JSON object per line to the driver's stdin, ``{"op": NAME, "args": {...}}``,
and reads one JSON line back: ``{"ok": true, "result": ...}`` or ``{"ok": false, "error":
"Type: message"}``. Everything the peer itself prints goes to stderr, so it cannot corrupt the
answers. ``{"op": "describe"}`` names the peer, its version and the operations it offers.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from collections.abc import Callable
from importlib import metadata
from typing import Any

Operation = Callable[..., Any]


def serve(distribution: str, operations: dict[str, Operation]) -> None:
    """Answer requests on stdin until it closes."""
    answers = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", buffering=1)
    sys.stdout = sys.stderr  # the peer's own prints must not reach the answers
    for line in sys.stdin:
        if not line.strip():
            continue
        request = json.loads(line)
        op = request["op"]
        try:
            if op == "describe":
                result: Any = {
                    "distribution": distribution,
                    "version": metadata.version(distribution),
                    "python": sys.version.split()[0],
                    "offers": sorted(operations),
                }
            else:
                result = operations[op](**request.get("args", {}))
            answer = {"ok": True, "result": result}
        except Exception as exc:  # reported to the test, which decides what it means
            traceback.print_exc(file=sys.stderr)
            answer = {"ok": False, "error": f"{type(exc).__name__}: {exc}"[:2000]}
        answers.write(json.dumps(answer) + "\n")


class Sessions:
    """The peer's logged-in objects, by a small integer handle the test holds."""

    def __init__(self) -> None:
        self._items: dict[int, Any] = {}

    def add(self, item: Any) -> int:
        handle = len(self._items) + 1
        self._items[handle] = item
        return handle

    def __getitem__(self, handle: int) -> Any:
        return self._items[handle]
