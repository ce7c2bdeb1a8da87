"""ksef-auth-pkcs11: keys that never leave a PKCS#11 token (smart card, USB token, HSM).

* credential source ``pkcs11`` (:class:`Pkcs11Source`): the certificate and the key that signs
  for it, found on the token by label or id, for the ``xades`` signer;
* key store ``pkcs11`` (:class:`Pkcs11KeyStore`): a new key generated inside the token (never
  extractable) and the certificate issued for it written beside it, for KSeF-certificate
  enrollment;
* ``ksef-auth pkcs11 list``: slots, tokens, keys and certificates (never a PIN).

The PIN comes from a variable, a file or a prompt, never from the strategy file. Sessions are
opened once per process and shared by every thread (see :mod:`ksef_auth_pkcs11.module`).
python-pkcs11 is imported only when a token is used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ksef_auth import Register, hookimpl
from ksef_auth_pkcs11.errors import (
    CertificateMismatch,
    CertificateNotFound,
    KeyNotFound,
    PinIncorrect,
    PinLocked,
    Pkcs11Error,
    TokenNotPresent,
)
from ksef_auth_pkcs11.key import Pkcs11Key
from ksef_auth_pkcs11.keystore import Pkcs11KeyStore
from ksef_auth_pkcs11.module import MODULE_ENV
from ksef_auth_pkcs11.source import Pkcs11Source

if TYPE_CHECKING:
    import click

__all__ = [
    "MODULE_ENV",
    "CertificateMismatch",
    "CertificateNotFound",
    "KeyNotFound",
    "PinIncorrect",
    "PinLocked",
    "Pkcs11Error",
    "Pkcs11Key",
    "Pkcs11KeyStore",
    "Pkcs11Source",
    "TokenNotPresent",
]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("pkcs11", Pkcs11Source)


@hookimpl
def ksef_auth_register_key_stores(register: Register) -> None:
    register("pkcs11", Pkcs11KeyStore)


@hookimpl
def ksef_auth_register_commands(cli: click.Group) -> None:
    from ksef_auth_pkcs11.cli import pkcs11

    cli.add_command(pkcs11)
