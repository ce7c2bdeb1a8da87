"""What a module has: its slots, tokens, keys and certificates, for ``ksef-auth pkcs11 list``.

Only what is safe to show: labels, ids, types, sizes, flags, certificate subjects and dates.
Never a PIN, never key material (private key attributes that are secret are not even asked for).
Without a PIN, a token shows its public objects only.
"""

from __future__ import annotations

from typing import Any

from ksef_auth.certificates import same_public_key
from ksef_auth_pkcs11.key import public_key_of
from ksef_auth_pkcs11.module import Module, TokenSelector, describe_error, token_session
from ksef_auth_pkcs11.objects import certificates_on, key_public_key
from ksef_auth_pkcs11.pin import PinSource

__all__ = ["inventory"]

_TOKEN_FLAGS = (
    ("LOGIN_REQUIRED", "login required"),
    ("PROTECTED_AUTHENTICATION_PATH", "PIN pad"),
    ("WRITE_PROTECTED", "write-protected"),
    ("USER_PIN_COUNT_LOW", "PIN: wrong tries recorded"),
    ("USER_PIN_FINAL_TRY", "PIN: one try left"),
    ("USER_PIN_LOCKED", "PIN LOCKED"),
    ("USER_PIN_TO_BE_CHANGED", "PIN must be changed"),
)


def _flags(token: Any) -> list[str]:
    import pkcs11

    flags = token.flags
    return [text for name, text in _TOKEN_FLAGS if flags & getattr(pkcs11.TokenFlag, name)]


def _key_row(session: Any, obj: Any) -> dict[str, Any]:
    from pkcs11 import Attribute

    row: dict[str, Any] = {"label": obj.label, "id": bytes(obj.id).hex(), "type": obj.key_type.name}
    public = key_public_key(session, obj) if obj.object_class.name == "PRIVATE_KEY" else None
    if public is None and obj.object_class.name == "PUBLIC_KEY":
        try:
            public = public_key_of(obj)
        except Exception:  # a curve or type KSeF does not take: shown without a size
            public = None
    if public is not None:
        row["size"] = getattr(public, "key_size", None)
        curve = getattr(public, "curve", None)
        if curve is not None:
            row["curve"] = curve.name
    if obj.object_class.name == "PRIVATE_KEY":
        for name, attribute in (
            ("sensitive", Attribute.SENSITIVE),
            ("extractable", Attribute.EXTRACTABLE),
            ("sign", Attribute.SIGN),
            ("always_authenticate", Attribute.ALWAYS_AUTHENTICATE),
        ):
            try:
                row[name] = bool(obj[attribute])
            except Exception:  # the module does not tell
                continue
    row["_public"] = public
    return row


def _objects(session: Any) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    from pkcs11 import Attribute, ObjectClass

    objects = [  # each search finished before the next: one search at a time per session
        obj
        for cls in (ObjectClass.PRIVATE_KEY, ObjectClass.PUBLIC_KEY)
        for obj in list(session.get_objects({Attribute.CLASS: cls}))
    ]
    keys = [_key_row(session, obj) for obj in objects]
    certificates = []
    for obj, certificate in certificates_on(session):
        row = {
            "label": obj[Attribute.LABEL],
            "id": bytes(obj[Attribute.ID]).hex(),
            "subject": certificate.subject.rfc4514_string(),
            "issuer": certificate.issuer.rfc4514_string(),
            "not_before": certificate.not_valid_before_utc.isoformat(),
            "not_after": certificate.not_valid_after_utc.isoformat(),
        }
        private = [
            k
            for k in keys
            if k["_public"] is not None
            and k.get("sensitive") is not None
            and same_public_key(k["_public"], certificate.public_key())  # type: ignore[arg-type]
        ]
        if private:
            row["key"] = private[0]["label"] or private[0]["id"]
        certificates.append(row)
    for row in keys:
        del row["_public"]
    return keys, certificates


def inventory(
    module: Module, *, token_label: str | None = None, pin: PinSource | None = None
) -> dict[str, Any]:
    """The module's slots and tokens; each token's keys and certificates (private keys only
    for the token ``token_label`` when ``pin`` opens it)."""
    import pkcs11

    with module.lock:
        lib = module.lib()
        report: dict[str, Any] = {
            "module": module.path,
            "manufacturer": lib.manufacturer_id,
            "library": lib.library_description,
            "slots": [],
        }
        for slot in lib.get_slots():
            entry: dict[str, Any] = {"slot": slot.slot_id, "description": slot.slot_description}
            report["slots"].append(entry)
            if not slot.flags & pkcs11.SlotFlag.TOKEN_PRESENT:
                entry["token"] = None
                continue
            try:
                token = slot.get_token()
                initialized = bool(token.flags & pkcs11.TokenFlag.TOKEN_INITIALIZED)
            except pkcs11.PKCS11Error as exc:
                entry["token"] = {"error": describe_error(exc)}
                continue
            serial = token.serial
            info: dict[str, Any] = {
                "label": token.label,
                "serial": (
                    serial.decode("ascii", "replace") if isinstance(serial, bytes) else str(serial)
                ).strip(),
                "manufacturer": token.manufacturer_id,
                "model": token.model,
                "initialized": initialized,
                "flags": _flags(token),
            }
            entry["token"] = info
            if not initialized:
                continue
            use_pin = pin is not None and pin.configured and token_label == token.label
            try:
                if use_pin:
                    assert pin is not None
                    keys, certificates = token_session(
                        module.path, TokenSelector(label=token.label)
                    ).run(_objects, pin)
                    info["logged_in"] = True
                else:
                    with token.open() as session:
                        keys, certificates = _objects(session)
                    info["logged_in"] = False
            except pkcs11.PKCS11Error as exc:
                info["error"] = describe_error(exc)
                continue
            info["keys"] = keys
            info["certificates"] = certificates
        return report
