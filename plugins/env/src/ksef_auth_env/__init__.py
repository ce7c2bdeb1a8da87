"""ksef-auth-env: credentials from environment variables.

The source ``env`` reads a KSeF token (or a shared secret) from a variable, ``KSEF2_TOKEN`` by
default. When ``NAME`` is unset and ``NAME_FILE`` is set, the secret is read from the file it
names (Docker and Kubernetes secrets mounted as files). An unset variable is *not available*, so a
credential chain moves on to its next source. The name may hold the login's context:
``var = "KSEF_TOKEN_{nip}"`` reads ``KSEF_TOKEN_5261040828`` for that NIP (one strategy, many
clients; see ``CredentialRequest.fill``).

The conventional variables: ``KSEF2_ENV`` (test, demo, production), ``KSEF2_NIP``,
``KSEF2_TOKEN``, ``KSEF2_KEY_PASSWORD`` (encrypted PEM keys), ``KSEF2_P12_PASSWORD`` (PKCS#12).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import attrs

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    Register,
    SharedSecret,
    hookimpl,
    template_fields,
)

__all__ = ["EnvToken", "read_variable"]

CONVENTIONAL = {
    "KSEF2_ENV": "environment: test, demo, production or a base URL",
    "KSEF2_NIP": "the context NIP",
    "KSEF2_TOKEN": "the KSeF token",
    "KSEF2_KEY_PASSWORD": "password of an encrypted PEM private key",
    "KSEF2_P12_PASSWORD": "password of a PKCS#12 (.p12/.pfx) file",
}


def read_variable(name: str) -> str | None:
    """The value of ``name``, or of the file named by ``name_FILE``; None when neither is set.

    Raises :class:`CredentialError` when ``name_FILE`` names a file that cannot be read.
    """
    value = os.environ.get(name)
    if value:
        return value.strip()
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    try:
        text = Path(path).read_text(encoding="utf-8").strip()
    except OSError as exc:
        raise CredentialError(
            f"{name}_FILE points to {path}, which cannot be read ({exc.strerror});"
            " fix the path or the file's permissions"
        ) from None
    if not text:
        raise CredentialError(f"{name}_FILE points to {path}, which is empty")
    return text


def _is_variable_name(name: str) -> bool:
    return bool(name) and name.isascii() and name.replace("_", "").isalnum()


def _variable_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not isinstance(value, str):
        raise ValueError(f"var must be a variable name (a string), got {type(value).__name__}")
    fields = template_fields(value)
    plain = value
    for field in fields:
        plain = plain.replace("{" + field + "}", "X")
    if not _is_variable_name(plain) or plain[0].isdigit():
        raise ValueError(
            "var must be an environment variable name (letters, digits and _), optionally with"
            " a placeholder such as KSEF_TOKEN_{nip}"
        )


@attrs.frozen
class EnvToken:
    """A KSeF token (or shared secret) from an environment variable, or from NAME_FILE."""

    var: str = attrs.field(
        default="KSEF2_TOKEN",
        validator=_variable_name,
        metadata={"help": "Variable holding the secret; NAME_FILE is read when NAME is unset."},
    )
    kind: Literal["ksef-token", "shared-secret"] = attrs.field(
        default="ksef-token",
        validator=attrs.validators.in_(("ksef-token", "shared-secret")),
        metadata={"help": "ksef-token for KSeF tokens, shared-secret for HMAC schemes."},
    )

    def load(self, request: CredentialRequest) -> KsefToken | SharedSecret:
        name = self.variable_for(request)
        value = read_variable(name)
        if value is None:
            raise NotAvailable(f"environment variable {name} is not set (nor {name}_FILE)")
        source = f"env:{name}"
        if self.kind == "shared-secret":
            return SharedSecret(value, source=source)
        return KsefToken(value, source=source)

    def variable_for(self, request: CredentialRequest) -> str:
        """The variable this source reads for ``request`` (``var`` with its placeholders filled;
        characters a variable name cannot hold, such as ``-``, become ``_``)."""
        name = request.fill(self.var)
        return "".join(c if c.isalnum() or c == "_" else "_" for c in name)

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        name = self.variable_for(CredentialRequest(environment=environment, context=context))
        if name not in os.environ and f"{name}_FILE" not in os.environ:
            raise NotAvailable(
                f"environment variable {name} is not set (nor {name}_FILE);"
                f" export {name}=<your KSeF token>"
            )


def context_from_env(name: str = "KSEF2_NIP") -> ContextIdentifier:
    """The context NIP from ``KSEF2_NIP`` (ConfigError naming the variable when unset/invalid)."""
    value = read_variable(name)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set; export {name}=<NIP>")
    try:
        return ContextIdentifier.nip(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("env", EnvToken)
