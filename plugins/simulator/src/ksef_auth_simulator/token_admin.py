"""KSeF token management (``/tokens``): generate, list, read, revoke. Needs an access token."""

from __future__ import annotations

from typing import Any

from ksef_auth_simulator import paging
from ksef_auth_simulator.errors import KsefError, forbidden
from ksef_auth_simulator.refs import iso, ksef_token_text, new_reference
from ksef_auth_simulator.simulator import Simulator
from ksef_auth_simulator.state import OWNER_PERMISSIONS, KsefTokenRecord, Operation

STATUSES = ("Pending", "Active", "Revoking", "Revoked", "Failed")


def _author(op: Operation) -> tuple[str, str]:
    ident = op.subject.get("subjectIdentifier")
    if isinstance(ident, dict):
        return str(ident.get("type")), str(ident.get("value"))
    return "Nip", op.context_value.split("-", 1)[0]


def create(sim: Simulator, bearer: str | None, ip: str, body: object) -> dict[str, Any]:
    claims, op = sim.access(bearer, ip)
    present = sim.require(claims, ("CredentialsManage",))
    if not isinstance(body, dict):
        raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
    permissions = body.get("permissions")
    description = body.get("description")
    if not isinstance(permissions, list) or not all(p in OWNER_PERMISSIONS for p in permissions):
        raise KsefError(21405, ["permissions: lista wartości TokenPermissionType."])
    if not isinstance(description, str) or not 5 <= len(description) <= 256:
        raise KsefError(21405, ["description: od 5 do 256 znaków."])
    if op.context_type not in ("Nip", "InternalId"):
        raise KsefError(
            26002, [f"Bieżący kontekst: {op.context_type}; dozwolone: Nip, InternalId."]
        )
    if "Owner" not in present:
        lacking = [p for p in permissions if p not in present]
        if lacking:
            raise KsefError(26001, [f"Brakujące uprawnienia: {', '.join(lacking)}."])
    now = sim.now()
    ref = new_reference("EC", now)
    secret = ksef_token_text(ref, op.context_type, op.context_value)
    sim._store_token(
        ref,
        secret,
        op.context_value,
        list(dict.fromkeys(permissions)),
        description,
        now + sim.config.token_activation_delay,
        _author(op),
        context_type=op.context_type,
    )
    return {"referenceNumber": ref, "token": secret}


def _item(record: KsefTokenRecord, now: float) -> dict[str, Any]:
    item: dict[str, Any] = {
        "referenceNumber": record.ref,
        "authorIdentifier": {"type": record.author_type, "value": record.author_value},
        "contextIdentifier": {"type": record.context_type, "value": record.context_value},
        "description": record.description,
        "requestedPermissions": record.permissions,
        "dateCreated": iso(record.created),
        "status": record.status(now),
    }
    if record.last_use is not None:
        item["lastUseDate"] = iso(record.last_use)
    return item


def _visible(
    sim: Simulator, claims: dict[str, Any], op: Operation, record: KsefTokenRecord, manage: bool
) -> bool:
    if (record.context_type, record.context_value) != (op.context_type, op.context_value):
        return False
    import json

    present = json.loads(claims.get("per") or "[]")
    wanted = ("CredentialsManage",) if manage else ("CredentialsManage", "CredentialsRead")
    if "Owner" in present or any(p in present for p in wanted):
        return True
    return (record.author_type, record.author_value) == _author(
        op
    ) or record.ref == op.ksef_token_ref


def query(
    sim: Simulator,
    bearer: str | None,
    ip: str,
    params: Any,
    continuation: str | None,
) -> dict[str, Any]:
    claims, op = sim.access(bearer, ip)
    size = paging.page_size(params.get("pageSize"))
    statuses = params.getlist("status") if hasattr(params, "getlist") else []
    for status in statuses:
        if status not in STATUSES:
            raise KsefError(21405, [f"Nieprawidłowy status {status!r}."])
    description = params.get("description")
    author = params.get("authorIdentifier")
    author_type = params.get("authorIdentifierType")
    for name, value in (("description", description), ("authorIdentifier", author)):
        if value is not None and len(value) < 3:
            raise KsefError(21405, [f"{name}: co najmniej 3 znaki."])
    if author_type is not None and author_type not in ("Nip", "Pesel", "Fingerprint"):
        raise KsefError(21405, ["authorIdentifierType: Nip, Pesel lub Fingerprint."])
    now = sim.now()
    with sim.lock:
        records = [r for r in sim.tokens_by_ref.values() if _visible(sim, claims, op, r, False)]
    records = [
        r
        for r in records
        if (not statuses or r.status(now) in statuses)
        and (description is None or description.lower() in r.description.lower())
        and (author is None or author.upper() in r.author_value.upper())
        and (author_type is None or r.author_type == author_type)
    ]
    records.sort(key=lambda r: r.created, reverse=True)
    scope = f"tokens:{op.context_value}"
    chunk, token = paging.page(
        records, paging.decode(sim.secret, scope, continuation), size, sim.secret, scope
    )
    body: dict[str, Any] = {"tokens": [_item(r, now) for r in chunk]}
    if token:
        body["continuationToken"] = token
    return body


def _find(
    sim: Simulator, claims: dict[str, Any], op: Operation, ref: str, manage: bool
) -> KsefTokenRecord:
    with sim.lock:
        record = sim.tokens_by_ref.get(ref)
    if record is None or (record.context_type, record.context_value) != (
        op.context_type,
        op.context_value,
    ):
        raise KsefError(21405, [f"Token o numerze referencyjnym {ref} nie istnieje."])
    if not _visible(sim, claims, op, record, manage):
        raise forbidden("insufficient-resource-access", "Brak dostępu do wskazanego tokena.")
    return record


def status(sim: Simulator, bearer: str | None, ip: str, ref: str) -> dict[str, Any]:
    claims, op = sim.access(bearer, ip)
    return _item(_find(sim, claims, op, ref, False), sim.now())


def revoke(sim: Simulator, bearer: str | None, ip: str, ref: str) -> None:
    claims, op = sim.access(bearer, ip)
    record = _find(sim, claims, op, ref, True)
    record.revoked = True
