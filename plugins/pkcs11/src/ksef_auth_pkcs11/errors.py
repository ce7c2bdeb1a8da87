"""What can go wrong with a token, each its own class under :mod:`ksef_auth.errors`.

Every message names the module, the token and the key (labels and ids, which are not secret) and
says what to do; none holds the PIN or where it could be guessed from, only where it was read
(``environment variable TOKEN_PIN``).
"""

from __future__ import annotations

from ksef_auth import CertificateError, CredentialError, NotAvailable, WrongPassword

__all__ = [
    "CertificateMismatch",
    "CertificateNotFound",
    "KeyNotFound",
    "Pkcs11Error",
    "PinIncorrect",
    "PinLocked",
    "TokenNotPresent",
]


class Pkcs11Error(CredentialError):
    """The PKCS#11 module or token failed (the message names the module's error code)."""


class TokenNotPresent(Pkcs11Error, NotAvailable):
    """The token is not in any slot (never inserted, removed, or a wrong label): a credential
    chain moves on to its next source."""


class PinIncorrect(Pkcs11Error, WrongPassword):
    """The token refused the PIN. It is not tried again in this process: each wrong try brings
    the token closer to locking its PIN."""


class PinLocked(Pkcs11Error):
    """The token has locked its user PIN after too many wrong tries; only its security officer
    (SO PIN, PUK) can unlock it."""


class KeyNotFound(Pkcs11Error, NotAvailable):
    """No private key on the token has the label or id (the message lists those there): for a
    label naming the context (``seal-{nip}``), this context has no key here, and a chain moves
    on."""


class CertificateNotFound(Pkcs11Error, CertificateError):
    """The key has no certificate on the token (same id or label) and none is configured."""


class CertificateMismatch(Pkcs11Error, CertificateError):
    """The certificate's public key is not the key's: it belongs to another key."""
