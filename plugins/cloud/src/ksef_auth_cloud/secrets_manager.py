"""``aws-secrets-manager``: a KSeF token from AWS Secrets Manager.

The secret is the token itself (a plain string secret), or a JSON object holding it under
``json_key`` (the console's "key/value" secrets: ``{"ksef_token": "...", "nip": "..."}``).
A secret that does not exist is *not available* (a chain moves on); any other AWS error stops the
chain with the error code, the secret id and what to do, never the value.

With ``kind = "certificate"`` the secret is a certificate and its key: a binary secret holding a
PKCS#12 file, or a string holding base64 of one, PEM text, or a JSON object with PEM fields
(``certificate``, ``private_key``, ``chain``) or a base64 ``pkcs12`` field (or, with ``json_key``,
one key of a JSON secret holding any of these). ``password`` opens the PKCS#12 file or an
encrypted key.
"""

from __future__ import annotations

import json
from typing import Any, Literal

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
    optional_not_blank,
    password_field,
)

__all__ = ["AwsSecretsManagerToken", "pick_json_key"]

NOT_FOUND = ("ResourceNotFoundException",)


def pick_json_key(text: str, key: str, what: str) -> str:
    """The string under ``key`` in the JSON object ``text``; :class:`CredentialError` naming
    ``what`` and the key (and the keys present, never a value) otherwise."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError:
        raise CredentialError(
            f"{what} is not JSON, but json_key = {key!r} needs a JSON object;"
            " drop json_key for a plain string secret, or store a JSON object"
        ) from None
    if not isinstance(data, dict):
        raise CredentialError(
            f"{what} holds a JSON {type(data).__name__}, but json_key = {key!r} needs an object"
        )
    if key not in data:
        keys = ", ".join(sorted(map(str, data))) or "none"
        raise CredentialError(f"{what} has no key {key!r} (its keys: {keys}); fix json_key")
    value = data[key]
    if not isinstance(value, str):
        raise CredentialError(
            f"{what}: the value under {key!r} is a JSON {type(value).__name__}, not a string"
        )
    return value


@attrs.frozen
class AwsSecretsManagerToken:
    """A KSeF token from AWS Secrets Manager: the secret string, or one key of a JSON secret."""

    secret_id: str = attrs.field(
        validator=[not_blank, name_template],
        metadata={"help": "The secret's name or ARN; may hold the context, e.g. ksef/{nip}."},
    )
    region: str | None = region_field()
    json_key: str | None = attrs.field(
        default=None,
        validator=optional_not_blank,
        metadata={"help": "When the secret is a JSON object: the key the token is under."},
    )
    endpoint_url: str | None = endpoint_field()
    metadata_timeout: float = metadata_timeout_field()
    kind: Literal["ksef-token", "shared-secret", "certificate"] = kind_field()
    password: SecretRef | None = password_field()

    def __attrs_post_init__(self) -> None:
        check_certificate_options(self.kind, self.password)

    def load(self, request: CredentialRequest) -> KsefToken | SharedSecret | CertificateCredential:
        secret_id = request.fill(self.secret_id)
        region = resolve_region(self.region, secret_id)
        what = f"secret {secret_id}"
        call = Call(
            "AWS Secrets Manager",
            "GetSecretValue",
            what,
            "secretsmanager:GetSecretValue",
            NOT_FOUND,
        )
        session = aws_session(region, self.metadata_timeout)
        with translated(call, region, self.endpoint_url):
            client = session.client(
                "secretsmanager", endpoint_url=self.endpoint_url, config=client_config()
            )
            response = client.get_secret_value(SecretId=secret_id)
        text = response.get("SecretString")
        source = f"aws-secrets-manager:{secret_id}"
        if self.kind == "certificate":
            return self._certificate(response, what, source)
        if text is None:
            binary = response.get("SecretBinary")
            try:
                text = bytes(binary).decode("utf-8") if binary is not None else None
            except (TypeError, UnicodeDecodeError):
                text = None
            if text is None:
                raise CredentialError(
                    f"{what} has no text value (a binary secret that is not UTF-8);"
                    " store the KSeF token as a secret string"
                )
        if self.json_key is not None:
            text = pick_json_key(text, self.json_key, what)
            source += f"#{self.json_key}"
        return make_credential(text, self.kind, source=source)

    def _certificate(
        self, response: dict[str, Any], what: str, source: str
    ) -> CertificateCredential:
        value: str | bytes | None = response.get("SecretString")
        if value is None:
            binary = response.get("SecretBinary")
            value = bytes(binary) if binary is not None else None
        if value is None:
            raise CredentialError(f"{what} has no value; store the certificate in it")
        if self.json_key is not None:
            text = value if isinstance(value, str) else value.decode("utf-8", "replace")
            value = pick_json_key(text, self.json_key, what)
            what += f" key {self.json_key!r}"
            source += f"#{self.json_key}"
        return make_certificate(value, password=self.password, where=what, source=source)

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """No network: the options were validated when built; whether the secret exists and may
        be read is known only at login."""
        check_boto3()
