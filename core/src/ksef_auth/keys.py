"""Private keys behind an interface that signs and never hands out key bytes.

A :class:`KeyHandle` is what a certificate credential carries. :class:`LocalKey` wraps a key
loaded from a file (PEM, DER, PKCS#12); a hardware token or a cloud KMS plugin implements the
same three members, and every signer works with it unchanged.

A *key store* (:class:`ksef_auth.components.KeyStore`) makes new keys where they will live (in a
PKCS#11 token, a KMS, or this process) for a KSeF-certificate enrollment;
:func:`build_csr` then builds the certificate signing request through the key handle, so the
key itself is never needed in memory.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

import attrs

from ksef_auth.errors import CertificateError
from ksef_auth.secret import note_secret, watching

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificatePublicKeyTypes,
        PrivateKeyTypes,
    )

HashName = Literal["sha256", "sha384", "sha512"]


@runtime_checkable
class KeyHandle(Protocol):
    """A private key that can sign.

    ``sign`` returns RSA PKCS#1 v1.5 signatures for RSA keys and DER-encoded ECDSA signatures for
    EC keys (convert to raw ``R||S`` where a format, such as XML-DSig, asks for it).
    """

    def public_key(self) -> CertificatePublicKeyTypes: ...

    def sign(self, data: bytes, hash_name: HashName = "sha256") -> bytes: ...

    @property
    def description(self) -> str:
        """Safe to print: algorithm and size, e.g. ``RSA-2048`` or ``EC-secp256r1``."""
        ...


def _note_key(key: PrivateKeyTypes) -> None:
    """Report the lines of ``key``'s unencrypted PEM forms as secrets (see ``secret.watch``)."""
    from cryptography.hazmat.primitives import serialization

    for form in (serialization.PrivateFormat.PKCS8, serialization.PrivateFormat.TraditionalOpenSSL):
        pem = key.private_bytes(serialization.Encoding.PEM, form, serialization.NoEncryption())
        for line in pem.decode("ascii").splitlines():
            if not line.startswith("-----"):
                note_secret(line)


class LocalKey:
    """A :class:`KeyHandle` over a ``cryptography`` private key held in this process."""

    __slots__ = ("_key",)

    def __init__(self, key: PrivateKeyTypes) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec, rsa

        if not isinstance(key, (rsa.RSAPrivateKey, ec.EllipticCurvePrivateKey)):
            raise CertificateError(
                f"only RSA and EC keys can sign for KSeF, not {type(key).__name__};"
                " use an RSA (2048 bits or more) or EC P-256/P-384/P-521 key"
            )
        self._key = key
        if watching():  # a test's secret guard learns the key's PEM lines
            _note_key(key)

    def public_key(self) -> CertificatePublicKeyTypes:
        return self._key.public_key()

    def sign(self, data: bytes, hash_name: HashName = "sha256") -> bytes:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec, padding

        algorithms: dict[str, hashes.HashAlgorithm] = {
            "sha256": hashes.SHA256(),
            "sha384": hashes.SHA384(),
            "sha512": hashes.SHA512(),
        }
        algorithm = algorithms[hash_name]
        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return self._key.sign(data, ec.ECDSA(algorithm))
        return self._key.sign(data, padding.PKCS1v15(), algorithm)

    @property
    def description(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        if isinstance(self._key, ec.EllipticCurvePrivateKey):
            return f"EC-{self._key.curve.name}"
        return f"RSA-{self._key.key_size}"

    def __repr__(self) -> str:
        return f"LocalKey({self.description})"

    def __reduce__(self) -> None:  # type: ignore[override]
        raise TypeError("a private key cannot be pickled")


# --- new keys ---------------------------------------------------------------------------------

KeyAlgorithm = Literal["ec-p256", "rsa-2048"]
#: the key types KSeF issues certificates for (25010 otherwise); EC is the recommended one
KEY_ALGORITHMS: tuple[KeyAlgorithm, ...] = ("ec-p256", "rsa-2048")


@attrs.frozen(kw_only=True)
class KeySpec:
    """What key a key store is asked to make: ``algorithm`` and a ``label`` naming it where it
    lives (a PKCS#11 label, a KMS alias, a vault entry), safe to print."""

    algorithm: KeyAlgorithm = attrs.field(
        default="ec-p256", validator=attrs.validators.in_(KEY_ALGORITHMS)
    )
    label: str = attrs.field(validator=attrs.validators.min_len(1))


def generate_private_key(spec: KeySpec) -> PrivateKeyTypes:
    """A new ``cryptography`` private key for ``spec``, for a key store that keeps keys itself
    (and so must serialize them, which a :class:`LocalKey` never does)."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if spec.algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def generate_local_key(spec: KeySpec) -> LocalKey:
    """A new key in this process (``cryptography``), for :class:`LocalKey` users."""
    return LocalKey(generate_private_key(spec))


# --- certificate signing requests through a key handle ------------------------------------------

_SIGNATURE_OIDS: dict[tuple[str, HashName], str] = {
    ("rsa", "sha256"): "1.2.840.113549.1.1.11",
    ("rsa", "sha384"): "1.2.840.113549.1.1.12",
    ("rsa", "sha512"): "1.2.840.113549.1.1.13",
    ("ec", "sha256"): "1.2.840.10045.4.3.2",
    ("ec", "sha384"): "1.2.840.10045.4.3.3",
    ("ec", "sha512"): "1.2.840.10045.4.3.4",
}


def build_csr(
    key: KeyHandle, subject: x509.Name, *, hash_name: HashName = "sha256"
) -> x509.CertificateSigningRequest:
    """A PKCS#10 request for ``subject`` and ``key``'s public key, signed through ``key.sign``.

    ``cryptography`` signs CSRs only with keys it holds; this builds the DER itself
    (``CertificationRequestInfo`` with no attributes, then the signature over it), so a key in
    a token or a KMS signs its own request. Raises :class:`CertificateError` when the key is
    neither RSA nor EC, or its signature does not verify.
    """
    from cryptography import x509 as _x509
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    public = key.public_key()
    if isinstance(public, rsa.RSAPublicKey):
        family = "rsa"
    elif isinstance(public, ec.EllipticCurvePublicKey):
        family = "ec"
    else:
        raise CertificateError(f"a CSR needs an RSA or EC key, not {type(public).__name__}")
    spki = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    info = _der(0x30, _der(0x02, b"\x00") + subject.public_bytes() + spki + _der(0xA0, b""))
    algorithm = _oid(_SIGNATURE_OIDS[(family, hash_name)])
    algorithm_id = _der(0x30, algorithm + (_der(0x05, b"") if family == "rsa" else b""))
    signature = key.sign(info, hash_name)
    request = _x509.load_der_x509_csr(
        _der(0x30, info + algorithm_id + _der(0x03, b"\x00" + signature))
    )
    if not request.is_signature_valid:
        raise CertificateError(
            f"the key {key.description} made a signature that does not verify against its own"
            " public key; the key handle is broken (check the key and certificate pairing)"
        )
    return request


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def _oid(dotted: str) -> bytes:
    parts = [int(p) for p in dotted.split(".")]
    body = bytearray([40 * parts[0] + parts[1]])
    for part in parts[2:]:
        chunk = [part & 0x7F]
        part >>= 7
        while part:
            chunk.append(0x80 | (part & 0x7F))
            part >>= 7
        body.extend(reversed(chunk))
    return _der(0x06, bytes(body))
