"""The challenge-HMAC flow. NOT PART OF THE OFFICIAL KSeF 2.0 API.

Some shop connectors describe a scheme in which a client proves it holds a KSeF token by
HMAC-ing a server challenge with it instead of encrypting the token. KSeF 2.0 has no such
endpoints; the simulator offers them (under ``/v2/hmac/...``) only so that client strategies for
that scheme can be tested:

* ``POST /v2/hmac/challenge`` -> ``{"challenge": "<random>", "timestamp": "<ISO>"}``
* ``POST /v2/hmac/session`` with ``{"challenge", "timestamp", "authorisation":
  hex(HMAC_SHA256(key=<KSeF token>, data=challenge + timestamp)), "contextIdentifier"}`` ->
  ``{"sessionToken": {"token": <access JWT>, "validUntil": <ISO>}}``.

The key is any Active KSeF token of that context. Wrong HMAC -> 401 problem details; unknown,
expired or used challenge (or a timestamp that is not the challenge's) -> 400 / 21111.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from typing import Any

from ksef_auth_simulator.auth_flow import check_context
from ksef_auth_simulator.errors import KsefError, forbidden, unauthorized
from ksef_auth_simulator.refs import format_ticks, iso, new_reference, ticks_to_ms, to_ticks
from ksef_auth_simulator.simulator import Simulator
from ksef_auth_simulator.state import METHODS, Challenge, Operation


def challenge(sim: Simulator, ip: str) -> dict[str, Any]:
    now = sim.now()
    ticks = to_ticks(now)
    value = secrets.token_hex(16)
    with sim.lock:
        for key in [k for k, c in sim.hmac_challenges.items() if c.expires <= now]:
            del sim.hmac_challenges[key]
        sim.hmac_challenges[value] = Challenge(
            value, ticks, ticks_to_ms(ticks), now + sim.config.challenge_ttl, ip
        )
    sim.stats.event("hmac_challenges")
    return {"challenge": value, "timestamp": format_ticks(ticks)}


def session(sim: Simulator, body: object, ip: str) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
    for name in ("challenge", "timestamp", "authorisation", "contextIdentifier"):
        if body.get(name) is None:
            raise KsefError(21405, [f"Brak wymaganego pola {name}."])
    ctx_raw = body["contextIdentifier"]
    if not isinstance(ctx_raw, dict):
        raise KsefError(21405, ["contextIdentifier musi być obiektem."])
    ctx_type, ctx_value = check_context(sim, ctx_raw.get("type"), ctx_raw.get("value"))
    now = sim.now()
    with sim.lock:
        found = sim.hmac_challenges.pop(str(body["challenge"]), None)
    if found is None or found.expires <= now:
        raise KsefError(21111, ["Wyzwanie nie istnieje, wygasło lub zostało już użyte."])
    stamp = format_ticks(found.ticks)
    if body["timestamp"] != stamp:
        raise KsefError(21111, ["Znacznik czasu nie odpowiada wyzwaniu."])
    given = str(body["authorisation"]).lower()
    data = (found.value + stamp).encode("utf-8")
    with sim.lock:
        candidates = [
            r
            for r in sim.tokens_by_secret.values()
            if (r.context_type, r.context_value) == (ctx_type, ctx_value)
            and r.status(now) == "Active"
        ]
    record = next(
        (
            r
            for r in candidates
            if hmac.compare_digest(
                hmac.new(r.secret.encode("utf-8"), data, hashlib.sha256).hexdigest(), given
            )
        ),
        None,
    )
    if record is None:
        raise unauthorized("Nieprawidłowy podpis HMAC wyzwania.")
    if sim.is_blocked(ctx_value):
        raise forbidden("security-service-blocked", "Kontekst jest zablokowany.", clientIp=ip)
    record.last_use = now
    op = Operation(
        ref=new_reference("AU", now),
        start=now,
        method="Token",
        context_type=ctx_type,
        context_value=ctx_value,
        subject={"subjectIdentifier": {"type": record.author_type, "value": record.author_value}},
        permissions=list(record.permissions),
        outcome=200,
        outcome_details=[],
        ready_at=now,
        expires=now + sim.config.operation_ttl,
        client_ip=ip,
        ksef_token_ref=record.ref,
        redeemed=True,
        method_info=("Other", "hmac.challenge", "HMAC wyzwania (niestandardowe)"),
    )
    assert op.method in METHODS
    with sim.lock:
        sim.operations[op.ref] = op
    token, exp = sim.issue_jwt(
        "ContextToken", op.ref, sim.config.hmac_session_ttl, sim.access_claims(op)
    )
    sim.stats.event("hmac_sessions", ctx_value)
    return {"sessionToken": {"token": token, "validUntil": iso(exp)}}
