"""ksef-auth-vault: KSeF tokens, shared secrets and certificates with their keys kept encrypted
on this machine, by name.

One JSON file (``platformdirs.user_data_dir("ksef-auth")/vault.json`` by default), 0600 in a
0700 folder, each entry sealed with AES-256-GCM under the entry's name. The credential source
``vault`` reads one entry; the CLI commands ``ksef-auth vault set|list|delete|rekey`` manage
them, taking secrets from a variable, a hidden prompt or stdin, never from the command line.

The key is, in order: the ``key`` option, ``$KSEF_AUTH_VAULT_KEY``, or ``vault.key`` generated
once beside the vault (0600). That last default protects a copy of the vault file alone, not a
user who can read both. Several keys, newest first, rotate: ``rekey`` re-encrypts with the first.

A certificate is stored with ``ksef-auth vault set NAME --p12 FILE`` (or ``--certificate FILE
--key FILE``), or in code with :meth:`Vault.set_certificate` / :meth:`Vault.set_pkcs12`; the
source then returns a :class:`~ksef_auth.CertificateCredential`. The key store ``vault``
(:class:`VaultKeyStore`) makes a new key for a KSeF-certificate enrollment and keeps it here with
the issued certificate.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import Register, hookimpl
from ksef_auth_vault.keystore import PendingKey, VaultKeyStore
from ksef_auth_vault.source import VaultSource
from ksef_auth_vault.vault import (
    KEY_ENV,
    KEY_FILE,
    PATH_ENV,
    EntryInfo,
    Vault,
    VaultError,
    default_path,
)

if TYPE_CHECKING:
    import click

__all__ = [
    "KEY_ENV",
    "KEY_FILE",
    "PATH_ENV",
    "EntryInfo",
    "PendingKey",
    "Vault",
    "VaultError",
    "VaultKeyStore",
    "VaultSource",
    "default_path",
]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("vault", VaultSource)


@hookimpl
def ksef_auth_register_key_stores(register: Register) -> None:
    register("vault", VaultKeyStore)


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth_vault.cli import vault

    cli.add_command(vault)
