"""What every cloud source shares: the ``kind`` option and turning a fetched value into a
credential."""

from __future__ import annotations

from typing import Any, Literal

import attrs

from ksef_auth import CredentialError, KsefToken, SharedSecret, template_fields

Kind = Literal["ksef-token", "shared-secret"]
KINDS: tuple[Kind, ...] = ("ksef-token", "shared-secret")


def kind_field() -> Any:
    """The ``kind`` option, the same on every source of this plugin."""
    return attrs.field(
        default="ksef-token",
        validator=attrs.validators.in_(KINDS),
        metadata={"help": "ksef-token for KSeF tokens, shared-secret for HMAC schemes."},
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


def make_credential(value: str, kind: Kind, *, source: str) -> KsefToken | SharedSecret:
    """The credential for ``value`` (stripped). ``source`` says where it came from, never what
    it is; an empty value is an error naming ``source``."""
    value = value.strip()
    if not value:
        raise CredentialError(f"{source} is empty; store the KSeF token there")
    if kind == "shared-secret":
        return SharedSecret(value, source=source)
    return KsefToken(value, source=source)
