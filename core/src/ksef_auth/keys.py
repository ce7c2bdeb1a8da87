"""Private keys behind an interface that signs and never hands out key bytes.

A :class:`KeyHandle` is what a certificate credential carries. :class:`LocalKey` wraps a key
loaded from a file (PEM, DER, PKCS#12); a hardware token or a cloud KMS plugin implements the
same three members, and every signer works with it unchanged.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Protocol, runtime_checkable

from ksef_auth.errors import CertificateError

if TYPE_CHECKING:
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
