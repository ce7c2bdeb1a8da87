"""The credential source ``vault``: one named entry of the local vault."""

from __future__ import annotations

import os
from pathlib import Path

import attrs

from ksef_auth import (
    CertificateCredential,
    ConfigError,
    ContextIdentifier,
    Credential,
    CredentialError,
    CredentialRequest,
    Environment,
    KsefToken,
    SecretRef,
    SharedSecret,
    template_fields,
)
from ksef_auth_vault.vault import KEY_ENV, KEY_FILE, Vault, check_name, default_path

__all__ = ["VaultSource"]


def _to_path(value: str | os.PathLike[str] | None) -> Path:
    return default_path() if value is None or value == "" else Path(value).expanduser()


def _name(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    sample = value
    for field in template_fields(value):
        sample = sample.replace("{" + field + "}", "x")
    check_name(sample)


@attrs.frozen
class VaultSource:
    """A KSeF token (or shared secret, or certificate and key) stored encrypted in the local
    vault, by name."""

    name: str = attrs.field(
        validator=_name,
        metadata={
            "help": "Name of the vault entry (as given to `ksef-auth vault set NAME`); may hold"
            " the context, e.g. client-{nip}."
        },
    )
    path: Path = attrs.field(
        default=None,
        converter=_to_path,
        metadata={
            "path": True,
            "help": "The vault file; relative to the strategy file. Default: the user data"
            " directory, e.g. ~/.local/share/ksef-auth/vault.json.",
        },
    )
    key: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": "Encryption key(s), 32 bytes in url-safe base64, newest first, comma"
            f" separated. Default: ${KEY_ENV} if set, else {KEY_FILE} beside the vault.",
        },
    )

    @property
    def vault(self) -> Vault:
        return Vault(self.path, self.key)

    def load(self, request: CredentialRequest) -> KsefToken | SharedSecret | CertificateCredential:
        """NotAvailable when the entry is missing; CredentialError when it does not decrypt, or
        when the key cannot be used (a key file open to other users, a malformed key)."""
        name = self.entry_for(request)
        try:
            return self.vault.load(name)
        except ConfigError as exc:
            raise CredentialError(str(exc)) from None

    def entry_for(self, request: CredentialRequest) -> str:
        """The entry name for ``request`` (``name`` with its placeholders filled)."""
        try:
            return check_name(request.fill(self.name))
        except ValueError as exc:
            raise CredentialError(str(exc)) from None

    def save(self, request: CredentialRequest, credential: Credential) -> str:
        """Keep ``credential`` (a KSeF token or shared secret) as the entry ``request`` would
        load (``ksef-auth tokens create --save-to vault``); returns where, never the secret."""
        if isinstance(credential, KsefToken):
            secret, kind = credential.token, "ksef-token"
        elif isinstance(credential, SharedSecret):
            secret, kind = credential.secret, "shared-secret"
        else:
            raise CredentialError(
                f"the vault keeps KSeF tokens and shared secrets, not a {type(credential).__name__}"
            )
        entry = self.entry_for(request)
        replaced = self.vault.set(entry, secret, kind)  # type: ignore[arg-type]
        return f"vault entry {entry!r} in {self.path}" + (" (replaced)" if replaced else "")

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """The key parses, the entry exists and decrypts: a changed key is reported when the
        strategy is loaded, not at the first login."""
        self.load(CredentialRequest(environment=environment, context=context, purpose="check"))

    def __repr__(self) -> str:
        return (
            f"VaultSource(name={self.name!r}, path={str(self.path)!r},"
            f" key={self.vault.key_description()!r})"
        )
