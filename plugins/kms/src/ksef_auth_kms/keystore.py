"""The ``aws-kms`` key store: a new asymmetric signing key created in AWS KMS (its private half
never leaves KMS) for a KSeF-certificate enrollment, and the issued certificate kept where the
``aws-kms`` source will read it: a file, or an SSM parameter (certificates are not secret)."""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import CertificateError, CredentialError, KeySpec
from ksef_auth.certificates import describe, same_public_key
from ksef_auth.files import write_private
from ksef_auth_cloud.aws import (
    Call,
    aws_session,
    client_config,
    endpoint_field,
    metadata_timeout_field,
    region_field,
    resolve_region,
    translated,
)
from ksef_auth_kms.key import KmsKey, public_key_from
from ksef_auth_kms.source import kms_client

if TYPE_CHECKING:
    from cryptography import x509

    from ksef_auth import KeyHandle

__all__ = ["KmsKeyStore", "alias_for"]

_KEY_SPECS = {"ec-p256": "ECC_NIST_P256", "rsa-2048": "RSA_2048"}


def alias_for(prefix: str, label: str) -> str:
    """``alias/<prefix><label>`` with what an alias cannot hold (spaces, ...) made ``-``."""
    name = re.sub(r"[^A-Za-z0-9/_-]+", "-", f"{prefix}{label}").strip("-/")
    return f"alias/{name}"[:256]


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or str(value) == "" else Path(value).expanduser()


@attrs.frozen
class KmsKeyStore:
    """New signing keys created in AWS KMS; their certificates kept in a folder or in SSM."""

    certificate_dir: Path | None = attrs.field(
        default=None,
        converter=_path,
        metadata={"help": "Folder for the issued certificates (<key id>.pem).", "path": True},
    )
    certificate_parameter_prefix: str | None = attrs.field(
        default=None,
        metadata={
            "help": "SSM parameter name prefix for the issued certificates, e.g."
            " /ksef/certificates/ (the parameter is the prefix and the key id)."
        },
    )
    alias_prefix: str = attrs.field(
        default="ksef-auth/",
        metadata={"help": "The key's alias is alias/<alias_prefix><label>."},
    )
    region: str | None = region_field()
    endpoint_url: str | None = endpoint_field()
    metadata_timeout: float = metadata_timeout_field()

    def __attrs_post_init__(self) -> None:
        if (self.certificate_dir is None) == (self.certificate_parameter_prefix is None):
            raise ValueError(
                "set exactly one of certificate_dir (a folder) and certificate_parameter_prefix"
                " (SSM): where the issued certificate is kept"
            )
        prefix = self.certificate_parameter_prefix
        if prefix is not None and not prefix.startswith("/"):
            raise ValueError(f"certificate_parameter_prefix must start with /, got {prefix!r}")

    def generate(self, spec: KeySpec) -> KmsKey:
        """A new SIGN_VERIFY key in KMS (``ECC_NIST_P256`` or ``RSA_2048``), tagged with the
        label; its alias is set by :meth:`keep`, once the certificate is there."""
        region = resolve_region(self.region)
        client = kms_client(region, self.endpoint_url, self.metadata_timeout)
        call = Call("AWS KMS", "CreateKey", f"a key for {spec.label!r}", "kms:CreateKey", ())
        with translated(call, region, self.endpoint_url):
            created = client.create_key(
                KeySpec=_KEY_SPECS[spec.algorithm],
                KeyUsage="SIGN_VERIFY",
                Description=f"ksef-auth: {spec.label}"[:8192],
                Tags=[{"TagKey": "ksef-auth:label", "TagValue": spec.label[:256]}],
            )
            arn = created["KeyMetadata"]["Arn"]
            answer = client.get_public_key(KeyId=arn)
        public = public_key_from(answer, arn)
        return KmsKey(
            arn,
            client,
            public,
            algorithms=tuple(answer.get("SigningAlgorithms") or ()),
            region=region,
            endpoint_url=self.endpoint_url,
            label=spec.label,
        )

    def keep(
        self, key: KeyHandle, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> Mapping[str, Any]:
        """Keep ``certificate`` (and ``chain``) for ``key`` and point the alias at the key; the
        credential table that loads them (``{"use": "aws-kms", "key_id": <ARN>, ...}``)."""
        from cryptography.hazmat.primitives import serialization

        if not isinstance(key, KmsKey):
            raise CredentialError(
                f"the aws-kms key store keeps certificates for KMS keys it created, not for a"
                f" {key.description} key"
            )
        if not same_public_key(key.public_key(), certificate.public_key()):  # type: ignore[arg-type]
            raise CertificateError(
                f"the certificate {describe(certificate)} is not for {key!r}: nothing was kept"
            )
        pem = b"".join(c.public_bytes(serialization.Encoding.PEM) for c in (certificate, *chain))
        key_uuid = key.key_id.rsplit("/", 1)[-1]
        table: dict[str, Any] = {"use": "aws-kms", "key_id": key.key_id}
        if self.certificate_dir is not None:
            path = self.certificate_dir / f"{key_uuid}.pem"
            try:
                write_private(path, pem)  # not secret, but 0600 hurts nobody
            except OSError as exc:
                raise CredentialError(f"cannot write {path}: {exc.strerror}") from None
            table["certificate"] = str(path)
        else:
            assert self.certificate_parameter_prefix is not None
            name = f"{self.certificate_parameter_prefix}{key_uuid}"
            self._put_parameter(name, pem.decode("ascii"), key.region)
            table["certificate_parameter"] = name
        self._point_alias(key, certificate)
        if key.region:
            table["region"] = key.region
        if self.endpoint_url:
            table["endpoint_url"] = self.endpoint_url
        return table

    # --- internals ------------------------------------------------------------------------------

    def _put_parameter(self, name: str, value: str, region: str | None) -> None:
        session = aws_session(region, self.metadata_timeout)
        call = Call(
            "AWS SSM Parameter Store", "PutParameter", f"parameter {name}", "ssm:PutParameter", ()
        )
        with translated(call, region, self.endpoint_url):
            ssm = session.client("ssm", endpoint_url=self.endpoint_url, config=client_config())
            tier = "Advanced" if len(value) > 4096 else "Standard"
            ssm.put_parameter(Name=name, Value=value, Type="String", Overwrite=True, Tier=tier)

    def _point_alias(self, key: KmsKey, certificate: x509.Certificate) -> None:
        """``alias/<prefix><label>`` now names this key (a renewal moves it to the new key)."""
        alias = alias_for(self.alias_prefix, key.label or certificate.subject.rfc4514_string())
        client = key.client
        call = Call("AWS KMS", "CreateAlias", f"alias {alias}", "kms:CreateAlias", ())
        with translated(call, key.region, self.endpoint_url):
            try:
                client.create_alias(AliasName=alias, TargetKeyId=key.key_id)
            except client.exceptions.AlreadyExistsException:
                client.update_alias(AliasName=alias, TargetKeyId=key.key_id)

    def __repr__(self) -> str:
        where = self.certificate_dir or self.certificate_parameter_prefix
        return f"KmsKeyStore(certificates={str(where)!r}, region={self.region!r})"
