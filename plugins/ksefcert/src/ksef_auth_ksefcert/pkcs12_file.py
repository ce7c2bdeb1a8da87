"""A certificate and its private key kept in an encrypted PKCS#12 file, and a key store that
makes keys for it.

The file is written atomically, mode 0600, encrypted with the password (AES-256-CBC, PBKDF2,
HMAC-SHA256: ``cryptography``'s best available PKCS#12 encryption); the password is given by
reference (a variable or a file), never inline. Reading it goes through
:func:`ksef_auth.certificates.credential_from_pkcs12`, so a wrong password is a
:class:`~ksef_auth.errors.WrongPassword` that says where the password came from, not what it is.

The key store ``pkcs12-file`` (:class:`Pkcs12KeyStore`) makes a new key in this process for an
enrollment and keeps it with its certificate in such a file; the key exists in memory only
between the two calls.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import (
    CertificateCredential,
    CredentialError,
    CredentialRequest,
    KeySpec,
    LocalKey,
    NotAvailable,
    SecretRef,
)
from ksef_auth.certificates import credential_from_pkcs12
from ksef_auth.files import read_credential_file, write_private
from ksef_auth.values import parse_bool

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

    from ksef_auth import KeyHandle


def reference_table(ref: SecretRef) -> dict[str, str]:
    """The strategy-file form of a secret reference: ``{"env": VAR}`` or ``{"file": path}``."""
    if ref.env_var is not None:
        return {"env": ref.env_var}
    if ref.path is not None:
        return {"file": ref.path}
    raise CredentialError(
        "a password given as a value in code cannot be written to a strategy file: give it by"
        " reference (SecretRef.env or SecretRef.file)"
    )


def _path(value: str | os.PathLike[str]) -> Path:
    return Path(value).expanduser()


@attrs.frozen
class Pkcs12File:
    """One encrypted PKCS#12 file: :meth:`load` it, :meth:`write` a new certificate and key."""

    path: Path = attrs.field(converter=_path)
    password: SecretRef

    @property
    def where(self) -> str:
        return f"PKCS#12 file {self.path}"

    def exists(self) -> bool:
        return self.path.is_file()

    def load(self, request: CredentialRequest | None = None) -> CertificateCredential:
        """The certificate and key; ``NotAvailable`` when the file is absent."""
        if not self.path.exists():
            raise NotAvailable(f"{self.where} does not exist")
        data = read_credential_file(self.path, "PKCS#12 file")
        return credential_from_pkcs12(
            data,
            password=self.password,
            where=self.where,
            source=f"ksef-certificate {self.path}",
            no_password_hint="set password",
        )

    def write(
        self,
        key: PrivateKeyTypes,
        certificate: x509.Certificate,
        chain: Sequence[x509.Certificate] = (),
        *,
        replace: bool,
    ) -> None:
        """Write the file (0600, atomically); refuse to replace one unless ``replace``."""
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.serialization import pkcs12

        if self.path.exists() and not replace:
            raise CredentialError(
                f"{self.where} already exists: choose another file, or replace it on purpose"
                " (--force)"
            )
        problem = self.password.problem()
        if problem:
            raise CredentialError(f"the password for {self.where} cannot be read: {problem}")
        secret = self.password.get().reveal().encode("utf-8")
        if not secret:
            raise CredentialError(f"the password for {self.where} is empty: set one")
        name = f"ksef-certificate {certificate.serial_number:016X}".encode()
        data = pkcs12.serialize_key_and_certificates(
            name,
            key,  # type: ignore[arg-type]
            certificate,
            list(chain) or None,
            serialization.BestAvailableEncryption(secret),
        )
        self.path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        try:
            write_private(self.path, data)
        except OSError as exc:
            raise CredentialError(f"cannot write {self.where}: {exc.strerror}") from None

    @property
    def label(self) -> str:
        return self.path.stem

    def successor_store(self) -> Pkcs12KeyStore:
        """A key store whose ``keep`` replaces this file (a renewal's successor)."""
        return Pkcs12KeyStore(self.path, self.password, replace=True)

    def credential_table(self) -> dict[str, Any]:
        """How a strategy file loads this file with the ``pkcs12`` source."""
        return {
            "use": "pkcs12",
            "path": str(self.path),
            "password": reference_table(self.password),
        }


def new_private_key(spec: KeySpec) -> PrivateKeyTypes:
    """A new key for ``spec`` in this process."""
    from cryptography.hazmat.primitives.asymmetric import ec, rsa

    if spec.algorithm == "ec-p256":
        return ec.generate_private_key(ec.SECP256R1())
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@attrs.define(eq=False)
class Pkcs12KeyStore:
    """Makes keys in this process and keeps each with its certificate in an encrypted PKCS#12
    file (0600; password by reference)."""

    path: Path = attrs.field(
        converter=_path,
        metadata={"path": True, "help": "The PKCS#12 file to write (.p12)."},
    )
    password: SecretRef = attrs.field(
        metadata={"secret": True, "help": "The password that encrypts the file."}
    )
    replace: bool = attrs.field(
        default=False,
        converter=parse_bool,
        metadata={"help": "Replace an existing file (its certificate and key are lost)."},
    )
    _keys: dict[int, tuple[LocalKey, PrivateKeyTypes]] = attrs.field(
        factory=dict, init=False, repr=False
    )

    @property
    def file(self) -> Pkcs12File:
        return Pkcs12File(self.path, self.password)

    def generate(self, spec: KeySpec) -> KeyHandle:
        if self.file.exists() and not self.replace:
            raise CredentialError(
                f"{self.file.where} already exists: choose another file, or replace it on"
                " purpose (--force)"
            )
        key = new_private_key(spec)
        handle = LocalKey(key)
        self._keys[id(handle)] = (handle, key)
        return handle

    def keep(
        self, key: KeyHandle, certificate: x509.Certificate, chain: Sequence[x509.Certificate]
    ) -> Mapping[str, Any]:
        made = self._keys.pop(id(key), None)
        if made is None or made[0] is not key:
            raise CredentialError(
                "the pkcs12-file key store keeps only keys it made itself (generate, then keep)"
            )
        self.file.write(made[1], certificate, chain, replace=self.replace)
        return self.file.credential_table()

    def __repr__(self) -> str:
        return f"Pkcs12KeyStore(path={str(self.path)!r}, password={self.password.describe()!r})"
