"""A small plugin used by core's tests to exercise the contract (registered by object, not by
entry point). It is a real plugin: the same hooks and registration path as any other."""

from __future__ import annotations

import json

import attrs

from ksef_auth import (
    ConfigError,
    ContextIdentifier,
    Environment,
    KsefToken,
    Register,
    SecretRef,
    SignRequest,
    Submission,
    hookimpl,
)


@attrs.frozen
class PlainSigner:
    """Sends the token's fingerprint as JSON (a test signer; not a KSeF method)."""

    method = "plain"
    challenge_path = "/auth/challenge"
    label: str = attrs.field(default="x", metadata={"help": "A label."})

    def sign(self, request: SignRequest) -> Submission:
        body = {"challenge": request.challenge.challenge, "fp": request.credential.fingerprint}
        return Submission("/plain", json.dumps(body).encode(), "application/json")


@attrs.frozen
class VaultSource:
    """Reads a token through a secret reference; refuses production (for tests)."""

    token: SecretRef = attrs.field(metadata={"help": "The token.", "secret": True})

    def load(self, request: object) -> KsefToken:
        return KsefToken(self.token.get(), source="vault")

    def check(self, environment: Environment, context: ContextIdentifier) -> None:
        if environment.name == "production":
            raise ConfigError("the vault source is for tests only; not for production")


@hookimpl
def ksef_auth_register_signers(register: Register) -> None:
    register("plain", PlainSigner)


@hookimpl
def ksef_auth_register_credential_sources(register: Register) -> None:
    register("vault", VaultSource)
