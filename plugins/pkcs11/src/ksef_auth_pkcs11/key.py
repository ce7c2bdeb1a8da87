"""A :class:`ksef_auth.KeyHandle` whose private key lives on a PKCS#11 token.

The data is hashed here and only the digest goes to the token, with the two mechanisms every
token has: ``CKM_RSA_PKCS`` over the DER ``DigestInfo`` (RSA PKCS#1 v1.5) and ``CKM_ECDSA`` (whose
raw ``r || s`` becomes DER, as the ``KeyHandle`` contract says). A key marked
``CKA_ALWAYS_AUTHENTICATE`` (qualified signature cards) gets the PIN again for every signature.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ksef_auth import CertificateError
from ksef_auth.keys import HashName
from ksef_auth_pkcs11.errors import KeyNotFound, Pkcs11Error
from ksef_auth_pkcs11.module import TokenSession
from ksef_auth_pkcs11.pin import PinSource

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

__all__ = ["DIGEST_INFO", "Pkcs11Key", "find_private_key", "public_key_of", "raw_to_der"]

#: DER prefixes of DigestInfo (RFC 8017, section 9.2, note 1)
DIGEST_INFO: dict[str, bytes] = {
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}

_CURVES = {
    "1.2.840.10045.3.1.7": "secp256r1",
    "1.3.132.0.34": "secp384r1",
    "1.3.132.0.35": "secp521r1",
}


def raw_to_der(signature: bytes) -> bytes:
    """PKCS#11's ECDSA ``r || s`` (two equal halves) as a DER ``ECDSA-Sig-Value``."""
    from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

    half = len(signature) // 2
    r = int.from_bytes(signature[:half], "big")
    s = int.from_bytes(signature[half:], "big")
    return encode_dss_signature(r, s)


