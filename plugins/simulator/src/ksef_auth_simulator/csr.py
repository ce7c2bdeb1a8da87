"""How KSeF judges a certificate signing request (PKCS#10) of ``POST /certificates/enrollments``.

Checked in this order, each failure a 400 with its code:

* 21405 ``csr`` is not base64; 25004 it is not a DER PKCS#10 request;
* 25011 the signature algorithm is not RSA PKCS#1 v1.5, RSA-PSS or ECDSA, each with SHA-1,
  SHA-256, SHA-384 or SHA-512;
* 25010 the key is not RSA of exactly 2048 bits or EC on P-256 (secp256r1), or does not belong
  to the signature algorithm's family;
* 25004 the signature does not verify against the request's own public key;
* 25003 the subject is not exactly the enrollment data (the same attributes with the same values,
  none missing, none added; order free).

The signature is verified here over ``CertificationRequestInfo`` with the request's public key,
without any help from the client's code (the simulator judges the client).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

from ksef_auth_simulator.errors import KsefError

_RSA_PKCS1: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.113549.1.1.5": hashes.SHA1,
    "1.2.840.113549.1.1.11": hashes.SHA256,
    "1.2.840.113549.1.1.12": hashes.SHA384,
    "1.2.840.113549.1.1.13": hashes.SHA512,
}
_ECDSA: dict[str, Callable[[], hashes.HashAlgorithm]] = {
    "1.2.840.10045.4.1": hashes.SHA1,
    "1.2.840.10045.4.3.2": hashes.SHA256,
    "1.2.840.10045.4.3.3": hashes.SHA384,
    "1.2.840.10045.4.3.4": hashes.SHA512,
}
_RSA_PSS = "1.2.840.113549.1.1.10"
_PSS_HASHES = ("sha1", "sha256", "sha384", "sha512")


@dataclass(frozen=True)
class CheckedRequest:
    """A request that passed every check: its public key and subject."""

    public_key: CertificatePublicKeyTypes
    subject: x509.Name


def check(encoded: object, expected: Iterable[tuple[str, str]]) -> CheckedRequest:
    """Judge the base64 ``csr`` field against the enrollment data ``expected``
    (``(dotted OID, value)`` pairs); raise :class:`KsefError` with KSeF's code otherwise."""
    if not isinstance(encoded, str):
        raise KsefError(21405, ["csr: oczekiwano ciągu znaków base64."])
    try:
        der = base64.b64decode(encoded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise KsefError(21405, ["csr: nieprawidłowe kodowanie base64."]) from exc
    try:
        request = x509.load_der_x509_csr(der)
        oid = request.signature_algorithm_oid.dotted_string
        key = request.public_key()
        subject = request.subject
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise KsefError(25004, ["Nie udało się odczytać wniosku PKCS#10 (DER)."]) from exc
    family, algorithm = _signature_algorithm(request, oid)
    _check_key(key, family)
    _verify(request, key, family, algorithm)
    _check_subject(subject, expected)
    return CheckedRequest(public_key=key, subject=subject)


def _signature_algorithm(
    request: x509.CertificateSigningRequest, oid: str
) -> tuple[str, hashes.HashAlgorithm]:
    if oid in _RSA_PKCS1:
        return "rsa", _RSA_PKCS1[oid]()
    if oid in _ECDSA:
        return "ec", _ECDSA[oid]()
    if oid == _RSA_PSS:
        try:
            algorithm = request.signature_hash_algorithm
        except UnsupportedAlgorithm:
            algorithm = None
        if algorithm is not None and algorithm.name in _PSS_HASHES:
            return "rsa-pss", algorithm
    raise KsefError(25011, [f"Algorytm podpisu {oid} nie jest dozwolony."])


def _check_key(key: CertificatePublicKeyTypes, family: str) -> None:
    if isinstance(key, rsa.RSAPublicKey):
        if key.key_size != 2048:
            raise KsefError(25010, [f"Klucz RSA ma {key.key_size} bitów; wymagane 2048."])
        if family == "ec":
            raise KsefError(25010, ["Klucz RSA nie pasuje do algorytmu podpisu ECDSA."])
        return
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name != "secp256r1":
            raise KsefError(25010, [f"Krzywa {key.curve.name} nie jest dozwolona; wymagana P-256."])
        if family != "ec":
            raise KsefError(25010, ["Klucz EC nie pasuje do algorytmu podpisu RSA."])
        return
    raise KsefError(25010, [f"Typ klucza {type(key).__name__} nie jest dozwolony."])


def _verify(
    request: x509.CertificateSigningRequest,
    key: CertificatePublicKeyTypes,
    family: str,
    algorithm: hashes.HashAlgorithm,
) -> None:
    signed = request.tbs_certrequest_bytes
    signature = request.signature
    try:
        if family == "ec":
            assert isinstance(key, ec.EllipticCurvePublicKey)
            key.verify(signature, signed, ec.ECDSA(algorithm))
        elif family == "rsa-pss":
            assert isinstance(key, rsa.RSAPublicKey)
            pss = padding.PSS(mgf=padding.MGF1(algorithm), salt_length=padding.PSS.AUTO)
            key.verify(signature, signed, pss, algorithm)
        else:
            assert isinstance(key, rsa.RSAPublicKey)
            key.verify(signature, signed, padding.PKCS1v15(), algorithm)
    except (InvalidSignature, ValueError) as exc:
        detail = "Podpis wniosku nie jest zgodny z jego kluczem publicznym."
        raise KsefError(25004, [detail]) from exc


def _check_subject(subject: x509.Name, expected: Iterable[tuple[str, str]]) -> None:
    got: list[tuple[str, str]] = []
    for rdn in subject.rdns:
        for attribute in rdn:
            value = attribute.value
            text = value if isinstance(value, str) else value.hex()
            got.append((attribute.oid.dotted_string, text))
    want = sorted(expected)
    if sorted(got) != want:
        missing = [oid for oid, value in want if (oid, value) not in got]
        extra = [oid for oid, value in got if (oid, value) not in want]
        detail = "Różnice w atrybutach:"
        if missing:
            detail += f" brak lub inna wartość {', '.join(missing)};"
        if extra:
            detail += f" nadmiarowe lub zmienione {', '.join(extra)};"
        raise KsefError(25003, [detail.rstrip(";") + "."])
