"""Active authentication sessions: ``GET /auth/sessions`` and the two ``DELETE`` calls."""

from __future__ import annotations

from typing import Any

from ksef_auth_simulator import paging
from ksef_auth_simulator.auth_flow import status_body
from ksef_auth_simulator.errors import KsefError
from ksef_auth_simulator.simulator import Simulator


def list_sessions(
    sim: Simulator, bearer: str | None, ip: str, size_raw: str | None, continuation: str | None
) -> dict[str, Any]:
    claims, current = sim.access(bearer, ip)
    size = paging.page_size(size_raw)
    scope = f"sessions:{current.context_value}"
    offset = paging.decode(sim.secret, scope, continuation)
    now = sim.now()
    with sim.lock:
        ops = [
            op
            for op in sim.operations.values()
            if op.context_value == current.context_value
            and op.context_type == current.context_type
            and op.status(now)[0] == 200
            and now < op.expires
        ]
    ops.sort(key=lambda op: op.start, reverse=True)
    chunk, token = paging.page(ops, offset, size, sim.secret, scope)
    items = []
    for op in chunk:
        item = {"referenceNumber": op.ref, "isCurrent": op.ref == claims.get("arn")}
        item.update(status_body(op, now))
        items.append(item)
    body: dict[str, Any] = {"items": items}
    if token:
        body["continuationToken"] = token
    return body


def revoke_current(sim: Simulator, bearer: str | None, ip: str) -> None:
    claims = sim.decode_bearer(bearer, ("ContextToken", "RefreshToken"))
    if claims.get("typ") == "ContextToken":
        sim.access(bearer, ip)
    with sim.lock:
        op = sim.operations.get(str(claims.get("arn")))
        if op is None:
            raise KsefError(21405, ["Sesja uwierzytelniania nie istnieje."])
        op.revoked = True
    sim.stats.event("sessions_revoked", op.context_value)


def revoke_other(sim: Simulator, bearer: str | None, ip: str, ref: str) -> None:
    _, current = sim.access(bearer, ip)
    with sim.lock:
        op = sim.operations.get(ref)
        if op is None or op.context_value != current.context_value:
            raise KsefError(
                21405,
                [f"Sesja uwierzytelniania {ref} nie istnieje w bieżącym kontekście."],
            )
        op.revoked = True
    sim.stats.event("sessions_revoked", op.context_value)
