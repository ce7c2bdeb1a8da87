"""Request bodies: read with a size limit, parse JSON shallowly, refuse the rest with a 400.

A body larger than ``max_body_bytes`` is refused before it is read whole (its
``Content-Length``, then while streaming); JSON that is not UTF-8, not JSON or nested deeper than
:data:`MAX_JSON_DEPTH` is refused with **21001** "Nieczytelna treść." on the endpoints whose 400
table in API 2.9.0 lists it (``POST /auth/ksef-token``, ``/tokens``, ``/certificates/*`` ...),
with 21405 elsewhere. Nothing a client sends can make the simulator answer 500.
"""

from __future__ import annotations

import json
from functools import cache
from typing import Any

from starlette.requests import Request

from ksef_auth_simulator.errors import KsefError
from ksef_auth_simulator.openapi import operation

#: KSeF's request bodies are at most four levels deep; anything past this is refused
MAX_JSON_DEPTH = 32


class BodyError(ValueError):
    """The body cannot be used; ``str()`` says why, in Polish (KSeF's language)."""


@cache
def unreadable_code(name: str) -> int:
    """21001 where the spec's 400 table for operation ``name`` lists it, 21405 otherwise."""
    table = operation(name).get("responses", {}).get("400", {}).get("description", "")
    return 21001 if "21001" in table else 21405


async def read_body(request: Request, limit: int) -> bytes:
    """The whole body, or :class:`BodyError` as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise BodyError(f"Treść żądania przekracza {limit} bajtów.")
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise BodyError(f"Treść żądania przekracza {limit} bajtów.")
        chunks.append(chunk)
    return b"".join(chunks)


def depth(value: Any) -> int:
    """Nesting depth of parsed JSON (a scalar is 0), without recursion."""
    deepest = 0
    pending: list[tuple[Any, int]] = [(value, 0)]
    while pending:
        node, level = pending.pop()
        if isinstance(node, dict):
            children: Any = node.values()
        elif isinstance(node, list):
            children = node
        else:
            continue
        level += 1
        deepest = max(deepest, level)
        if deepest > MAX_JSON_DEPTH:
            return deepest
        pending.extend((child, level) for child in children)
    return deepest


def parse_json(raw: bytes) -> Any:
    """Parsed JSON, or :class:`BodyError` (invalid, not UTF-8, or nested too deep)."""
    try:
        value = json.loads(raw)
    except RecursionError:
        raise BodyError(f"Zagnieżdżenie JSON przekracza {MAX_JSON_DEPTH} poziomów.") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise BodyError(f"Treść nie jest poprawnym JSON: {exc}") from None
    if depth(value) > MAX_JSON_DEPTH:
        raise BodyError(f"Zagnieżdżenie JSON przekracza {MAX_JSON_DEPTH} poziomów.")
    return value


async def json_body(request: Request, limit: int, *, optional: bool = False) -> Any:
    """The JSON body of a KSeF request (None when ``optional`` and empty); a :class:`KsefError`
    400 when it cannot be used."""
    code = unreadable_code(request.scope.get("ksef_operation", ""))
    try:
        raw = await read_body(request, limit)
        if not raw.strip():
            if optional:
                return None
            raise KsefError(21405, ["Brak treści żądania."])
        return parse_json(raw)
    except BodyError as exc:
        raise KsefError(code, [str(exc)]) from None
