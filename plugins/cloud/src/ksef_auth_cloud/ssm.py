"""``aws-ssm``: a KSeF token from an AWS Systems Manager Parameter Store ``SecureString``.

The parameter is read with decryption. A parameter that does not exist is *not available* (a
chain moves on); any other AWS error stops the chain with the error code, the parameter name and
what to do, never the value. A plain ``String`` parameter is accepted with a warning (anyone who
may describe parameters can read it); a ``StringList`` is refused.

With ``kind = "certificate"`` the parameter holds a certificate and its key: PEM text, base64 of
a PKCS#12 file (opened with ``password``), or a JSON object with PEM fields. (A standard
parameter holds 4 KB, an advanced one 8 KB: an EC certificate and key fit either.)
"""

from __future__ import annotations

import logging
from typing import Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    SecretRef,
    SharedSecret,
)
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
from ksef_auth_cloud.credential import (
    check_certificate_options,
    kind_field,
    make_certificate,
    make_credential,
    name_template,
    not_blank,
    password_field,
)

__all__ = ["AwsSsmToken"]

log = logging.getLogger("ksef_auth.cloud")

NOT_FOUND = ("ParameterNotFound", "ParameterVersionNotFound")


@attrs.frozen
class AwsSsmToken:
    """A KSeF token from an AWS SSM Parameter Store SecureString parameter."""

    name: str = attrs.field(
        validator=[not_blank, name_template],
        metadata={
            "help": "The parameter's name (/shop/ksef/token) or ARN; may hold the context,"
            " e.g. /ksef/{nip}/token."
        },
    )
    region: str | None = region_field()
    endpoint_url: str | None = endpoint_field()
    metadata_timeout: float = metadata_timeout_field()
    kind: Literal["ksef-token", "shared-secret", "certificate"] = kind_field()
    password: SecretRef | None = password_field()

    def __attrs_post_init__(self) -> None:
        check_certificate_options(self.kind, self.password)

    def load(self, request: CredentialRequest) -> KsefToken | SharedSecret | CertificateCredential:
        name = request.fill(self.name)
        region = resolve_region(self.region, name)
        what = f"parameter {name}"
        call = Call("AWS SSM Parameter Store", "GetParameter", what, "ssm:GetParameter", NOT_FOUND)
        session = aws_session(region, self.metadata_timeout)
        with translated(call, region, self.endpoint_url):
            client = session.client("ssm", endpoint_url=self.endpoint_url, config=client_config())
            response = client.get_parameter(Name=name, WithDecryption=True)
        parameter = response.get("Parameter") or {}
        kind = parameter.get("Type")
        if kind == "StringList":
            raise CredentialError(
                f"{what} is a StringList; store the value as a SecureString parameter"
            )
        if kind == "String":
            log.warning("%s is a plain String parameter: store it as a SecureString", what)
        value = parameter.get("Value")
        if not isinstance(value, str):
            raise CredentialError(f"{what} has no value")
        if self.kind == "certificate":
            return make_certificate(
                value, password=self.password, where=what, source=f"aws-ssm:{name}"
            )
        return make_credential(value, self.kind, source=f"aws-ssm:{name}")

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """No network: the options were validated when built; whether the parameter exists and
        may be read is known only at login."""
        check_boto3()
