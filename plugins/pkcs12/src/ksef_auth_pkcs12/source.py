"""The ``pkcs12`` credential source: a certificate, its key and its chain from a .p12/.pfx file."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from ksef_auth import (
    CertificateCredential,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    NotAvailable,
    SecretRef,
)
from ksef_auth.certificates import credential_from_pkcs12
from ksef_auth.files import read_credential_file

PASSWORD_VARIABLE = "KSEF2_P12_PASSWORD"


def _ref(value: SecretRef | None) -> SecretRef:
    if value is None:
        return SecretRef.env(PASSWORD_VARIABLE)
    if isinstance(value, SecretRef):
        return value
    raise TypeError(
        "secrets are given by reference: SecretRef.env(NAME) or SecretRef.file(PATH)"
        ' ({ env = "NAME" } or { file = "path" } in a strategy file), never inline'
    )


def _path(value: str | os.PathLike[str]) -> Path:
    return Path(value).expanduser()


@attrs.define(eq=False)
class Pkcs12Source:
    """A certificate and private key (and chain) from a PKCS#12 file (.p12, .pfx)."""

    path: Path = attrs.field(
        converter=_path,
        metadata={
            "help": "The PKCS#12 file (.p12/.pfx): modern AES or legacy 3DES/RC2.",
            "path": True,
        },
    )
    password: SecretRef = attrs.field(
        default=None,
        converter=_ref,
        metadata={
            "help": f"Password of the file; default: environment variable {PASSWORD_VARIABLE}"
            " (unset: the file is tried without a password).",
            "secret": True,
        },
    )

    # --- the CredentialSource contract ----------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Report a missing or unreadable file, or an unreadable password, before any login."""
        if not self.path.exists():
            raise NotAvailable(f"PKCS#12 file {self.path} does not exist")
        if not self.path.is_file():
            raise CredentialError(f"PKCS#12 file {self.path} is not a file")
        if not os.access(self.path, os.R_OK):
            raise CredentialError(f"PKCS#12 file {self.path} is not readable by this user")
        if not self._default_password and self.password.problem():
            raise CredentialError(f"password: {self.password.problem()}")

    def load(self, request: CredentialRequest) -> CertificateCredential:
        data = read_credential_file(self.path, "PKCS#12 file", secret=True)
        if data.lstrip().startswith(b"-----BEGIN"):
            raise CredentialError(
                f"{self.path} is a PEM file, not PKCS#12: use the pem credential source for it"
            )
        # the default variable unset: try without a password
        unset = self._default_password and self.password.problem() is not None
        password = None if unset else self.password
        return credential_from_pkcs12(
            data,
            password=password,
            where=f"PKCS#12 file {self.path}",
            source=f"pkcs12:{self.path}",
            no_password_hint=f"export {PASSWORD_VARIABLE} or set password",
        )

    # --- internals ------------------------------------------------------------------------------

    @property
    def _default_password(self) -> bool:
        return self.password == SecretRef.env(PASSWORD_VARIABLE)
