"""ksef-auth-env: credentials from environment variables.

The source ``env`` reads a KSeF token (or a shared secret) from a variable, ``KSEF2_TOKEN`` by
default; with ``kind = "certificate"`` it reads a certificate and its key (PEM text, or base64 of
a PKCS#12 file) from ``KSEF2_CERTIFICATE`` by default, the key from ``key_var`` when it is
apart. When ``NAME`` is unset and ``NAME_FILE`` is set, the secret is read from the file it
names (Docker and Kubernetes secrets mounted as files). An unset variable is *not available*, so a
credential chain moves on to its next source. The name may hold the login's context:
``var = "KSEF_TOKEN_{nip}"`` reads ``KSEF_TOKEN_5261040828`` for that NIP (one strategy, many
clients; see ``CredentialRequest.fill``).

The conventional variables: ``KSEF2_ENV`` (test, demo, production), ``KSEF2_NIP``,
``KSEF2_TOKEN``, ``KSEF2_CERTIFICATE``, ``KSEF2_KEY_PASSWORD`` (encrypted PEM keys),
``KSEF2_P12_PASSWORD`` (PKCS#12).
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    ConfigError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    NotAvailable,
    Register,
    SecretRef,
    SharedSecret,
    hookimpl,
    template_fields,
)
from ksef_auth.files import check_secret_file

__all__ = ["EnvToken", "read_variable"]

CONVENTIONAL = {
    "KSEF2_ENV": "environment: test, demo, production or a base URL",
    "KSEF2_NIP": "the context NIP",
    "KSEF2_TOKEN": "the KSeF token",
    "KSEF2_CERTIFICATE": "a certificate and its key: PEM, or base64 of a PKCS#12 file",
    "KSEF2_KEY_PASSWORD": "password of an encrypted PEM private key",
    "KSEF2_P12_PASSWORD": "password of a PKCS#12 (.p12/.pfx) file",
}


def read_variable(name: str, *, secret: bool = True) -> str | None:
    """The value of ``name``, or of the file named by ``name_FILE``; None when neither is set.

    Raises :class:`CredentialError` when ``name_FILE`` names a file that cannot be read, is
    not UTF-8 text or is empty, and (with ``secret``) when it is a file of this user that its
    group or others may read (:func:`ksef_auth.files.check_secret_file`).
    """
    value = os.environ.get(name)
    if value:
        return value.strip()
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    file = Path(path)
    try:
        with file.open("rb") as handle:
            if secret:
                check_secret_file(file, f"{name}_FILE: the file", os.fstat(handle.fileno()))
            data = handle.read()
    except OSError as exc:
        raise CredentialError(
            f"{name}_FILE points to {path}, which cannot be read ({exc.strerror});"
            " fix the path or the file's permissions"
        ) from None
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        raise CredentialError(f"{name}_FILE points to {path}, which is not UTF-8 text") from None
    if not text:
        raise CredentialError(f"{name}_FILE points to {path}, which is empty")
    return text


def read_material(name: str) -> str | bytes | None:
    """Certificate material from ``name`` (text), or the bytes of the file ``name_FILE`` names
    (a PKCS#12 file may be binary); None when neither is set. A file of this user open to
    others is refused (:func:`ksef_auth.files.check_secret_file`)."""
    value = os.environ.get(name)
    if value and value.strip():
        return value
    path = os.environ.get(f"{name}_FILE")
    if not path:
        return None
    file = Path(path)
    try:
        with file.open("rb") as handle:  # a private key or PKCS#12: kept from other users
            check_secret_file(file, f"{name}_FILE: the file", os.fstat(handle.fileno()))
            data = handle.read()
    except OSError as exc:
        raise CredentialError(
            f"{name}_FILE points to {path}, which cannot be read ({exc.strerror});"
            " fix the path or the file's permissions"
        ) from None
    if not data.strip():
        raise CredentialError(f"{name}_FILE points to {path}, which is empty")
    return data


def _is_variable_name(name: str) -> bool:
    return bool(name) and name.isascii() and name.replace("_", "").isalnum()


def _variable_name(instance: object, attribute: attrs.Attribute[str], value: str | None) -> None:
    if value is None:
        return
    if not isinstance(value, str):
        raise ValueError(
            f"{attribute.name} must be a variable name (a string), got {type(value).__name__}"
        )
    fields = template_fields(value)
    plain = value
    for field in fields:
        plain = plain.replace("{" + field + "}", "X")
    if not _is_variable_name(plain) or plain[0].isdigit():
        raise ValueError(
            f"{attribute.name} must be an environment variable name (letters, digits and _),"
            " optionally with a placeholder such as KSEF_TOKEN_{nip}"
        )


def _ref(value: SecretRef | None) -> SecretRef | None:
    if value is None or isinstance(value, SecretRef):
        return value
    raise TypeError(
        "secrets are given by reference: SecretRef.env(NAME) or SecretRef.file(PATH)"
        ' ({ env = "NAME" } or { file = "path" } in a strategy file), never inline'
    )


Kind = Literal["ksef-token", "shared-secret", "certificate"]
KINDS: tuple[Kind, ...] = ("ksef-token", "shared-secret", "certificate")
DEFAULT_VARIABLES: dict[Kind, str] = {
    "ksef-token": "KSEF2_TOKEN",
    "shared-secret": "KSEF2_TOKEN",
    "certificate": "KSEF2_CERTIFICATE",
}


@attrs.frozen
class EnvToken:
    """A KSeF token, a shared secret, or a certificate and its key from environment variables
    (or NAME_FILE)."""

    var: str | None = attrs.field(
        default=None,
        validator=_variable_name,
        metadata={
            "help": "Variable holding the secret (default KSEF2_TOKEN; KSEF2_CERTIFICATE for"
            " kind = certificate); NAME_FILE is read when NAME is unset."
        },
    )
    kind: Literal["ksef-token", "shared-secret", "certificate"] = attrs.field(
        default="ksef-token",
        validator=attrs.validators.in_(KINDS),
        metadata={
            "help": "ksef-token for KSeF tokens, shared-secret for HMAC schemes, certificate for"
            " a certificate and its key (PEM, or base64 of a PKCS#12 file)."
        },
    )
    key_var: str | None = attrs.field(
        default=None,
        validator=_variable_name,
        metadata={
            "help": "kind = certificate: the variable holding the private key (PEM) when var"
            " holds the certificate alone."
        },
    )
    password: SecretRef | None = attrs.field(
        default=None,
        converter=_ref,
        metadata={
            "help": "kind = certificate: password of the PKCS#12 file or encrypted key;"
            " default: KSEF2_P12_PASSWORD (PKCS#12) or KSEF2_KEY_PASSWORD (PEM) when set.",
            "secret": True,
        },
    )

    def __attrs_post_init__(self) -> None:
        if self.kind != "certificate" and (self.key_var or self.password):
            raise ValueError("key_var and password are for kind = certificate only")

    def load(self, request: CredentialRequest) -> KsefToken | SharedSecret | CertificateCredential:
        name = self.variable_for(request)
        source = f"env:{name}"
        if self.kind == "certificate":
            return self._certificate(request, name, source)
        value = read_variable(name)
        if value is None:
            raise NotAvailable(f"environment variable {name} is not set (nor {name}_FILE)")
        if self.kind == "shared-secret":
            return SharedSecret(value, source=source)
        return KsefToken(value, source=source)

    def variable_for(self, request: CredentialRequest) -> str:
        """The variable this source reads for ``request`` (``var`` with its placeholders filled;
        characters a variable name cannot hold, such as ``-``, become ``_``)."""
        return _variable(request.fill(self.var or DEFAULT_VARIABLES[self.kind]))

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        name = self.variable_for(CredentialRequest(environment=environment, context=context))
        if name not in os.environ and f"{name}_FILE" not in os.environ:
            what = "your certificate" if self.kind == "certificate" else "your KSeF token"
            raise NotAvailable(
                f"environment variable {name} is not set (nor {name}_FILE); export {name}=<{what}>"
            )

    def _certificate(
        self, request: CredentialRequest, name: str, source: str
    ) -> CertificateCredential:
        from ksef_auth.certificates import PEM_MARKER, credential_from_value

        value = read_material(name)
        if value is None:
            raise NotAvailable(f"environment variable {name} is not set (nor {name}_FILE)")
        key = None
        key_where = None
        if self.key_var is not None:
            key_name = _variable(request.fill(self.key_var))
            key = read_material(key_name)
            if key is None:
                raise CredentialError(
                    f"{name} is set but the key variable {key_name} is not (nor"
                    f" {key_name}_FILE): set it to the certificate's private key (PEM)"
                )
            key_where = f"environment variable {key_name}"
        password = self.password
        if password is None:
            raw = value.encode("utf-8", "replace") if isinstance(value, str) else value
            pem = PEM_MARKER in raw or key is not None
            default = "KSEF2_KEY_PASSWORD" if pem else "KSEF2_P12_PASSWORD"
            password = SecretRef.env(default) if os.environ.get(default) else None
        return credential_from_value(
            value,
            key=key,
            password=password,
            where=f"environment variable {name}",
            key_where=key_where,
            source=source,
        )


def _variable(name: str) -> str:
    return "".join(c if c.isalnum() or c == "_" else "_" for c in name)


def context_from_env(name: str = "KSEF2_NIP") -> ContextIdentifier:
    """The context NIP from ``KSEF2_NIP`` (ConfigError naming the variable when unset/invalid)."""
    value = read_variable(name, secret=False)
    if value is None:
        raise ConfigError(f"environment variable {name} is not set; export {name}=<NIP>")
    try:
        return ContextIdentifier.nip(value)
    except ValueError as exc:
        raise ConfigError(f"{name}: {exc}") from None


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("env", EnvToken)
