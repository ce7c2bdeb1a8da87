"""Reading certificate and key files (PEM or DER, told apart by content, not by name).

Every failure is a :class:`~ksef_auth.errors.CredentialError` (or ``NotAvailable`` for a file
that is not there) whose message names the file and what to do; none holds key material.
"""

from __future__ import annotations

import base64
import binascii
from typing import TYPE_CHECKING

from ksef_auth import CertificateError, CredentialError
from ksef_auth.files import read_credential_file

if TYPE_CHECKING:
    from cryptography import x509
    from cryptography.hazmat.primitives.asymmetric.types import PrivateKeyTypes

PEM_MARKER = b"-----BEGIN"


read_file = read_credential_file  # the name the rest of this plugin uses


def text_to_bytes(text: str, what: str) -> bytes:
    """PEM text from a variable or secret file; also accepts PEM with literal ``\\n`` escapes
    (as some platforms store multi-line values) and base64 of DER or of PEM."""
    text = text.strip()
    if not text:
        raise CredentialError(f"{what} is empty")
    if "-----BEGIN" in text:
        if "\n" not in text and "\\n" in text:
            text = text.replace("\\n", "\n")
        return text.encode("ascii", errors="replace")
    try:
        decoded = base64.b64decode("".join(text.split()), validate=True)
    except (binascii.Error, ValueError):
        raise CredentialError(f"{what} is neither PEM text nor base64 of DER") from None
    return decoded


def load_certificates(data: bytes, where: str) -> list[x509.Certificate]:
    """Every certificate in ``data`` (PEM bundle or one DER certificate), in order."""
    from cryptography import x509

    try:
        if PEM_MARKER in data:
            certificates = x509.load_pem_x509_certificates(data)
        else:
            certificates = [x509.load_der_x509_certificate(data)]
    except ValueError:
        kind = "PEM" if PEM_MARKER in data else "DER"
        raise CertificateError(
            f"{where} holds no readable certificate (read as {kind}): is it a certificate"
            " (.pem, .crt, .cer, .der) and not a key or a PKCS#12 file?"
        ) from None
    return certificates


def has_private_key(data: bytes) -> bool:
    return PEM_MARKER in data and b"PRIVATE KEY-----" in data


def load_private_key(
    data: bytes, where: str, password: bytes | None, password_origin: str
) -> PrivateKeyTypes:
    """The private key in ``data`` (PEM or DER, PKCS#8 or traditional, encrypted or not).

    ``password_origin`` says where the password came from, for messages.
    """
    from cryptography.hazmat.primitives import serialization

    loader = (
        serialization.load_pem_private_key
        if PEM_MARKER in data
        else serialization.load_der_private_key
    )
    try:
        return loader(data, password)
    except TypeError as exc:
        if password is not None and "not encrypted" in str(exc):
            return loader(data, None)  # a password is set but this key needs none
        raise CredentialError(
            f"{where} is encrypted and no password is set: set password (by default the"
            " environment variable KSEF2_KEY_PASSWORD)"
        ) from None
    except ValueError as exc:
        if password is not None and _looks_like_bad_password(str(exc)):
            raise CredentialError(
                f"wrong password for {where} (password from {password_origin})"
            ) from None
        raise CertificateError(
            f"{where} holds no readable private key: is it a PEM or DER private key"
            " (not a certificate or a PKCS#12 file)?"
        ) from None
    except Exception as exc:  # cryptography raises UnsupportedAlgorithm for exotic keys
        raise CertificateError(f"{where}: unsupported private key ({type(exc).__name__})") from None


def _looks_like_bad_password(message: str) -> bool:
    return "password" in message.lower()
