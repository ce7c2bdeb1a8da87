"""The KSeF 2.0 login: challenge -> ksef-token | xades-signature -> status -> redeem -> refresh."""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from ksef_auth.nip import is_valid_nip, is_valid_pesel

from ksef_auth_simulator.errors import KsefError, gone, unauthorized
from ksef_auth_simulator.faults import FaultAction
from ksef_auth_simulator.refs import format_ticks, iso, new_reference, ticks_to_ms, to_ticks
from ksef_auth_simulator.simulator import Simulator
from ksef_auth_simulator.state import DEFAULT_DETAILS, STATUS_DESCRIPTIONS, Challenge, Operation

CONTEXT_TYPES = {
    "nip": "Nip",
    "internalid": "InternalId",
    "nipvatue": "NipVatUe",
    "peppolid": "PeppolId",
}
_CONTEXT_PATTERNS = {
    "Nip": re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$"),
    "InternalId": re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}$"),
    "NipVatUe": re.compile(r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}-[A-Z]{2}[A-Z0-9+*]{2,12}$"),
    "PeppolId": re.compile(r"^P[A-Z]{2}[0-9]{6}$"),
}
_OCTET = r"(25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
_IP = rf"({_OCTET}\.){{3}}{_OCTET}"
_IP_PATTERNS = {
    "ip4Addresses": re.compile(f"^{_IP}$"),
    "ip4Ranges": re.compile(f"^{_IP}-{_IP}$"),
    "ip4Masks": re.compile(f"^{_IP}/(0|[1-9]|[12][0-9]|3[0-2])$"),
}


# -- challenge ---------------------------------------------------------------------------------
def new_challenge(
    sim: Simulator, client_ip: str, store: dict[str, Challenge] | None = None
) -> Challenge:
    now = sim.now()
    ticks = to_ticks(now)
    challenge = Challenge(
        value=new_reference("CR", now),
        ticks=ticks,
        ms=ticks_to_ms(ticks),
        expires=now + sim.config.challenge_ttl,
        client_ip=client_ip,
    )
    with sim.lock:
        target = sim.challenges if store is None else store
        for key in [k for k, c in target.items() if c.expires <= now]:
            del target[key]
        target[challenge.value] = challenge
    sim.stats.event("challenges")
    return challenge


def challenge_response(sim: Simulator, client_ip: str) -> dict[str, Any]:
    c = new_challenge(sim, client_ip)
    return {
        "challenge": c.value,
        "timestamp": format_ticks(c.ticks),
        "timestampMs": c.ms,
        "clientIp": client_ip,
    }


def peek_challenge(sim: Simulator, value: object) -> Challenge:
    with sim.lock:
        found = sim.challenges.get(value) if isinstance(value, str) else None
    if found is None or found.expires <= sim.now():
        raise KsefError(21111, ["Wyzwanie nie istnieje, wygasło lub zostało już użyte."])
    return found


def consume_challenge(sim: Simulator, value: str) -> Challenge:
    with sim.lock:
        found = peek_challenge(sim, value)
        sim.challenges.pop(value, None)
        return found


# -- validation helpers ------------------------------------------------------------------------
def check_context(sim: Simulator, raw_type: object, value: object) -> tuple[str, str]:
    ctx_type = CONTEXT_TYPES.get(str(raw_type).lower()) if isinstance(raw_type, str) else None
    if ctx_type is None:
        raise KsefError(21405, [f"Nieprawidłowy typ identyfikatora kontekstu: {raw_type!r}."])
    if not isinstance(value, str) or not _CONTEXT_PATTERNS[ctx_type].match(value):
        raise KsefError(21405, [f"Nieprawidłowa wartość identyfikatora kontekstu {ctx_type}."])
    if sim.config.validate_nip_checksum and ctx_type != "PeppolId" and not is_valid_nip(value[:10]):
        raise KsefError(21405, [f"Nieprawidłowa suma kontrolna NIP {value[:10]}."])
    return ctx_type, value


