"""ksef-auth-env: credentials from environment variables.

The source ``env`` reads a KSeF token (or a shared secret) from a variable, ``KSEF2_TOKEN`` by
default. When ``NAME`` is unset and ``NAME_FILE`` is set, the secret is read from the file it
names (Docker and Kubernetes secrets mounted as files). An unset variable is *not available*, so a
credential chain moves on to its next source.

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
    Environment,
    KsefToken,
    NotAvailable,
    Register,
    SharedSecret,
    hookimpl,
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


def _variable_name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value or not value.replace("_", "").isalnum():
        raise ValueError(f"var must be an environment variable name, got {value!r}")


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

    def load(self) -> KsefToken | SharedSecret:
        value = read_variable(self.var)
        if value is None:
            raise NotAvailable(f"environment variable {self.var} is not set (nor {self.var}_FILE)")
        source = f"env:{self.var}"
        if self.kind == "shared-secret":
            return SharedSecret(value, source=source)
        return KsefToken(value, source=source)

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        if self.var not in os.environ and f"{self.var}_FILE" not in os.environ:
            raise NotAvailable(
                f"environment variable {self.var} is not set (nor {self.var}_FILE);"
                f" export {self.var}=<your KSeF token>"
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
