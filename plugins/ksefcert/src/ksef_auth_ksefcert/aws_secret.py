"""A KSeF certificate kept in an AWS Secrets Manager secret, and a key store that writes one.

The secret is what the ``aws-secrets-manager`` source (plugin ``ksef-auth-cloud``) reads with
``kind = "certificate"``: a JSON object with PEM fields (``certificate``, ``private_key``,
``chain``), or, when a ``password`` is given, ``{"pkcs12": "<base64>"}`` of a PKCS#12 file
encrypted with it (so the key is encrypted inside the secret too, not only by Secrets Manager's
own KMS encryption). The key store ``aws-secrets-manager`` makes the key in this process and
puts the secret (``PutSecretValue``; ``CreateSecret`` when it does not exist yet), which is what
an enrollment and a renewal need. AWS is reached through ``ksef-auth-cloud``'s session and error
handling (no slow metadata probe, short timeouts, errors that name the secret and the IAM
permission, never a value): ``pip install ksef-auth-ksefcert[aws]``.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import (
    CertificateCredential,
    ConfigError,
    CredentialError,
    CredentialRequest,
    KeySpec,
    LocalKey,
    SecretRef,
)
from ksef_auth_ksefcert.pkcs12_file import new_private_key, reference_table

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from ksef_auth import KeyHandle


def _cloud() -> Any:
    try:
        import ksef_auth_cloud.aws as aws
    except ImportError:
        raise ConfigError(
            "a KSeF certificate kept in AWS Secrets Manager needs the cloud plugin: pip install"
            " ksef-auth-cloud (or ksef-auth-ksefcert[aws])"
        ) from None
    return aws


def _not_blank(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a secret name or ARN")


@attrs.define(eq=False)
class AwsSecretKeyStore:
    """Makes keys in this process and keeps each with its certificate in an AWS Secrets Manager
    secret (PEM fields, or an encrypted PKCS#12 when a password is given)."""

    secret_id: str = attrs.field(
        validator=_not_blank, metadata={"help": "The secret's name or ARN (created if missing)."}
    )
    region: str | None = attrs.field(
        default=None, metadata={"help": "AWS region (default: AWS_REGION or the profile's)."}
    )
    endpoint_url: str | None = attrs.field(
        default=None,
        metadata={"help": "Another Secrets Manager endpoint (https, or loopback for tests)."},
    )
    password: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "Encrypt the key inside the secret: a PKCS#12 with this password.",
        },
    )
    metadata_timeout: float = attrs.field(
        default=0.25,
        converter=float,
        metadata={"help": "Seconds to wait for the EC2 metadata service (0: never ask it)."},
    )
    _keys: dict[int, tuple[LocalKey, PrivateKeyTypes]] = attrs.field(
        factory=dict, init=False, repr=False
    )

    @property
    def where(self) -> str:
        return f"AWS Secrets Manager secret {self.secret_id}"

    def generate(self, spec: KeySpec) -> KeyHandle:
        _cloud()  # the plugin is there before an enrollment starts
        key = new_private_key(spec)
        handle = LocalKey(key)
        self._keys[id(handle)] = (handle, key)
        return handle

    def keep(
        self, key: KeyHandle, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> Mapping[str, Any]:
        made = self._keys.pop(id(key), None)
        if made is None or made[0] is not key:
            raise CredentialError(
                "the aws-secrets-manager key store keeps only keys it made itself"
            )
        self._put(self._value(made[1], certificate, chain))
        table: dict[str, Any] = {
            "use": "aws-secrets-manager",
            "secret_id": self.secret_id,
            "kind": "certificate",
        }
        for name in ("region", "endpoint_url"):
            if getattr(self, name):
                table[name] = getattr(self, name)
        if self.password is not None:
            table["password"] = reference_table(self.password)
        return table

    def _value(
        self,
        key: PrivateKeyTypes,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate],
    ) -> str:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        if self.password is not None:
            problem = self.password.problem()
            if problem:
                raise CredentialError(f"the password for {self.where} cannot be read: {problem}")
            secret = self.password.get().reveal().encode("utf-8")
            data = pkcs12.serialize_key_and_certificates(
                f"ksef-certificate {certificate.serial_number:016X}".encode(),
                key,  # type: ignore[arg-type]
                certificate,
                list(chain) or None,
                serialization.BestAvailableEncryption(secret),
            )
            return json.dumps({"pkcs12": base64.b64encode(data).decode("ascii")})
        pem = serialization.Encoding.PEM
        return json.dumps(
            {
                "certificate": certificate.public_bytes(pem).decode("ascii"),
                "private_key": key.private_bytes(
                    pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                ).decode("ascii"),
                "chain": "".join(c.public_bytes(pem).decode("ascii") for c in chain),
            }
        )

    def _put(self, value: str) -> None:
        aws = _cloud()
        region = aws.resolve_region(self.region, self.secret_id)
        session = aws.aws_session(region, self.metadata_timeout)
        call = aws.Call(
            "AWS Secrets Manager",
            "PutSecretValue",
            f"secret {self.secret_id}",
            "secretsmanager:PutSecretValue (and CreateSecret for a new one)",
            (),
            "write",
        )
        with aws.translated(call, region, self.endpoint_url):
            client = session.client(
                "secretsmanager", endpoint_url=self.endpoint_url, config=aws.client_config()
            )
            try:
                client.put_secret_value(SecretId=self.secret_id, SecretString=value)
            except client.exceptions.ResourceNotFoundException:
                client.create_secret(Name=self.secret_id, SecretString=value)

    def __repr__(self) -> str:
        return f"AwsSecretKeyStore({self.secret_id!r}, region={self.region!r})"


@attrs.frozen
class AwsSecret:
    """One Secrets Manager secret holding a KSeF certificate and its key (see the module)."""

    secret_id: str
    region: str | None = None
    endpoint_url: str | None = None
    password: SecretRef | None = None
    metadata_timeout: float = 0.25

    @property
    def where(self) -> str:
        return f"AWS Secrets Manager secret {self.secret_id}"

    @property
    def label(self) -> str:
        return self.secret_id.rsplit("/", 1)[-1].rsplit(":", 1)[-1] or "ksef-certificate"

    def __attrs_post_init__(self) -> None:
        try:
            self._reader()  # the cloud plugin's checks (region, https endpoint) when it is here
        except ConfigError:
            pass  # no cloud plugin: load says what to install
        except ValueError as exc:
            text = str(exc)
            if text.startswith(("endpoint_url", "region")):  # the source's options: aws_*
                text = "aws_" + text
            raise ValueError(text) from None

    def _reader(self) -> Any:
        _cloud()
        from ksef_auth_cloud import AwsSecretsManagerToken

        return AwsSecretsManagerToken(
            secret_id=self.secret_id,
            region=self.region,
            endpoint_url=self.endpoint_url,
            metadata_timeout=self.metadata_timeout,
            kind="certificate",
            password=self.password,
        )

    def load(self, request: CredentialRequest) -> CertificateCredential:
        """The certificate and key; ``NotAvailable`` when the secret does not exist."""
        credential = self._reader().load(request)
        assert isinstance(credential, CertificateCredential)
        return credential

    def successor_store(self) -> AwsSecretKeyStore:
        """A key store whose ``keep`` replaces this secret's value (a renewal's successor)."""
        return AwsSecretKeyStore(
            secret_id=self.secret_id,
            region=self.region,
            endpoint_url=self.endpoint_url,
            password=self.password,
            metadata_timeout=self.metadata_timeout,
        )
