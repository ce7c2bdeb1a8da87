"""A KSeF certificate kept in the local vault (plugin ``ksef-auth-vault``), by entry name.

The vault seals each entry with AES-256-GCM; its key store ``vault`` makes a successor's key in
this process and replaces the entry with the new certificate and key, which is all a renewal
needs. The vault is an optional dependency: ``pip install ksef-auth-ksefcert[vault]``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ConfigError,
    CredentialRequest,
    SecretRef,
)

if TYPE_CHECKING:
    from ksef_auth import KeyStore


def _optional_path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or value == "" else Path(value).expanduser()


def _vault_module() -> Any:
    try:
        import ksef_auth_vault
    except ImportError:
        raise ConfigError(
            "a KSeF certificate kept in the vault needs the vault plugin: pip install"
            " ksef-auth-vault (or ksef-auth-ksefcert[vault])"
        ) from None
    return ksef_auth_vault


@attrs.frozen
class VaultEntry:
    """One vault entry holding a KSeF certificate and its key."""

    name: str
    path: Path | None = attrs.field(default=None, converter=_optional_path)
    key: SecretRef | None = None

    def _vault(self) -> Any:
        vault = _vault_module()
        return vault.Vault(self.path or vault.default_path(), self.key)

    @property
    def where(self) -> str:
        return f"vault entry {self.name!r} ({self._vault().path})"

    @property
    def label(self) -> str:
        return self.name

    def load(self, request: CredentialRequest | None = None) -> CertificateCredential:
        """The certificate and key; ``NotAvailable`` when the entry is absent."""
        credential = self._vault().load(self.name)
        if not isinstance(credential, CertificateCredential):
            raise CertificateError(
                f"{self.where} holds a {type(credential).__name__}, not a certificate: enroll a"
                " KSeF certificate into it (ksef-auth cert enroll --key-store vault ...)"
            )
        return credential

    def successor_store(self) -> KeyStore:
        """The vault's key store: ``keep`` replaces this entry (its key is labelled ``name``)."""
        vault = _vault_module()
        return vault.VaultKeyStore(path=self.path, key=self.key)  # type: ignore[no-any-return]
