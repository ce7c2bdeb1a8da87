"""The ``pkcs12`` credential source: a certificate, its key and its chain from a .p12/.pfx file."""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING

import attrs

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    CredentialError,
    CredentialRequest,
    Environment,
    LocalKey,
    NotAvailable,
    SecretRef,
)
from ksef_auth.files import read_credential_file

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

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


def _describe(certificate: x509.Certificate) -> str:
    start, end = certificate.not_valid_before_utc, certificate.not_valid_after_utc
    return f"{certificate.subject.rfc4514_string()}, valid {start:%Y-%m-%d} to {end:%Y-%m-%d}"


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
        data = self._read()
        key, certificates = self._open(data)
        if key is None:
            listed = "; ".join(_describe(c) for c in certificates) or "no certificates either"
            raise CertificateError(
                f"PKCS#12 file {self.path} holds no private key (only: {listed}): export the"
                " certificate together with its private key"
            )
        if not certificates:
            raise CertificateError(f"PKCS#12 file {self.path} holds a key but no certificate")
        leaf = _leaf_for(certificates, key)
        if leaf is None:
            raise CertificateError(
                f"the private key in {self.path} belongs to none of its certificates"
                f" ({'; '.join(_describe(c) for c in certificates)})"
            )
        try:
            handle = LocalKey(key)
        except CertificateError:
            raise CertificateError(
                f"the private key in {self.path} is {type(key).__name__.lstrip('_')}: KSeF"
                " accepts only RSA (2048 bits or more) and ECDSA (P-256, P-384, P-521) keys"
            ) from None
        chain = [c for c in certificates if c is not leaf]
        return CertificateCredential(leaf, handle, chain=chain, source=f"pkcs12:{self.path}")

    # --- internals ------------------------------------------------------------------------------

    @property
    def _default_password(self) -> bool:
        return self.password == SecretRef.env(PASSWORD_VARIABLE)

    def _read(self) -> bytes:
        path = self.path
        data = read_credential_file(path, "PKCS#12 file")
        if data.lstrip().startswith(b"-----BEGIN"):
            raise CredentialError(
                f"{path} is a PEM file, not PKCS#12: use the pem credential source for it"
            )
        return data

    def _passwords(self) -> tuple[list[bytes | None], str]:
        """Passwords to try and where they came from."""
        problem = self.password.problem()
        if problem is None:
            secret = self.password.get().reveal().encode("utf-8")
            return [secret], self.password.describe()
        if self._default_password:
            return [None, b""], "nowhere (KSEF2_P12_PASSWORD is not set)"
        raise CredentialError(f"the password of {self.path} cannot be read: {problem}")

    def _open(self, data: bytes) -> tuple[PrivateKeyTypes | None, list[x509.Certificate]]:
        from cryptography.hazmat.primitives.serialization import pkcs12

        candidates, origin = self._passwords()
        for password in candidates:
            try:
                key, certificate, additional = pkcs12.load_key_and_certificates(data, password)
            except ValueError as exc:
                if "deserialize" in str(exc).lower():
                    raise CertificateError(
                        f"{self.path} is not a PKCS#12 file (.p12/.pfx); for PEM or DER"
                        " certificates and keys use the pem credential source"
                    ) from None
                continue
            except Exception as exc:  # e.g. UnsupportedAlgorithm for exotic encryption
                raise CertificateError(
                    f"PKCS#12 file {self.path} cannot be opened: {type(exc).__name__}"
                ) from None
            certificates = ([certificate] if certificate is not None else []) + list(additional)
            return key, certificates
        if candidates == [None, b""]:
            raise CredentialError(
                f"PKCS#12 file {self.path} is password-protected and no password is set:"
                f" export {PASSWORD_VARIABLE} or set password"
            )
        raise CredentialError(
            f"wrong password for PKCS#12 file {self.path} (password from {origin})"
        )


def _leaf_for(
    certificates: list[x509.Certificate], key: PrivateKeyTypes
) -> x509.Certificate | None:
    from cryptography.hazmat.primitives import serialization

    def spki(certificate_or_key: object) -> bytes:
        return certificate_or_key.public_bytes(  # type: ignore[attr-defined,no-any-return]
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    wanted = spki(key.public_key())
    return next((c for c in certificates if spki(c.public_key()) == wanted), None)
