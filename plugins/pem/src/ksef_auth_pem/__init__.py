"""ksef-auth-pem: a certificate and private key from PEM or DER files (or PEM in variables).

The credential source ``pem`` returns a :class:`~ksef_auth.CertificateCredential` for the
``xades`` signer. Files are recognised by content, not by name; encrypted keys take their
password from a secret reference (``KSEF2_KEY_PASSWORD`` by default, when set). The key is
checked against the certificate when loaded.
"""

from __future__ import annotations

from ksef_auth import Register, hookimpl
from ksef_auth_pem.source import PASSWORD_VARIABLE, PemSource

__all__ = ["PASSWORD_VARIABLE", "PemSource"]


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("pem", PemSource)
