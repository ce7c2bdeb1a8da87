"""The ``pem`` credential source: a certificate and its private key from files or variables."""

from __future__ import annotations

import os
from collections.abc import Iterable
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
    NotAvailable,
    SecretRef,
)
from ksef_auth.certificates import (
    certificate_credential,
    has_private_key,
    leaf_for,
    load_certificates,
    load_private_key,
    text_to_bytes,
)
from ksef_auth.certificates import describe as describe_certificate
from ksef_auth.files import check_secret_file
from ksef_auth.files import read_credential_file as read_file

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

PASSWORD_VARIABLE = "KSEF2_KEY_PASSWORD"


def _path(value: str | os.PathLike[str] | None) -> Path | None:
    return None if value is None or str(value) == "" else Path(value).expanduser()


def _paths(
    value: str | os.PathLike[str] | Iterable[str | os.PathLike[str]] | None,
) -> tuple[Path, ...]:
    if value is None:
        return ()
    if isinstance(value, (str, os.PathLike)):
        value = [value]
    return tuple(Path(v).expanduser() for v in value if str(v))


def _ref(value: SecretRef | None) -> SecretRef | None:
    if value is None or isinstance(value, SecretRef):
        return value
    raise TypeError(
        "secrets are given by reference: SecretRef.env(NAME) or SecretRef.file(PATH)"
        ' ({ env = "NAME" } or { file = "path" } in a strategy file), never inline'
    )


@attrs.define(eq=False)
class PemSource:
    """A certificate and private key from PEM or DER files, or PEM text in secret references."""

    certificate: Path | None = attrs.field(
        default=None,
        converter=_path,
        metadata={
            "help": "Certificate file, PEM or DER (a PEM file may hold the chain too, and the"
            " key when key is not set).",
            "path": True,
        },
    )
    key: Path | None = attrs.field(
        default=None,
        converter=_path,
        metadata={
            "help": "Private key file, PEM or DER, PKCS#8 or traditional, maybe encrypted.",
            "path": True,
        },
    )
    password: SecretRef | None = attrs.field(
        default=None,
        converter=_ref,
        metadata={
            "help": f"Password of an encrypted key; default: variable {PASSWORD_VARIABLE} if set.",
            "secret": True,
        },
    )
    chain: tuple[Path, ...] = attrs.field(
        factory=tuple,
        converter=_paths,
        metadata={
            "help": "Files with intermediate CA certificates, sent after the certificate.",
            "path": True,
        },
    )
    certificate_pem: SecretRef | None = attrs.field(
        default=None,
        converter=_ref,
        metadata={
            "help": "The certificate as PEM text (or base64 DER) from a variable or secret file,"
            " instead of certificate.",
            "secret": True,
        },
    )
    key_pem: SecretRef | None = attrs.field(
        default=None,
        converter=_ref,
        metadata={
            "help": "The private key as PEM text (or base64 DER) from a variable or secret file,"
            " instead of key.",
            "secret": True,
        },
    )

    def __attrs_post_init__(self) -> None:
        if (self.certificate is None) == (self.certificate_pem is None):
            raise ValueError("set exactly one of certificate (a path) and certificate_pem")
        if self.key is not None and self.key_pem is not None:
            raise ValueError("set at most one of key (a path) and key_pem")

    # --- the CredentialSource contract ----------------------------------------------------------

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        """Report missing files and references before any login (reads no secret)."""
        for path, what in ((self.certificate, "certificate file"), (self.key, "key file")):
            if path is None:
                continue
            if not path.exists():
                raise NotAvailable(f"{what} {path} does not exist")
            if not path.is_file():
                raise CredentialError(f"{what} {path} is not a file")
            if not os.access(path, os.R_OK):
                raise CredentialError(f"{what} {path} is not readable by this user")
        for ref, what in ((self.certificate_pem, "certificate_pem"), (self.key_pem, "key_pem")):
            if ref is not None and ref.problem():
                raise NotAvailable(f"{what}: {ref.problem()}")
        if self.password is not None and self.password.problem():
            raise CredentialError(f"password: {self.password.problem()}")

    def load(self, request: CredentialRequest) -> CertificateCredential:
        certificates, certificate_data, where = self._certificates()
        key = self._key(certificate_data, where)
        if leaf_for(certificates, key.public_key()) is None:  # type: ignore[arg-type]
            raise CertificateError(
                f"the private key does not belong to the certificate in {where}"
                f" ({describe_certificate(certificates[0])}): pair each certificate with its"
                " own key"
            )
        chain: list[x509.Certificate] = []
        for path in self.chain:
            chain.extend(load_certificates(read_file(path, "chain file"), f"chain file {path}"))
        return certificate_credential(
            key, certificates, where=where, source=f"pem:{where}", chain=chain
        )

    # --- internals ------------------------------------------------------------------------------

    def _certificates(self) -> tuple[list[x509.Certificate], bytes, str]:
        if self.certificate is not None:
            data = read_file(self.certificate, "certificate file")
            where = str(self.certificate)
        else:
            assert self.certificate_pem is not None
            data = text_to_bytes(
                _read_ref(self.certificate_pem, "certificate_pem"), "certificate_pem"
            )
            where = f"certificate_pem ({self.certificate_pem.describe()})"
        return load_certificates(data, where), data, where

    def _key(self, certificate_data: bytes, certificate_where: str) -> PrivateKeyTypes:
        if self.key is not None:
            data = read_file(self.key, "key file", secret=True)
            where = f"key file {self.key}"
        elif self.key_pem is not None:
            data = text_to_bytes(_read_ref(self.key_pem, "key_pem"), "key_pem")
            where = f"key_pem ({self.key_pem.describe()})"
        elif has_private_key(certificate_data):
            if self.certificate is not None:
                check_secret_file(self.certificate, "certificate file (it holds the key)")
            data, where = certificate_data, certificate_where
        else:
            raise CredentialError(
                f"no private key: {certificate_where} holds none; set key (a file) or key_pem"
            )
        password, origin = self._password()
        return load_private_key(data, where, password, origin)

    def _password(self) -> tuple[bytes | None, str]:
        ref = self.password
        if ref is None:
            if PASSWORD_VARIABLE not in os.environ:
                return None, "nowhere"
            ref = SecretRef.env(PASSWORD_VARIABLE)
        problem = ref.problem()
        if problem:
            raise CredentialError(f"the key password cannot be read: {problem}")
        return ref.get().reveal().encode("utf-8"), ref.describe()


def _read_ref(ref: SecretRef, what: str) -> str:
    problem = ref.problem()
    if problem:
        raise NotAvailable(f"{what}: {problem}")
    return ref.get().reveal()
