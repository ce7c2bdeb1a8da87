"""Certificates on a token: finding the one that belongs to a key (same ``CKA_ID``, the PKCS#11
convention, else the same label), proving they pair, walking its chain, and writing new ones."""

from __future__ import annotations

import hashlib
import os
from typing import TYPE_CHECKING, Any

from ksef_auth.certificates import describe, same_public_key
from ksef_auth_pkcs11.errors import CertificateMismatch, CertificateNotFound
from ksef_auth_pkcs11.key import DIGEST_INFO, public_key_of, raw_to_der
from ksef_auth_pkcs11.module import TokenSession

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

__all__ = [
    "certificates_on",
    "chain_for",
    "certificate_for",
    "key_public_key",
    "store_certificate",
]


def certificates_on(session: Any) -> list[tuple[Any, x509.Certificate]]:
    """Every X.509 certificate object on the token with its parsed certificate (objects that
    do not parse are left out)."""
    from cryptography import x509
    from pkcs11 import Attribute, CertificateType, ObjectClass

    found = []
    template = {
        Attribute.CLASS: ObjectClass.CERTIFICATE,
        Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
    }
    for obj in list(session.get_objects(template)):  # one search at a time per session
        try:
            found.append((obj, x509.load_der_x509_certificate(bytes(obj[Attribute.VALUE]))))
        except ValueError:
            continue
    return found


def key_public_key(session: Any, key: Any) -> CertificatePublicKeyTypes | None:
    """The public key of a private key object: from its own attributes (RSA) or from the public
    key object with the same id (EC); None when neither tells."""
    from pkcs11 import Attribute, KeyType, ObjectClass, PKCS11Error

    if key.key_type == KeyType.RSA:
        try:
            return public_key_of(key)
        except PKCS11Error:
            pass
    key_id = bytes(key.id)
    if key_id:
        for obj in session.get_objects(
            {Attribute.CLASS: ObjectClass.PUBLIC_KEY, Attribute.ID: key_id}
        ):
            try:
                return public_key_of(obj)
            except PKCS11Error:
                continue
    return None


def _proves(session: Any, key: Any, certificate: x509.Certificate) -> bool:
    """Sign a random digest on the token and verify it with the certificate's public key."""
    from cryptography.exceptions import InvalidSignature
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa, utils
    from pkcs11 import KeyType, Mechanism

    digest = hashlib.sha256(os.urandom(32)).digest()
    public = certificate.public_key()
    try:
        if key.key_type == KeyType.EC and isinstance(public, ec.EllipticCurvePublicKey):
            signature = raw_to_der(bytes(key.sign(digest, mechanism=Mechanism.ECDSA)))
            public.verify(signature, digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        elif key.key_type == KeyType.RSA and isinstance(public, rsa.RSAPublicKey):
            signature = bytes(
                key.sign(DIGEST_INFO["sha256"] + digest, mechanism=Mechanism.RSA_PKCS)
            )
            public.verify(signature, digest, padding.PKCS1v15(), utils.Prehashed(hashes.SHA256()))
        else:
            return False
    except InvalidSignature:
        return False
    return True


def pairs(session: Any, key: Any, certificate: x509.Certificate) -> bool:
    """True when ``certificate`` is ``key``'s: compared as public keys, or proved by a signature
    when the token does not tell the key's public key."""
    public = key_public_key(session, key)
    if public is not None:
        return same_public_key(public, certificate.public_key())  # type: ignore[arg-type]
    return _proves(session, key, certificate)


def certificate_for(
    session: Any, token: TokenSession, key: Any, key_name: str
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    """The key's certificate on the token (same id, else same label; the latest-ending one
    that pairs) and the rest of the token's certificates, for the chain.

    Raises :class:`CertificateNotFound` when there is none and :class:`CertificateMismatch`
    when those with the key's id or label belong to another key.
    """
    from pkcs11 import Attribute

    everything = certificates_on(session)
    key_id = bytes(key.id)
    candidates = [c for o, c in everything if key_id and bytes(o[Attribute.ID]) == key_id]
    if not candidates and key.label:
        candidates = [c for o, c in everything if o[Attribute.LABEL] == key.label]
    if not candidates:
        listed = ", ".join(
            f"{o[Attribute.LABEL]!r} (id {bytes(o[Attribute.ID]).hex() or '-'})"
            for o, _ in everything
        )
        raise CertificateNotFound(
            f"no certificate with the id or label of key {key_name} on {token.describe()}"
            f" (certificates there: {listed or 'none'}): write it to the token with the key's"
            " id (e.g. pkcs11-tool --write-object cert.der --type cert --id ...), or set"
            " certificate to its file"
        )
    matching = [c for c in candidates if pairs(session, key, c)]
    if not matching:
        raise CertificateMismatch(
            f"the certificate stored with key {key_name} on {token.describe()}"
            f" ({describe(candidates[0])}) belongs to another key: write the certificate"
            " issued for this key, or select the right key"
        )
    leaf = max(matching, key=lambda c: c.not_valid_after_utc)
    return leaf, [c for _, c in everything if c != leaf]


def chain_for(leaf: x509.Certificate, pool: list[x509.Certificate]) -> list[x509.Certificate]:
    """The issuers of ``leaf`` found in ``pool``, nearest first, up to a self-signed one."""
    chain: list[x509.Certificate] = []
    current = leaf
    while current.issuer != current.subject and len(chain) < 8:
        issuer = next((c for c in pool if c.subject == current.issuer and c not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return chain


def _der_integer(value: int) -> bytes:
    body = value.to_bytes(max(1, (value.bit_length() + 8) // 8), "big", signed=True)
    return (
        bytes([0x02, len(body)]) + body
        if len(body) < 0x80
        else bytes([0x02, 0x81, len(body)]) + body
    )


def store_certificate(
    session: Any,
    certificate: x509.Certificate,
    *,
    label: str,
    key_id: bytes,
) -> Any:
    """Write ``certificate`` to the token as a public token object with ``CKA_ID`` ``key_id``
    (the PKCS#11 pairing with its key; a CA certificate of a chain gets an id of its own)."""
    from cryptography.hazmat.primitives import serialization
    from pkcs11 import Attribute, CertificateType, ObjectClass

    return session.create_object(
        {
            Attribute.CLASS: ObjectClass.CERTIFICATE,
            Attribute.CERTIFICATE_TYPE: CertificateType.X_509,
            Attribute.TOKEN: True,
            Attribute.PRIVATE: False,
            Attribute.LABEL: label,
            Attribute.ID: key_id,
            Attribute.SUBJECT: certificate.subject.public_bytes(),
            Attribute.ISSUER: certificate.issuer.public_bytes(),
            Attribute.SERIAL_NUMBER: _der_integer(certificate.serial_number),
            Attribute.VALUE: certificate.public_bytes(serialization.Encoding.DER),
            # no CKA_CERTIFICATE_CATEGORY (user / authority): python-pkcs11 has no packer for it
            # and crashes on it; the key id and the issuer chain say the same
        }
    )
