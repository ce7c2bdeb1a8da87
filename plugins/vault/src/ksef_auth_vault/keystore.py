"""The key store ``vault``: a new key made in this process, kept in the vault with the
certificate issued for it (what a KSeF-certificate enrollment without hardware uses)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import CredentialError, KeySpec, LocalKey, SecretRef
from ksef_auth.keys import HashName
from ksef_auth_vault.source import _to_path
from ksef_auth_vault.vault import KEY_ENV, KEY_FILE, Vault, check_name, default_path

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import (
        CertificatePublicKeyTypes,
        PrivateKeyTypes,
    )

    from ksef_auth import KeyHandle

__all__ = ["PendingKey", "VaultKeyStore"]


class PendingKey:
    """A key this store made, in memory until :meth:`VaultKeyStore.keep` seals it into the
    vault with its certificate. Signs like any key handle; never pickled, never printed."""

    __slots__ = ("_handle", "_key", "label")

    def __init__(self, key: PrivateKeyTypes, label: str) -> None:
        self._key = key
        self._handle = LocalKey(key)
        self.label = label

    def public_key(self) -> CertificatePublicKeyTypes:
        return self._handle.public_key()

    def sign(self, data: bytes, hash_name: HashName = "sha256") -> bytes:
        return self._handle.sign(data, hash_name)

    @property
    def description(self) -> str:
        return self._handle.description

    def __repr__(self) -> str:
        return f"PendingKey({self.label!r}, {self.description})"

    def __reduce__(self) -> None:  # type: ignore[override]
        raise TypeError("a private key cannot be pickled")


@attrs.frozen
class VaultKeyStore:
    """New keys made in this process, kept encrypted in the local vault with their certificate."""

    path: Path = attrs.field(
        default=None,
        converter=_to_path,
        metadata={
            "path": True,
            "help": "The vault file. Default: the user data directory's ksef-auth/vault.json.",
        },
    )
    key: SecretRef | None = attrs.field(
        default=None,
        metadata={
            "secret": True,
            "help": f"Encryption key(s); default: ${KEY_ENV} if set, else {KEY_FILE} beside the"
            " vault.",
        },
    )

    @property
    def vault(self) -> Vault:
        return Vault(self.path, self.key)

    def generate(self, spec: KeySpec) -> PendingKey:
        """A new key for ``spec``; ``spec.label`` becomes the vault entry's name."""
        from ksef_auth.keys import generate_private_key

        try:
            check_name(spec.label)
        except ValueError as exc:
            raise CredentialError(str(exc)) from None
        self.vault.check_keys()  # a malformed key is reported before the enrollment starts
        return PendingKey(generate_private_key(spec), spec.label)

    def keep(
        self, key: KeyHandle, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> Mapping[str, Any]:
        """Seal ``certificate``, ``chain`` and the key into the vault entry named by the key's
        label; the credential table that loads them (references only)."""
        if not isinstance(key, PendingKey):
            raise CredentialError(
                f"the vault keeps keys it made itself (VaultKeyStore.generate), not a"
                f" {key.description} key from elsewhere; keep a hardware key with its own plugin's"
                " key store"
            )
        self.vault.set_certificate(key.label, certificate, key._key, chain)
        table: dict[str, Any] = {"use": "vault", "name": key.label}
        if self.path != default_path():
            table["path"] = str(self.path)
        if self.key is not None and self.key.env_var:
            table["key"] = {"env": self.key.env_var}
        elif self.key is not None and self.key.path:
            table["key"] = {"file": self.key.path}
        return table

    def __repr__(self) -> str:
        return f"VaultKeyStore(path={str(self.path)!r}, key={self.vault.key_description()!r})"
