"""ksef-auth-pkcs12: a certificate and private key from a PKCS#12 (.p12/.pfx) file.

The credential source ``pkcs12`` opens modern (AES-256/PBKDF2) and legacy (3DES, RC2) files with
``cryptography``, picks the certificate that belongs to the key among the file's certificates,
and keeps the others as the chain. The password comes from a secret reference,
``KSEF2_P12_PASSWORD`` by default.
"""

from __future__ import annotations

from ksef_auth import Register, hookimpl
from ksef_auth_pkcs12.source import PASSWORD_VARIABLE, Pkcs12Source

__all__ = ["PASSWORD_VARIABLE", "Pkcs12Source"]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("pkcs12", Pkcs12Source)