def _oid(der: bytes) -> str:
    """The dotted OID in a DER ``OBJECT IDENTIFIER`` (CKA_EC_PARAMS of a named curve)."""
    if len(der) < 3 or der[0] != 0x06 or der[1] != len(der) - 2:
        raise ValueError("not a named curve")
    body = der[2:]
    parts = [body[0] // 40, body[0] % 40]
    value = 0
    for byte in body[1:]:
        value = (value << 7) | (byte & 0x7F)
        if not byte & 0x80:
            parts.append(value)
            value = 0
    return ".".join(str(p) for p in parts)


def _ec_point(value: bytes) -> bytes:
    """CKA_EC_POINT is a DER OCTET STRING around the point; some modules give the bare point."""
    if value[:1] == b"\x04" and len(value) > 2:
        length = value[1]
        if length < 0x80 and length == len(value) - 2:
            return value[2:]
        if length == 0x81 and value[2] == len(value) - 3:
            return value[3:]
    return value


def public_key_of(obj: Any) -> CertificatePublicKeyTypes:
    """The ``cryptography`` public key of a token's RSA or EC key object (public or private:
    a private RSA key carries its modulus; an EC private key needs its public object)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa
    from pkcs11 import Attribute, KeyType

    if obj.key_type == KeyType.RSA:
        modulus = int.from_bytes(obj[Attribute.MODULUS], "big")
        exponent = int.from_bytes(obj[Attribute.PUBLIC_EXPONENT], "big")
        return rsa.RSAPublicNumbers(exponent, modulus).public_key()
    if obj.key_type == KeyType.EC:
        curves: dict[str, ec.EllipticCurve] = {
            "secp256r1": ec.SECP256R1(),
            "secp384r1": ec.SECP384R1(),
            "secp521r1": ec.SECP521R1(),
        }
        curve = curves.get(_CURVES.get(_oid(obj[Attribute.EC_PARAMS]), ""))
        if curve is None:
            raise CertificateError("the key is on an elliptic curve KSeF does not accept")
        point = _ec_point(obj[Attribute.EC_POINT])
        return ec.EllipticCurvePublicKey.from_encoded_point(curve, point)
    raise CertificateError(f"a {obj.key_type.name} key cannot sign for KSeF (only RSA and EC)")


def find_private_key(
    session: Any, token: TokenSession, *, label: str | None, key_id: bytes | None
) -> Any:
    """The one private key with ``label`` and/or ``key_id``; :class:`KeyNotFound` listing the
    keys on the token when there is none, :class:`Pkcs11Error` when there are several."""
    from pkcs11 import Attribute, ObjectClass

    template: dict[Any, Any] = {Attribute.CLASS: ObjectClass.PRIVATE_KEY}
    if label is not None:
        template[Attribute.LABEL] = label
    if key_id is not None:
        template[Attribute.ID] = key_id
    found = list(session.get_objects(template))
    wanted = " and ".join(
        part
        for part in (
            f"label {label!r}" if label is not None else "",
            f"id {key_id.hex()}" if key_id is not None else "",
        )
        if part
    )
    if len(found) == 1:
        return found[0]
    if len(found) > 1:
        raise Pkcs11Error(
            f"{len(found)} private keys on {token.describe()} have {wanted}: set id too"
            " (ksef-auth pkcs11 list shows them)"
        )
    keys = list(session.get_objects({Attribute.CLASS: ObjectClass.PRIVATE_KEY}))
    there = [f"{k.label!r} (id {bytes(k.id).hex() or '-'})" for k in keys]
    raise KeyNotFound(
        f"no private key with {wanted} on {token.describe()} (keys there:"
        f" {', '.join(there) or 'none, or none visible to this login'}): fix label / id, or"
        " import or generate the key"
    )


class Pkcs11Key:
    """A private key on a token: :meth:`sign` runs on the token; the key never leaves it.

    Found again by ``key_id`` (or ``label``) whenever the session was opened anew.
    """

    __slots__ = (
        "_always_auth",
        "_key_type",
        "_object",
        "_public",
        "_seen",
        "id",
        "label",
        "pin",
        "token",
    )

    def __init__(
        self,
        token: TokenSession,
        pin: PinSource,
        obj: Any,
        public_key: CertificatePublicKeyTypes,
    ) -> None:
        from pkcs11 import Attribute

        self.token = token
        self.pin = pin
        self.label: str | None = obj.label or None
        self.id: bytes | None = bytes(obj.id) or None
        self._key_type = obj.key_type
        self._public = public_key
        self._object = obj
        self._seen = token.epoch
        try:
            self._always_auth = bool(obj[Attribute.ALWAYS_AUTHENTICATE])
        except Exception:  # not every module knows the attribute
            self._always_auth = False

    def public_key(self) -> CertificatePublicKeyTypes:
        return self._public

    def sign(self, data: bytes, hash_name: HashName = "sha256") -> bytes:
        from pkcs11 import KeyType, Mechanism

        digest = hashlib.new(hash_name, data).digest()
        if self._key_type == KeyType.EC:
            mechanism, payload = Mechanism.ECDSA, digest
        else:
            mechanism, payload = Mechanism.RSA_PKCS, DIGEST_INFO[hash_name] + digest

        def on_token(session: Any) -> bytes:
            kwargs: dict[str, Any] = {"mechanism": mechanism}
            if self._always_auth:
                kwargs["pin"] = self.pin.get(self.token.describe()).reveal()
            return bytes(self._find(session).sign(payload, **kwargs))

        signature = self.token.run(on_token, self.pin)
        return raw_to_der(signature) if self._key_type == KeyType.EC else signature

    @property
    def description(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        public = self._public
        if isinstance(public, ec.EllipticCurvePublicKey):
            kind = f"EC-{public.curve.name}"
        else:
            kind = f"RSA-{public.key_size}"  # type: ignore[union-attr]
        return f"{kind} on PKCS#11 {self.token.describe()}"

    def _find(self, session: Any) -> Any:
        if self._seen != self.token.epoch:  # a new session: object handles may have changed
            self._object = find_private_key(session, self.token, label=self.label, key_id=self.id)
            self._seen = self.token.epoch
        return self._object

    def __repr__(self) -> str:
        name = self.label if self.label is not None else (self.id or b"").hex()
        return f"Pkcs11Key({name!r}, {self.description})"

    def __reduce__(self) -> None:  # type: ignore[override]
        raise TypeError("a key on a token cannot be pickled; load it in each process")
