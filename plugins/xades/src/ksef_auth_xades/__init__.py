"""ksef-auth-xades: log in to KSeF with a certificate, by a XAdES-BES-signed AuthTokenRequest.

The signer ``xades`` builds the ``AuthTokenRequest`` (namespace 2.1 or 2.0), signs it as an
enveloped XAdES-BES signature through the credential's ``KeyHandle`` (RSA PKCS#1 v1.5 or ECDSA,
SHA-256) and submits it to ``POST /auth/xades-signature``. ``XadesSigner.preflight`` finds what
KSeF would reject (expired certificate, wrong key, NIP of another context, weak key) before any
network call. :mod:`ksef_auth_xades.certinfo` reads identities and validity for other tools.
"""

from __future__ import annotations

from ksef_auth import Register, hookimpl
from ksef_auth_xades.signer import XadesSigner

__all__ = ["XadesSigner"]


@hookimpl
def ksef_auth_register_signers(register: Register) -> None:
    register("xades", XadesSigner)
