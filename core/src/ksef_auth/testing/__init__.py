"""The conformance kit for plugin authors: prove that a session store, a credential source, a
signer or a rate limiter keeps the contract with one subclass; and a pytest plugin that fails
any test leaking a secret.

::

    import pytest
    from ksef_auth.testing import SessionStoreContract

    class TestMyStore(SessionStoreContract):
        @pytest.fixture
        def store(self):
            return MyStore(...)

Each test's docstring is the rule it checks; a failing test quotes it. ``make_tokens()`` builds
realistic ``SessionTokens``; :data:`NIPS` are the three contexts the kit uses. The secret guard
is enabled with ``-p ksef_auth.testing.secret_guard`` (see :mod:`ksef_auth.testing.secret_guard`).
This package imports pytest: import it from tests only.
"""

from __future__ import annotations

from ksef_auth.testing.limiters import RateLimiterContract
from ksef_auth.testing.signers import SignerContract, make_public_keys
from ksef_auth.testing.sources import CredentialSourceContract, error_text
from ksef_auth.testing.stores import RawStorage, SessionStoreContract, violated
from ksef_auth.testing.tokens import NIPS, make_tokens, secrets_of, vars_of

__all__ = [
    "NIPS",
    "CredentialSourceContract",
    "RateLimiterContract",
    "RawStorage",
    "SessionStoreContract",
    "SignerContract",
    "error_text",
    "make_public_keys",
    "make_tokens",
    "secrets_of",
    "vars_of",
    "violated",
]
