"""A :class:`ksef_auth.KeyHandle` on an AWS KMS asymmetric key: ``sign`` is a KMS ``Sign`` call.

The message goes to KMS as it is (``MessageType=RAW``, up to KMS's 4096 bytes, which a XAdES
``SignedInfo`` and a CSR never reach) and KMS hashes it; a longer one is hashed here and sent
as a digest (``MessageType=DIGEST``). KMS returns RSA PKCS#1 v1.5 signatures and DER ECDSA
signatures, which is what the ``KeyHandle`` contract asks for.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from ksef_auth import CertificateError, CredentialError
from ksef_auth.keys import HashName
from ksef_auth_cloud.aws import Call, translated

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.types import CertificatePublicKeyTypes

__all__ = ["KEY_SPECS", "MAX_RAW_MESSAGE", "SIGNING_ALGORITHMS", "KmsKey", "public_key_from"]

#: KMS key specs a KSeF signature can use (RSA 2048+, the NIST curves)
KEY_SPECS = (
    "RSA_2048",
    "RSA_3072",
    "RSA_4096",
    "ECC_NIST_P256",
    "ECC_NIST_P384",
    "ECC_NIST_P521",
)
#: (key family, hash) -> the KMS signing algorithm
SIGNING_ALGORITHMS: dict[tuple[str, str], str] = {
    ("rsa", "sha256"): "RSASSA_PKCS1_V1_5_SHA_256",
    ("rsa", "sha384"): "RSASSA_PKCS1_V1_5_SHA_384",
    ("rsa", "sha512"): "RSASSA_PKCS1_V1_5_SHA_512",
    ("ec", "sha256"): "ECDSA_SHA_256",
    ("ec", "sha384"): "ECDSA_SHA_384",
    ("ec", "sha512"): "ECDSA_SHA_512",
}
MAX_RAW_MESSAGE = 4096


def public_key_from(answer: dict[str, Any], key_id: str) -> CertificatePublicKeyTypes:
    """The public key of a ``GetPublicKey`` answer, after checking the key can sign for KSeF."""
    from cryptography.hazmat.primitives.serialization import load_der_public_key

    usage = answer.get("KeyUsage")
    spec = answer.get("KeySpec") or answer.get("CustomerMasterKeySpec")
    if usage != "SIGN_VERIFY":
        raise CredentialError(
            f"AWS KMS key {key_id} is a {usage} key, not SIGN_VERIFY: create an asymmetric"
            " signing key (ECC_NIST_P256 or RSA_2048)"
        )
    if spec not in KEY_SPECS:
        raise CertificateError(
            f"AWS KMS key {key_id} is {spec}: KSeF accepts RSA (2048 bits or more) and ECDSA"
            " on the NIST curves (ECC_NIST_P256, P384, P521)"
        )
    return load_der_public_key(bytes(answer["PublicKey"]))  # type: ignore[return-value]


class KmsKey:
    """A private key in AWS KMS. Signs there; KMS never hands the key out.

    ``key_id`` is the key's ARN; ``client`` a boto3 KMS client (thread-safe, shared by every
    thread signing with this key); ``label`` the name a key store made it for.
    """

    __slots__ = ("_algorithms", "_client", "_endpoint", "_public", "key_id", "label", "region")

    def __init__(
        self,
        key_id: str,
        client: Any,
        public_key: CertificatePublicKeyTypes,
        *,
        algorithms: tuple[str, ...] = (),
        region: str | None = None,
        endpoint_url: str | None = None,
        label: str | None = None,
    ) -> None:
        self.key_id = key_id
        self.region = region
        self.label = label
        self._client = client
        self._public = public_key
        self._algorithms = algorithms
        self._endpoint = endpoint_url

    def public_key(self) -> CertificatePublicKeyTypes:
        return self._public

    @property
    def client(self) -> Any:
        """The boto3 KMS client this key signs through."""
        return self._client

    def sign(self, data: bytes, hash_name: HashName = "sha256") -> bytes:
        algorithm = SIGNING_ALGORITHMS[(self._family, hash_name)]
        if self._algorithms and algorithm not in self._algorithms:
            raise CredentialError(
                f"AWS KMS key {self.key_id} signs with {', '.join(self._algorithms)}, not"
                f" {algorithm}: use {hash_name} with a key that supports it"
            )
        if len(data) <= MAX_RAW_MESSAGE:
            message, message_type = data, "RAW"
        else:
            message, message_type = hashlib.new(hash_name, data).digest(), "DIGEST"
        call = Call("AWS KMS", "Sign", f"key {self.key_id}", "kms:Sign", (), verb="sign with")
        with translated(call, self.region, self._endpoint):
            answer = self._client.sign(
                KeyId=self.key_id,
                Message=message,
                MessageType=message_type,
                SigningAlgorithm=algorithm,
            )
        return bytes(answer["Signature"])

    @property
    def _family(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        return "ec" if isinstance(self._public, ec.EllipticCurvePublicKey) else "rsa"

    @property
    def description(self) -> str:
        from cryptography.hazmat.primitives.asymmetric import ec

        public = self._public
        if isinstance(public, ec.EllipticCurvePublicKey):
            kind = f"EC-{public.curve.name}"
        else:
            kind = f"RSA-{public.key_size}"  # type: ignore[union-attr]
        return f"{kind} in AWS KMS"

    def __repr__(self) -> str:
        return f"KmsKey({self.key_id!r}, {self.description})"

    def __reduce__(self) -> None:  # type: ignore[override]
        raise TypeError("a KMS key handle cannot be pickled; load it in each process")
