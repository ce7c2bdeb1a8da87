"""Certificates and private keys from bytes or text: PEM, DER, PKCS#12, base64 of any of them.

Every credential source that reads certificate material (the ``pem`` and ``pkcs12`` files, the
``env`` and ``paas`` variables, AWS secrets and parameters, the vault) parses it here, so a value
is recognised by its content the same way everywhere and every failure is reported alike: a
:class:`~ksef_auth.errors.CertificateError` (unreadable, no key, key and certificate apart) or
a :class:`~ksef_auth.errors.WrongPassword`, whose message names the place (``where``: "PKCS#12
file seal.p12", "secret ksef/seal") and what to do, never the value or a password.

::

    credential_from_pkcs12(data, password=SecretRef.env("P12_PASSWORD"), where=..., source=...)
    credential_from_pem(certificate_pem, key_pem, where=..., source=...)
    credential_from_value(text_or_bytes, where=..., source=...)   # any of the forms below

``credential_from_value`` takes PEM text (certificate, chain and key in any order), a PKCS#12
file's bytes, base64 of a PKCS#12 file or of PEM, or a JSON object with PEM fields
(``{"certificate": "-----BEGIN...", "private_key": "-----BEGIN...", "chain": "..."}``, or
``{"pkcs12": "<base64>"}``): what secret stores and platform variables hold.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ksef_auth.errors import CertificateError, CredentialError, WrongPassword
from ksef_auth.keys import LocalKey
from ksef_auth.model import CertificateCredential

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificatePublicKeyTypes,
        PrivateKeyTypes,
    )

    from ksef_auth.components import SecretRef

__all__ = [
    "CERTIFICATE_FIELDS",
    "CHAIN_FIELDS",
    "KEY_FIELDS",
    "PEM_MARKER",
    "PKCS12_FIELDS",
    "certificate_credential",
    "credential_from_json",
    "credential_from_pem",
    "credential_from_pkcs12",
    "credential_from_value",
    "describe",
    "has_private_key",
    "leaf_for",
    "load_certificates",
    "load_private_key",
    "open_pkcs12",
    "password_candidates",
    "same_public_key",
    "text_to_bytes",
]

PEM_MARKER = b"-----BEGIN"

#: the JSON field names read for each part, in order (the first one present wins)
CERTIFICATE_FIELDS = ("certificate", "certificate_pem", "cert")
KEY_FIELDS = ("private_key", "private_key_pem", "key")
CHAIN_FIELDS = ("chain", "ca", "certificate_chain")
PKCS12_FIELDS = ("pkcs12", "p12", "pfx")


def describe(certificate: x509.Certificate) -> str:
    """Safe to print: ``subject, valid 2025-01-01 to 2027-01-01``."""
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return f"{certificate.subject.rfc4514_string()}, valid {start:%Y-%m-%d} to {end:%Y-%m-%d}"


# --- text and bytes --------------------------------------------------------------------------


def text_to_bytes(text: str, what: str) -> bytes:
    """PEM text as bytes, or the bytes base64 ``text`` encodes (DER, PKCS#12, or PEM).

    Accepts PEM with literal ``\\n`` escapes (as some platforms store multi-line values).
    Raises :class:`CredentialError` naming ``what`` when it is empty or neither.
    """
    text = text.strip()
    if not text:
        raise CredentialError(f"{what} is empty")
    if "-----BEGIN" in text:
        if "\n" not in text and "\\n" in text:
            text = text.replace("\\n", "\n")
        return text.encode("ascii", errors="replace")
    try:
        return base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(f"{what} is neither PEM text nor base64") from None


def has_private_key(data: bytes) -> bool:
    return PEM_MARKER in data and b"PRIVATE KEY-----" in data


# --- certificates and keys -------------------------------------------------------------------


def load_certificates(data: bytes, where: str) -> list[x509.Certificate]:
    """Every certificate in ``data`` (a PEM bundle, or one DER certificate), in order."""
    from cryptography import x509

    try:
        if PEM_MARKER in data:
            return x509.load_pem_x509_certificates(data)
        return [x509.load_der_x509_certificate(data)]
    except ValueError:
        kind = "PEM" if PEM_MARKER in data else "DER"
        raise CertificateError(
            f"{where} holds no readable certificate (read as {kind}): is it a certificate"
            " (.pem, .crt, .cer, .der) and not a key or a PKCS#12 file?"
        ) from None


def load_private_key(
    data: bytes, where: str, password: bytes | None, password_origin: str
) -> PrivateKeyTypes:
    """The private key in ``data`` (PEM or DER, PKCS#8 or traditional, encrypted or not).

    ``password_origin`` says where the password came from, for messages.
    """
    from cryptography.hazmat.primitives import serialization

    loader = (
        serialization.load_pem_private_key
        if PEM_MARKER in data
        else serialization.load_der_private_key
    )
    try:
        return loader(data, password)
    except TypeError as exc:
        if password is not None and "not encrypted" in str(exc):
            return loader(data, None)  # a password is set but this key needs none
        raise WrongPassword(
            f"{where} is encrypted and no password is set: set password (by default the"
            " environment variable KSEF2_KEY_PASSWORD)"
        ) from None
    except ValueError as exc:
        if password is not None and "password" in str(exc).lower():
            raise WrongPassword(
                f"wrong password for {where} (password from {password_origin})"
            ) from None
        raise CertificateError(
            f"{where} holds no readable private key: is it a PEM or DER private key"
            " (not a certificate or a PKCS#12 file)?"
        ) from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise CertificateError(f"{where}: unsupported private key ({type(exc).__name__})") from None


def password_candidates(password: SecretRef | None, where: str) -> tuple[list[bytes | None], str]:
    """The passwords to try for ``where`` and where they come from (for messages).

    No reference: no password, then the empty one. A reference that cannot be read is a
    :class:`CredentialError` naming it.
    """
    if password is None:
        return [None, b""], "nowhere"
    problem = password.problem()
    if problem:
        raise CredentialError(f"the password of {where} cannot be read: {problem}")
    return [password.get().reveal().encode("utf-8")], password.describe()


def open_pkcs12(
    data: bytes,
    where: str,
    passwords: Sequence[bytes | None],
    password_origin: str,
    *,
    no_password_hint: str = "set password",
) -> tuple[PrivateKeyTypes | None, list[x509.Certificate]]:
    """The key and certificates (leaf first, as stored) of the PKCS#12 file ``data``.

    Each of ``passwords`` is tried in turn (modern AES/PBKDF2 and legacy 3DES/RC2 files).
    Raises :class:`CertificateError` when ``data`` is not PKCS#12 and :class:`WrongPassword`
    when no password opens it.
    """
    from cryptography.hazmat.primitives.serialization import pkcs12

    if data.lstrip().startswith(PEM_MARKER):
        raise CertificateError(
            f"{where} is PEM, not PKCS#12: give it as PEM (the pem source, or PEM text)"
        )
    for password in passwords:
        try:
            key, certificate, additional = pkcs12.load_key_and_certificates(data, password)
        except ValueError as exc:
            if "deserialize" in str(exc).lower():
                raise CertificateError(
                    f"{where} is not a PKCS#12 file (.p12/.pfx); for PEM or DER certificates"
                    " and keys use the pem credential source"
                ) from None
            continue
        except Exception as exc:  # e.g. UnsupportedAlgorithm for exotic encryption
            raise CertificateError(f"{where} cannot be opened: {type(exc).__name__}") from None
        certificates = ([certificate] if certificate is not None else []) + list(additional)
        return key, certificates
    if list(passwords) == [None, b""]:
        raise WrongPassword(
            f"{where} is password-protected and no password is set: {no_password_hint}"
        )
    raise WrongPassword(f"wrong password for {where} (password from {password_origin})")


def _spki(public_key: CertificatePublicKeyTypes) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def same_public_key(a: CertificatePublicKeyTypes, b: CertificatePublicKeyTypes) -> bool:
    """True when ``a`` and ``b`` are the same public key (compared as SubjectPublicKeyInfo)."""
    return _spki(a) == _spki(b)


def leaf_for(
    certificates: Sequence[x509.Certificate], public_key: CertificatePublicKeyTypes
) -> x509.Certificate | None:
    """The certificate for ``public_key`` among ``certificates`` (a bundle may list the chain
    first); the latest-ending one when several are."""
    wanted = _spki(public_key)
    matching = [c for c in certificates if _spki(c.public_key()) == wanted]
    return max(matching, key=lambda c: c.not_valid_after_utc) if matching else None


def certificate_credential(
    key: PrivateKeyTypes,
    certificates: Sequence[x509.Certificate],
    *,
    where: str,
    source: str,
    chain: Sequence[x509.Certificate] = (),
) -> CertificateCredential:
    """The credential of ``key`` and the certificate among ``certificates`` that belongs to
    it; the other certificates (and ``chain``) become its chain.

    Raises :class:`CertificateError` when no certificate is the key's, or the key is not one
    KSeF accepts (RSA, EC).
    """
    if not certificates:
        raise CertificateError(f"{where} holds a private key but no certificate")
    leaf = leaf_for(certificates, key.public_key())  # type: ignore[arg-type]
    if leaf is None:
        listed = "; ".join(describe(c) for c in certificates)
        raise CertificateError(
            f"the private key in {where} belongs to none of its certificates ({listed}):"
            " pair each certificate with its own key"
        )
    try:
        handle = LocalKey(key)
    except CertificateError:
        raise CertificateError(
            f"the private key in {where} is {type(key).__name__.lstrip('_')}: KSeF accepts"
            " only RSA (2048 bits or more) and ECDSA (P-256, P-384, P-521) keys"
        ) from None
    rest = [c for c in certificates if c is not leaf]
    return CertificateCredential(leaf, handle, chain=[*rest, *chain], source=source)


# --- whole credentials -------------------------------------------------------------------------


def credential_from_pkcs12(
    data: bytes,
    *,
    password: SecretRef | None,
    where: str,
    source: str,
    no_password_hint: str = "set password",
) -> CertificateCredential:
    """The certificate, key and chain of the PKCS#12 file ``data``."""
    passwords, origin = password_candidates(password, where)
    key, certificates = open_pkcs12(
        data, where, passwords, origin, no_password_hint=no_password_hint
    )
    if key is None:
        listed = "; ".join(describe(c) for c in certificates) or "no certificates either"
        raise CertificateError(
            f"{where} holds no private key (only: {listed}): export the certificate together"
            " with its private key"
        )
    return certificate_credential(key, certificates, where=where, source=source)


def credential_from_pem(
    certificate_data: bytes,
    key_data: bytes | None = None,
    *,
    password: SecretRef | None = None,
    where: str,
    key_where: str | None = None,
    source: str,
    chain: Sequence[x509.Certificate] = (),
) -> CertificateCredential:
    """The credential from PEM (or DER) certificates and a key: ``key_data``, or the key found
    in ``certificate_data`` itself when ``key_data`` is None."""
    certificates = load_certificates(certificate_data, where)
    if key_data is None:
        if not has_private_key(certificate_data):
            raise CertificateError(f"{where} holds no private key: give the key too")
        key_data, key_where = certificate_data, where
    key_where = key_where or where
    if password is None:
        secret, origin = None, "nowhere"
    else:
        problem = password.problem()
        if problem:
            raise CredentialError(f"the key password cannot be read: {problem}")
        secret, origin = password.get().reveal().encode("utf-8"), password.describe()
    key = load_private_key(key_data, key_where, secret, origin)
    if key_where != where and leaf_for(certificates, key.public_key()) is None:  # type: ignore[arg-type]
        first = certificates[0]
        raise CertificateError(
            f"the private key in {key_where} does not belong to the certificate in {where}"
            f" ({describe(first)}): pair each certificate with its own key"
        )
    return certificate_credential(key, certificates, where=where, source=source, chain=chain)


def credential_from_json(
    data: Mapping[str, Any],
    *,
    password: SecretRef | None = None,
    where: str,
    source: str,
) -> CertificateCredential:
    """The credential from a JSON object with PEM fields (see :data:`CERTIFICATE_FIELDS`,
    :data:`KEY_FIELDS`, :data:`CHAIN_FIELDS`) or a base64 PKCS#12 field
    (:data:`PKCS12_FIELDS`). Messages list the object's keys, never a value."""

    def field(names: Sequence[str]) -> tuple[str, str] | None:
        for name in names:
            if name in data:
                value = data[name]
                if isinstance(value, list) and all(isinstance(v, str) for v in value):
                    value = "\n".join(value)
                if not isinstance(value, str):
                    raise CertificateError(
                        f"{where}: the value under {name!r} is a JSON {type(value).__name__},"
                        " not a string"
                    )
                return name, value
        return None

    keys = ", ".join(sorted(map(str, data))) or "none"
    p12 = field(PKCS12_FIELDS)
    if p12 is not None:
        name, text = p12
        raw = text_to_bytes(text, f"{where} field {name!r}")
        return credential_from_pkcs12(
            raw, password=password, where=f"{where} field {name!r}", source=source
        )
    certificate = field(CERTIFICATE_FIELDS)
    if certificate is None:
        raise CertificateError(
            f"{where} is a JSON object without a certificate (its keys: {keys}); store the PEM"
            f" certificate under {CERTIFICATE_FIELDS[0]!r} and the key under"
            f" {KEY_FIELDS[0]!r}, or a base64 PKCS#12 under {PKCS12_FIELDS[0]!r}"
        )
    key = field(KEY_FIELDS)
    chain = field(CHAIN_FIELDS)
    cert_where = f"{where} field {certificate[0]!r}"
    certificate_data = text_to_bytes(certificate[1], cert_where)
    if key is None and not has_private_key(certificate_data):
        raise CertificateError(
            f"{where} has a certificate but no private key (its keys: {keys}); store the PEM"
            f" key under {KEY_FIELDS[0]!r}"
        )
    extra: list[x509.Certificate] = []
    if chain is not None and chain[1].strip():  # an empty chain is no chain
        chain_where = f"{where} field {chain[0]!r}"
        extra = load_certificates(text_to_bytes(chain[1], chain_where), chain_where)
    return credential_from_pem(
        certificate_data,
        text_to_bytes(key[1], f"{where} field {key[0]!r}") if key is not None else None,
        password=password,
        where=cert_where,
        key_where=f"{where} field {key[0]!r}" if key is not None else None,
        source=source,
        chain=extra,
    )


def credential_from_value(
    value: str | bytes,
    *,
    key: str | bytes | None = None,
    password: SecretRef | None = None,
    where: str,
    key_where: str | None = None,
    source: str,
) -> CertificateCredential:
    """The credential in ``value``, recognised by content: PEM text, a JSON object with PEM
    fields, a PKCS#12 file (bytes), or base64 of a PKCS#12 file, of PEM or of DER.

    ``key`` is a separate private key (PEM, or base64 of DER) when ``value`` holds only the
    certificate. ``password`` opens a PKCS#12 file or an encrypted key.
    """
    if isinstance(value, bytes) and PEM_MARKER not in value:
        try:  # a file may hold base64 or JSON text; binary PKCS#12 is never all ASCII
            value = value.decode("ascii")
        except UnicodeDecodeError:
            pass
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise CredentialError(f"{where} is empty; store the certificate there")
        if text.startswith("{"):
            try:
                document = json.loads(text)
            except json.JSONDecodeError as exc:
                raise CertificateError(
                    f"{where} starts like JSON but is not (line {exc.lineno}, column"
                    f" {exc.colno}); store a JSON object with PEM fields, PEM text or base64"
                    " of a PKCS#12 file"
                ) from None
            if not isinstance(document, dict):
                raise CertificateError(f"{where} holds a JSON {type(document).__name__}")
            return credential_from_json(document, password=password, where=where, source=source)
        try:
            data = text_to_bytes(text, where)
        except CredentialError:
            raise CertificateError(
                f"{where} is neither PEM text, nor base64 of a PKCS#12 file, nor a JSON object"
                " with PEM fields"
            ) from None
    else:
        data = value
        if not data.strip():
            raise CredentialError(f"{where} is empty; store the certificate there")
    key_data = None
    if key is not None:
        key_where = key_where or f"the key for {where}"
        key_data = text_to_bytes(key, key_where) if isinstance(key, str) else key
    if PEM_MARKER in data or key_data is not None:
        return credential_from_pem(
            data, key_data, password=password, where=where, key_where=key_where, source=source
        )
    return credential_from_pkcs12(data, password=password, where=where, source=source)
