"""What every cloud source shares: the ``kind`` and ``password`` options and turning a fetched
value into a credential (a token, a shared secret, or a certificate and its key)."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    CredentialError,
    KsefToken,
    SecretRef,
    SharedSecret,
    template_fields,
)

Kind = Literal["ksef-token", "shared-secret", "certificate"]
KINDS: tuple[Kind, ...] = ("ksef-token", "shared-secret", "certificate")


def kind_field() -> Any:
    """The ``kind`` option, the same on every source of this plugin."""
    return attrs.field(
        default="ksef-token",
        validator=attrs.validators.in_(KINDS),
        metadata={
            "help": "ksef-token for KSeF tokens, shared-secret for HMAC schemes, certificate for"
            " a certificate and its key (PKCS#12, PEM, or a JSON object with PEM fields)."
        },
    )


def _ref(value: SecretRef | None) -> SecretRef | None:
    if value is None or isinstance(value, SecretRef):
        return value
    raise TypeError(
        "secrets are given by reference: SecretRef.env(NAME) or SecretRef.file(PATH)"
        ' ({ env = "NAME" } or { file = "path" } in a strategy file), never inline'
    )


def password_field() -> Any:
    """The ``password`` option of ``kind = "certificate"``: a reference, never a value."""
    return attrs.field(
        default=None,
        converter=_ref,
        metadata={
            "help": "kind = certificate: password of the PKCS#12 file or encrypted key, by"
            " reference ({ env = NAME } or { file = PATH }).",
            "secret": True,
        },
    )


def check_certificate_options(kind: Kind, password: SecretRef | None) -> None:
    """``password`` is for certificates only (ValueError otherwise)."""
    if password is not None and kind != "certificate":
        raise ValueError("password is for kind = certificate only")


def make_certificate(
    value: str | bytes,
    *,
    password: SecretRef | None,
    where: str,
    source: str,
    key: str | None = None,
    key_where: str | None = None,
) -> CertificateCredential:
    """The certificate credential in ``value`` (see :func:`ksef_auth.certificates.
    credential_from_value`); errors name ``where``, never the value."""
    from ksef_auth.certificates import credential_from_value

    return credential_from_value(
        value, key=key, password=password, where=where, key_where=key_where, source=source
    )


def not_blank(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a non-empty string."""
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{attribute.name} must be a non-empty string, got {value!r}")


def name_template(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: a name whose placeholders (``{nip}``, ``{context}``, ...) are known."""
    if isinstance(value, str):
        template_fields(value)


def optional_not_blank(instance: object, attribute: attrs.Attribute[Any], value: object) -> None:
    """attrs validator: None or a non-empty string."""
    if value is not None:
        not_blank(instance, attribute, value)


def make_credential(
    value: str, kind: Literal["ksef-token", "shared-secret"], *, source: str
) -> KsefToken | SharedSecret:
    """The credential for ``value`` (stripped). ``source`` says where it came from, never what
    it is; an empty value is an error naming ``source``."""
    value = value.strip()
    if not value:
        raise CredentialError(f"{source} is empty; store the KSeF token there")
    if kind == "shared-secret":
        return SharedSecret(value, source=source)
    return KsefToken(value, source=source)