def check_policy(policy: object) -> dict[str, list[str]] | None:
    if policy is None:
        return None
    if not isinstance(policy, dict):
        raise KsefError(21405, ["authorizationPolicy musi być obiektem."])
    allowed = policy.get("allowedIps")
    if allowed is None:
        return None
    if not isinstance(allowed, dict):
        raise KsefError(21405, ["allowedIps musi być obiektem."])
    out: dict[str, list[str]] = {}
    for key, pattern in _IP_PATTERNS.items():
        items = allowed.get(key) or []
        if not isinstance(items, list) or len(items) > 10:
            raise KsefError(21405, [f"{key}: oczekiwano listy 0-10 elementów."])
        for item in items:
            if not isinstance(item, str) or not pattern.match(item):
                raise KsefError(21405, [f"{key}: nieprawidłowa wartość {item!r}."])
        out[key] = list(items)
    return out


def _finish(sim: Simulator, op: Operation, fault: FaultAction | None) -> dict[str, Any]:
    if fault is not None:
        op.stuck = op.stuck or fault.stuck
        if fault.auth_status is not None:
            op.outcome = fault.auth_status
            op.outcome_details = list(DEFAULT_DETAILS.get(fault.auth_status, []))
    if op.outcome == 200 and sim.is_blocked(op.context_value):
        op.outcome, op.outcome_details = 480, list(DEFAULT_DETAILS[480])
    with sim.lock:
        sim.operations[op.ref] = op
    sim.stats.event("logins_started", op.context_value)
    if op.outcome != 200:
        sim.stats.event("logins_failed", op.context_value)
    token, exp = sim.issue_jwt("AuthenticationToken", op.ref, sim.config.auth_token_ttl)
    return {
        "referenceNumber": op.ref,
        "authenticationToken": {"token": token, "validUntil": iso(exp)},
    }


def _operation(
    sim: Simulator, method: str, ctx: tuple[str, str], ip: str, policy: dict[str, list[str]] | None
) -> Operation:
    now = sim.now()
    return Operation(
        ref=new_reference("AU", now),
        start=now,
        method=method,
        context_type=ctx[0],
        context_value=ctx[1],
        subject={},
        permissions=[],
        outcome=200,
        outcome_details=[],
        ready_at=now + sim.config.auth_delay,
        expires=now + sim.config.operation_ttl,
        client_ip=ip,
        allowed_ips=policy,
    )


