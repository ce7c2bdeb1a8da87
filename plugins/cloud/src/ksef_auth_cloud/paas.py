"""``paas``: a KSeF token from the variables a platform-as-a-service gives the application.

Most platforms (Heroku, Render, Fly.io, Railway, Azure App Service, Google Cloud Run, Adobe
Commerce Cloud's ``env:`` variables) hand project variables to the application as plain
environment variables. Platform.sh and Upsun also publish every project variable, ``env:``
prefixed or not, in ``PLATFORM_VARIABLES``: a base64-encoded JSON object; Adobe Commerce Cloud
(built on Platform.sh) calls the same thing ``MAGENTO_CLOUD_VARIABLES``.

The names in ``names`` are tried in order; for each name the environment is looked at first, then
each JSON variable (key ``env:NAME``, then ``NAME``). The first non-empty value wins. Nothing is
kept: every ``load`` reads the variables again, so a rotated token is picked up at the next login.

With ``kind = "certificate"`` the value is a certificate and its key (PEM text, or base64 of a
PKCS#12 file, opened with ``password``), ``KSEF2_CERTIFICATE`` by default; ``key_names`` name
the variables of the private key when it is kept apart.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Iterable
from typing import Any, Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    SecretRef,
    SharedSecret,
    template_fields,
)
from ksef_auth_cloud.credential import (
    check_certificate_options,
    kind_field,
    make_certificate,
    make_credential,
    password_field,
)

__all__ = ["PaasToken", "decode_platform_variables"]

DEFAULT_NAMES = ("KSEFPL_API_TOKEN", "KSEF2_TOKEN")
DEFAULT_CERTIFICATE_NAMES = ("KSEF2_CERTIFICATE",)
DEFAULT_PLATFORM_VARIABLES = ("PLATFORM_VARIABLES", "MAGENTO_CLOUD_VARIABLES")


def _names(value: str | Iterable[str] | None) -> tuple[str, ...] | None:
    """A name or a list of names, as a tuple (a frozen option must be hashable)."""
    if value is None or isinstance(value, tuple):
        return value
    if isinstance(value, str):
        return (value,)
    return tuple(value)


def _variable_names(
    instance: object, attribute: attrs.Attribute[Any], value: tuple[Any, ...] | None
) -> None:
    if value is None and attribute.name != "platform_variables":
        return
    if not value:
        raise ValueError(f"{attribute.name} must name at least one variable")
    for name in value:
        plain = name
        if isinstance(name, str):
            for field in template_fields(name):
                plain = plain.replace("{" + field + "}", "X")
        if not isinstance(plain, str) or not plain or not plain.replace("_", "").isalnum():
            raise ValueError(
                f"{attribute.name} must hold environment variable names (with placeholders such"
                f" as KSEF_TOKEN_{{nip}}), got {name!r}"
            )


def _described(where: str) -> str:
    """``variable NAME`` for a variable, ``PLATFORM_VARIABLES[env:NAME]`` as it is."""
    return where if "[" in where else f"variable {where}"


def _variable(name: str) -> str:
    """A filled-in name as a variable name: characters a name cannot hold (``-``) become ``_``."""
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def decode_platform_variables(name: str, encoded: str) -> dict[str, Any]:
    """The JSON object in ``encoded`` (the value of variable ``name``): base64 of a JSON object.

    Raises :class:`CredentialError` naming ``name`` and what is wrong; the message never quotes
    the value (it holds every secret of the project).
    """
    hint = (
        f"{name} must be a base64-encoded JSON object, as the platform sets it;"
        f" unset it or fix it (the value is not shown, it holds secrets)"
    )
    try:
        raw = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(f"{name} is not valid base64. {hint}") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise CredentialError(f"{name} does not decode to UTF-8 text. {hint}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        # The decoder's message has a position only (line, column), never the text.
        raise CredentialError(
            f"{name} does not hold valid JSON (line {exc.lineno}, column {exc.colno}). {hint}"
        ) from None
    if not isinstance(data, dict):
        raise CredentialError(
            f"{name} holds a JSON {type(data).__name__}, not an object. {hint}"
        ) from None
    return data


@attrs.frozen
class PaasToken:
    """A KSeF token (or a certificate) from the platform's variables (Platform.sh/Upsun
    PLATFORM_VARIABLES too)."""

    names: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_names,
        validator=_variable_names,
        metadata={
            "help": "Variable names tried in order; the first one set wins (in the environment,"
            " then in the platform's JSON variables as env:NAME or NAME). Default:"
            " KSEFPL_API_TOKEN, KSEF2_TOKEN; KSEF2_CERTIFICATE for kind = certificate."
        },
    )
    platform_variables: tuple[str, ...] = attrs.field(
        default=DEFAULT_PLATFORM_VARIABLES,
        converter=_names,
        validator=_variable_names,
        metadata={
            "help": "Variables holding a base64-encoded JSON object of project variables"
            " (Platform.sh/Upsun, Adobe Commerce Cloud); read when present."
        },
    )
    kind: Literal["ksef-token", "shared-secret", "certificate"] = kind_field()
    key_names: tuple[str, ...] | None = attrs.field(
        default=None,
        converter=_names,
        validator=_variable_names,
        metadata={
            "help": "kind = certificate: variable names of the private key (PEM) when the"
            " certificate's variable holds the certificate alone."
        },
    )
    password: SecretRef | None = password_field()

    def __attrs_post_init__(self) -> None:
        check_certificate_options(self.kind, self.password)
        if self.key_names is not None and self.kind != "certificate":
            raise ValueError("key_names is for kind = certificate only")

    @property
    def variable_names(self) -> tuple[str, ...]:
        """``names``, or the default names for the kind."""
        if self.names is not None:
            return self.names
        return DEFAULT_CERTIFICATE_NAMES if self.kind == "certificate" else DEFAULT_NAMES

    def load(self, request: CredentialRequest) -> KsefToken | SharedSecret | CertificateCredential:
        where, value = self._find(request, self.variable_names)
        if self.kind != "certificate":
            return make_credential(value, self.kind, source=f"paas:{where}")
        key = key_where = None
        if self.key_names is not None:
            try:
                key_where, key = self._find(request, self.key_names)
            except NotAvailable as exc:
                raise CredentialError(
                    f"the certificate is in {where}, but its key is not: {exc}"
                ) from None
        return make_certificate(
            value,
            key=key,
            password=self.password,
            where=_described(where),
            key_where=_described(key_where) if key_where else None,
            source=f"paas:{where}",
        )

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Local only: NotAvailable when no variable is set, CredentialError when a JSON
        variable is malformed."""
        request = CredentialRequest(environment=environment, context=context, purpose="check")
        self._find(request, self.variable_names)

    def _find(self, request: CredentialRequest, wanted: tuple[str, ...]) -> tuple[str, str]:
        """(where the value was found, the value); NotAvailable naming what was looked at."""
        names = [_variable(request.fill(name)) for name in wanted]
        decoded: dict[str, dict[str, Any] | None] = {}

        def blob(name: str) -> dict[str, Any] | None:
            if name not in decoded:
                encoded = os.environ.get(name)
                decoded[name] = decode_platform_variables(name, encoded) if encoded else None
            return decoded[name]

        for name in names:
            value = os.environ.get(name, "")
            if value.strip():
                return name, value
            for blob_name in self.platform_variables:
                variables = blob(blob_name)
                if variables is None:
                    continue
                for key in (f"env:{name}", name):
                    found = variables.get(key)
                    if found is None:
                        continue
                    where = f"{blob_name}[{key}]"
                    if not isinstance(found, str):
                        raise CredentialError(
                            f"{where} is a JSON {type(found).__name__}, not a string;"
                            " store the value as a plain string variable"
                        )
                    if found.strip():
                        return where, found
        unset = " and ".join(names)
        present = [n for n in self.platform_variables if decoded.get(n) is not None]
        absent = [n for n in self.platform_variables if decoded.get(n) is None]
        looked = "the environment" + "".join(f" and {n}" for n in present)
        if absent:
            looked += f"; {' and '.join(absent)} not set"
        raise NotAvailable(
            f"{unset} not set (looked in {looked});"
            " set one as a sensitive variable of the environment"
        )
