"""ksef-auth: pluggable authentication for KSeF 2.0.

import ksef_auth
strategy = ksef_auth.strategy(env="test", nip="5261040828", token=SecretRef.env("KSEF2_TOKEN"))
strategy = ksef_auth.strategy_from_env()                   # KSEF2_ENV, KSEF2_NIP, KSEF2_TOKEN
strategy = ksef_auth.load("ksef-auth.toml").strategy("shop")
with strategy.client() as client:        # an httpx.Client that logs in and refreshes itself
    client.get("/auth/sessions")
"""

from ksef_auth.components import (
    CredentialSource,
    KeyStore,
    Option,
    Register,
    Registration,
    SecretRef,
    SessionStore,
    Signer,
)
from ksef_auth.config import Config, load
from ksef_auth.errors import (
    AuthenticationFailed,
    CertificateError,
    ConfigError,
    ConfigErrors,
    CredentialChainError,
    CredentialError,
    CredentialRejected,
    DeadlineExceeded,
    KsefAuthError,
    KsefError,
    NoSession,
    NotAvailable,
    PluginNotFound,
    PollTimeout,
    ProtocolError,
    RateLimited,
    SessionInvalid,
    StoreError,
    TransportError,
    WrongPassword,
)
from ksef_auth.events import CertificateEvent, SessionEvent
from ksef_auth.hookspecs import CONTRACT_VERSION
from ksef_auth.keys import KeyHandle, KeySpec, LocalKey, build_csr
from ksef_auth.manager import PluginManager, default_manager
from ksef_auth.model import (
    CertificateCredential,
    Challenge,
    ContextIdentifier,
    Credential,
    CredentialRequest,
    Environment,
    KsefToken,
    PublicKeyCertificate,
    SessionTokens,
    SharedSecret,
    SignRequest,
    Submission,
    Token,
    template_fields,
)
from ksef_auth.plugin import hookimpl
from ksef_auth.secret import Secret
from ksef_auth.strategy import CredentialChain, CredentialRotation, RefreshPolicy, Strategy

# After every import above: from here on ``ksef_auth.strategy`` is the one-liner (the module
# stays importable as ``from ksef_auth.strategy import Strategy``).
from ksef_auth.shortcuts import strategy, strategy_from_env  # noqa: E402  isort: skip

__version__ = "0.2.0"

__all__ = [
    "CONTRACT_VERSION",
    "AuthenticationFailed",
    "CertificateCredential",
    "CertificateEvent",
    "CertificateError",
    "Config",
    "Challenge",
    "ConfigError",
    "ConfigErrors",
    "ContextIdentifier",
    "Credential",
    "CredentialChain",
    "CredentialChainError",
    "CredentialError",
    "CredentialRejected",
    "CredentialRequest",
    "CredentialRotation",
    "CredentialSource",
    "DeadlineExceeded",
    "Environment",
    "KeyHandle",
    "KeySpec",
    "KeyStore",
    "KsefAuthError",
    "KsefError",
    "KsefToken",
    "LocalKey",
    "NoSession",
    "NotAvailable",
    "Option",
    "PluginManager",
    "PluginNotFound",
    "PollTimeout",
    "ProtocolError",
    "PublicKeyCertificate",
    "RateLimited",
    "RefreshPolicy",
    "Register",
    "Registration",
    "Secret",
    "SecretRef",
    "SessionEvent",
    "SessionInvalid",
    "SessionStore",
    "SessionTokens",
    "SharedSecret",
    "SignRequest",
    "Signer",
    "StoreError",
    "Strategy",
    "Submission",
    "Token",
    "TransportError",
    "WrongPassword",
    "build_csr",
    "default_manager",
    "hookimpl",
    "load",
    "strategy",
    "strategy_from_env",
    "template_fields",
]
