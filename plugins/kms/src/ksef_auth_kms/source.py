"""The ``aws-kms`` credential source: a certificate, and the AWS KMS key that signs for it.

The key is named by id, ARN or alias (``alias/ksef-seal``, ``alias/ksef-{nip}``); the region and
credentials come from the usual AWS settings (as the ``aws-*`` sources of ksef-auth-cloud: the
environment, ``~/.aws`` profiles, SSO, web identity, container and instance roles). The
certificate, which is not secret, comes from a file, an environment variable, or an SSM
parameter, and must be the key's: that is checked at every load.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    CredentialRequest,
    Environment,
    NotAvailable,
    template_fields,
)
from ksef_auth.certificates import describe, leaf_for, load_certificates, text_to_bytes
from ksef_auth.files import read_credential_file
from ksef_auth_cloud.aws import (
    Call,
    aws_session,
    check_boto3,
    client_config,
    endpoint_field,
    metadata_timeout_field,
    region_field,
    resolve_region,
    translated,
)
from ksef_auth_kms.key import KmsKey, public_key_from

if TYPE_CHECKING:
    from cryptography import x509

__all__ = ["KmsSource", "kms_client"]


def _not_blank(instance: object, attribute: attrs.Attribute[Any], value: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a KMS key id, ARN or alias, got {value!r}")
    template_fields(value)


def _template(instance: object, attribute: attrs.Attribute[Any], value: str | None) -> None:
    if value is not None:
        if not value.strip():
            raise ValueError(f"{attribute.name} must not be empty")
        template_fields(value)


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or str(value) == "" else Path(value).expanduser()


def kms_client(region: str | None, endpoint_url: str | None, metadata_timeout: float) -> Any:
    """A boto3 KMS client with the usual AWS credentials (``NotAvailable`` when this host has
    none), short timeouts and one retry."""
    session = aws_session(region, metadata_timeout)
    call = Call("AWS KMS", "client", "the KMS endpoint", "kms:*", ())
    with translated(call, region, endpoint_url):
        return session.client("kms", endpoint_url=endpoint_url, config=client_config())


@attrs.frozen
class KmsSource:
    """A certificate and the AWS KMS asymmetric key that signs for it (the key never leaves
    KMS)."""

    key_id: str = attrs.field(
        validator=_not_blank,
        metadata={
            "help": "The KMS key: id, ARN, alias (alias/ksef-seal) or alias ARN; may hold the"
            " context, e.g. alias/ksef-{nip}."
        },
    )
    certificate: Path | None = attrs.field(
        default=None,
        converter=_path,
        metadata={"help": "The certificate file (PEM or DER, with its chain).", "path": True},
    )
    certificate_var: str | None = attrs.field(
        default=None,
        validator=_template,
        metadata={
            "help": "An environment variable holding the certificate (PEM, or base64 of DER);"
            " may hold the context."
        },
    )
    certificate_parameter: str | None = attrs.field(
        default=None,
        validator=_template,
        metadata={
            "help": "An SSM parameter holding the certificate (PEM), e.g. /ksef/{nip}/certificate;"
            " read with the same AWS settings."
        },
    )
    region: str | None = region_field()
    endpoint_url: str | None = endpoint_field()
    metadata_timeout: float = metadata_timeout_field()

    def __attrs_post_init__(self) -> None:
        given = [
            o for o in (self.certificate, self.certificate_var, self.certificate_parameter) if o
        ]
        if len(given) != 1:
            raise ValueError(
                "set exactly one of certificate (a file), certificate_var (a variable) and"
                " certificate_parameter (an SSM parameter)"
            )

    def load(self, request: CredentialRequest) -> CertificateCredential:
        key_id = request.fill(self.key_id)
        region = resolve_region(self.region, key_id)
        client = kms_client(region, self.endpoint_url, self.metadata_timeout)
        what = f"key {key_id}"
        call = Call("AWS KMS", "GetPublicKey", what, "kms:GetPublicKey", ("NotFoundException",))
        with translated(call, region, self.endpoint_url):
            answer = client.get_public_key(KeyId=key_id)
        public = public_key_from(answer, key_id)
        arn = str(answer.get("KeyId") or key_id)
        certificates, where = self._certificates(request, region)
        leaf = leaf_for(certificates, public)
        if leaf is None:
            raise CertificateError(
                f"the certificate in {where} ({describe(certificates[0])}) is not for AWS KMS"
                f" {what}: give the certificate issued for this key"
            )
        key = KmsKey(
            arn,
            client,
            public,
            algorithms=tuple(answer.get("SigningAlgorithms") or ()),
            region=region,
            endpoint_url=self.endpoint_url,
        )
        chain = [c for c in certificates if c is not leaf]
        return CertificateCredential(leaf, key, chain=chain, source=f"aws-kms:{key_id}")

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """No network: the options were validated when built; a certificate file must exist.
        Whether the key exists and may be used is known only at login."""
        check_boto3()
        if self.certificate is not None and not self.certificate.is_file():
            raise NotAvailable(f"certificate file {self.certificate} does not exist")

    # --- internals ------------------------------------------------------------------------------

    def _certificates(
        self, request: CredentialRequest, region: str | None
    ) -> tuple[list[x509.Certificate], str]:
        if self.certificate is not None:
            where = f"certificate file {self.certificate}"
            data = read_credential_file(self.certificate, "certificate file")
        elif self.certificate_var is not None:
            name = request.fill(self.certificate_var)
            where = f"environment variable {name}"
            value = os.environ.get(name, "")
            if not value.strip():
                raise NotAvailable(f"{where} is not set; set it to the key's certificate (PEM)")
            data = text_to_bytes(value, where)
        else:
            assert self.certificate_parameter is not None
            name = request.fill(self.certificate_parameter)
            where = f"SSM parameter {name}"
            data = text_to_bytes(self._parameter(name, region), where)
        return load_certificates(data, where), where

    def _parameter(self, name: str, region: str | None) -> str:
        session = aws_session(resolve_region(region, name), self.metadata_timeout)
        call = Call(
            "AWS SSM Parameter Store",
            "GetParameter",
            f"parameter {name}",
            "ssm:GetParameter",
            ("ParameterNotFound",),
        )
        with translated(call, region, self.endpoint_url):
            ssm = session.client("ssm", endpoint_url=self.endpoint_url, config=client_config())
            answer = ssm.get_parameter(Name=name, WithDecryption=True)
        return str((answer.get("Parameter") or {}).get("Value") or "")

    def __repr__(self) -> str:
        certificate = self.certificate or self.certificate_var or self.certificate_parameter
        return f"KmsSource(key_id={self.key_id!r}, certificate={str(certificate)!r})"