# -- POST /auth/ksef-token ---------------------------------------------------------------------
def init_token(
    sim: Simulator, body: object, ip: str, fault: FaultAction | None = None
) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise KsefError(21405, ["Treść żądania musi być obiektem JSON."])
    missing = [
        k for k in ("challenge", "contextIdentifier", "encryptedToken") if body.get(k) is None
    ]
    if missing:
        raise KsefError(21405, [f"Brak wymaganego pola {m}." for m in missing])
    challenge = body["challenge"]
    if not isinstance(challenge, str) or len(challenge) != 36:
        raise KsefError(21405, ["challenge musi mieć 36 znaków."])
    ctx_raw = body["contextIdentifier"]
    if not isinstance(ctx_raw, dict):
        raise KsefError(21405, ["contextIdentifier musi być obiektem."])
    ctx = check_context(sim, ctx_raw.get("type"), ctx_raw.get("value"))
    try:
        ciphertext = base64.b64decode(str(body["encryptedToken"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KsefError(21405, ["encryptedToken nie jest poprawnym base64."]) from exc
    key_id = body.get("publicKeyId")
    if key_id is not None and (not isinstance(key_id, str) or len(key_id) != 44):
        raise KsefError(21405, ["publicKeyId musi mieć 44 znaki."])
    policy = check_policy(body.get("authorizationPolicy"))
    peek_challenge(sim, challenge)
    if key_id is not None and not sim.keys.knows(key_id):
        raise KsefError(21470, [f"Klucz o identyfikatorze {key_id} nie jest wspierany."])
    found = consume_challenge(sim, challenge)
    op = _operation(sim, "Token", ctx, ip, policy)
    _judge_token(sim, op, ciphertext, key_id, found)
    return _finish(sim, op, fault)


def _judge_token(
    sim: Simulator, op: Operation, ciphertext: bytes, key_id: str | None, challenge: Challenge
) -> None:
    """The asynchronous verdict on a KSeF-token submission: 200, or 450 with one of the eight
    details API 2.9.0 lists (the eighth, a token of another context, was 415 before 2.6.1)."""

    def fail(detail: str) -> None:
        op.outcome, op.outcome_details = 450, [detail]

    if challenge.expires <= op.ready_at:  # expired before KSeF got to verify the submission
        return fail("Nieprawidłowe wyzwanie autoryzacyjne")
    try:
        decrypted = sim.keys.decrypt_token(ciphertext, key_id)
    except (ValueError, LookupError):
        return fail("Nieprawidłowe szyfrowanie tokena")
    try:
        plain = decrypted.decode("utf-8")
    except UnicodeDecodeError:
        return fail("Nieprawidłowe kodowanie tokena")
    token, sep, stamp = plain.rpartition("|")
    if not sep or not token or not stamp.isdigit():
        return fail("Nieprawidłowe kodowanie tokena")
    if int(stamp) != challenge.ms:
        return fail("Nieprawidłowy czas tokena")
    with sim.lock:
        record = sim.tokens_by_secret.get(token)
    if record is None:
        return fail("Nieprawidłowy token")
    op.ksef_token_ref = record.ref
    status = record.status(sim.now())
    if status == "Revoked":
        return fail("Token unieważniony")
    if status != "Active":
        return fail("Token nieaktywny")
    if (record.context_type, record.context_value) != (op.context_type, op.context_value):
        return fail(f"Token nie może być użyty w kontekście {op.context_value}")
    record.last_use = sim.now()
    op.subject = {"subjectIdentifier": {"type": record.author_type, "value": record.author_value}}
    op.permissions = list(record.permissions)
    return None


# -- POST /auth/xades-signature ----------------------------------------------------------------
def init_xades(
    sim: Simulator, body: bytes, verify_chain: bool, ip: str, fault: FaultAction | None = None
) -> dict[str, Any]:
    from ksef_auth_simulator import certs, xades

    request = xades.check(body, require_xades=sim.config.require_xades)
    ctx_type = request.context_type
    checksum = sim.config.validate_nip_checksum and ctx_type in ("Nip", "InternalId", "NipVatUe")
    if checksum and not is_valid_nip(request.context_value[:10]):
        raise KsefError(21405, [f"Nieprawidłowa suma kontrolna NIP {request.context_value[:10]}."])
    peek_challenge(sim, request.challenge)
    internal = sim.ksef_certificates.recognize(request.certificate)  # a KSeF certificate?
    who = internal.identity if internal else certs.identity(request.certificate)
    if request.subject_identifier_type == "certificateFingerprint":
        subject_type, subject_value = "Fingerprint", who.fingerprint
    else:
        if who.identifier is None or ctx_type == "PeppolId":
            raise KsefError(
                21117, ["Certyfikat nie zawiera identyfikatora NIP/PESEL właściwego dla kontekstu."]
            )
        if who.identifier_type == "Pesel" and not is_valid_pesel(who.identifier):
            raise KsefError(21117, ["Nieprawidłowy numer PESEL w certyfikacie."])
        subject_type, subject_value = who.identifier_type or "Nip", who.identifier
    consume_challenge(sim, request.challenge)
    method = internal.method if internal else who.authentication_method
    op = _operation(sim, method, (ctx_type, request.context_value), ip, request.allowed_ips)
    op.subject = {
        "subjectIdentifier": {"type": subject_type, "value": subject_value},
        **who.subject_details,
    }
    if internal:
        sim.ksef_certificates.note_login(op, internal, sim.now())
        problem = internal.problem(sim.now())
    else:
        problem = certs.validity_problem(request.certificate, sim.now())
    trusted = certs.load_pems(sim.config.trusted_ca_pems)
    if problem:
        op.outcome, op.outcome_details = 460, [problem]
    elif (
        verify_chain
        and not internal
        and not certs.chains_to(request.certificate, request.extra_certificates, trusted)
    ):
        op.outcome, op.outcome_details = 460, ["Niezaufany łańcuch certyfikatów"]
    elif subject_type == "Pesel" and sim.is_deceased(subject_value):
        op.outcome, op.outcome_details = (
            470,
            ["Próba wykorzystania metod autoryzacyjnych osoby zmarłej"],
        )
    else:
        op.permissions = sim.permissions_for(request.context_value, subject_type, subject_value)
        if not op.permissions:
            op.outcome, op.outcome_details = 415, ["Brak przypisanych uprawnień"]
    return _finish(sim, op, fault)


# -- GET /auth/{ref}, redeem, refresh ----------------------------------------------------------
def status_body(op: Operation, now: float) -> dict[str, Any]:
    code, details = op.status(now)
    status: dict[str, Any] = {
        "code": code,
        "description": STATUS_DESCRIPTIONS.get(code, f"Nieznany błąd ({code})"),
    }
    if details:
        status["details"] = details
    return {
        "startDate": iso(op.start),
        "authenticationMethod": op.method,
        "authenticationMethodInfo": op.info,
        "status": status,
        "isTokenRedeemed": op.redeemed,
        "lastTokenRefreshDate": iso(op.last_refresh) if op.last_refresh else None,
        "refreshTokenValidUntil": iso(op.refresh_valid_until) if op.refresh_valid_until else None,
    }


def _not_found(ref: str) -> KsefError:
    return KsefError(
        21304, [f"Operacja uwierzytelniania o numerze referencyjnym {ref} nie została znaleziona."]
    )


def operation_status(
    sim: Simulator, ref: str, bearer: str | None, fault: FaultAction | None = None
) -> dict[str, Any]:
    claims = sim.decode_bearer(bearer, ("AuthenticationToken",), check_exp=False)
    with sim.lock:
        op = sim.operations.get(ref)
    if op is None:
        raise _not_found(ref)
    now = sim.now()
    if now >= op.expires:
        raise gone()
    if now >= float(claims.get("exp", 0)):
        raise unauthorized("Token wygasł.")
    if claims.get("arn") != ref:
        from ksef_auth_simulator.errors import forbidden

        raise forbidden(
            "insufficient-resource-access", "Token dotyczy innej operacji uwierzytelniania."
        )
    if fault is not None:
        op.stuck = op.stuck or fault.stuck
        if fault.auth_status is not None:
            op.outcome = fault.auth_status
            op.outcome_details = list(DEFAULT_DETAILS.get(fault.auth_status, []))
    return status_body(op, now)


def redeem(sim: Simulator, bearer: str | None) -> dict[str, Any]:
    claims = sim.decode_bearer(bearer, ("AuthenticationToken",))
    ref = str(claims.get("arn"))
    now = sim.now()
    with sim.lock:
        op = sim.operations.get(ref)
        if op is None:
            raise _not_found(ref)
        if op.redeemed:
            raise KsefError(
                21301, [f"Tokeny dla operacji uwierzytelniania {ref} zostały już pobrane."]
            )
        code, _ = op.status(now)
        if code != 200:
            raise KsefError(
                21301, [f"Status uwierzytelniania ({code}) nie pozwala na pobranie tokenów."]
            )
        if _token_revoked(sim, op):
            raise KsefError(21301, ["Token KSeF został unieważniony."])
        op.redeemed = True
    access, access_exp = sim.issue_jwt(
        "ContextToken", ref, sim.config.access_token_ttl, sim.access_claims(op)
    )
    refresh, refresh_exp = sim.issue_jwt("RefreshToken", ref, sim.config.refresh_token_ttl)
    op.refresh_valid_until = refresh_exp
    sim.stats.event("logins_completed", op.context_value)
    return {
        "accessToken": {"token": access, "validUntil": iso(access_exp)},
        "refreshToken": {"token": refresh, "validUntil": iso(refresh_exp)},
    }


def _token_revoked(sim: Simulator, op: Operation) -> bool:
    record = sim.tokens_by_ref.get(op.ksef_token_ref) if op.ksef_token_ref else None
    return record is not None and record.revoked


def refresh(sim: Simulator, bearer: str | None) -> dict[str, Any]:
    claims = sim.decode_bearer(bearer, ("RefreshToken",), check_exp=False)
    ref = str(claims.get("arn"))
    now = sim.now()
    with sim.lock:
        op = sim.operations.get(ref)
        if op is None:
            raise _not_found(ref)
        code, _ = op.status(now)
        if code != 200 or now >= float(claims.get("exp", 0)):
            raise KsefError(
                21301,
                [
                    f"Status uwierzytelniania ({code}) nie pozwala"
                    " na odświeżenie tokenu dostępowego."
                ],
            )
        if _token_revoked(sim, op):
            raise KsefError(21301, ["Token KSeF został unieważniony."])
        op.last_refresh = now
    access, access_exp = sim.issue_jwt(
        "ContextToken", ref, sim.config.access_token_ttl, sim.access_claims(op)
    )
    sim.stats.event("refreshes", op.context_value)
    return {"accessToken": {"token": access, "validUntil": iso(access_exp)}}
