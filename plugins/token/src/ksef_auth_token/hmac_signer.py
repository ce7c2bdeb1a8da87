"""The ``hmac`` signer: a challenge-HMAC scheme. **Not part of KSeF 2.0.**

Some shop integrations put a gateway in front of KSeF that authenticates clients by an HMAC of a
server challenge, keyed with the KSeF token (or another shared secret), and answers with a
session token at once. The official KSeF 2.0 API has no such endpoints (it accepts only the
RSA-encrypted token or a XAdES signature); use this signer only against a service that offers
the scheme (the ksef-auth simulator does, under ``/hmac/...``)::

    POST {challenge_path}  -> {"challenge", "timestamp"}
    POST {session_path}    {"challenge", "timestamp", "contextIdentifier",
                            "authorisation": hex(HMAC-SHA256(key=secret, challenge + timestamp))}
                           -> 200 {"sessionToken": {"token", "validUntil"}}

Sessions have no refresh token: the session manager logs in again when one runs out.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import attrs

from ksef_auth import (
    ContextIdentifier,
    Credential,
    CredentialError,
    Environment,
    KsefToken,
    SharedSecret,
    SignRequest,
    Submission,
)


def _path(instance: object, attribute: attrs.Attribute[str], value: str) -> None:
    if not value.startswith("/"):
        raise ValueError(f"{attribute.name} must be a path starting with '/', got {value!r}")


def authorisation(secret: str, challenge: str, timestamp: str) -> str:
    """hex(HMAC-SHA256(key=secret, data=challenge + timestamp))."""
    return hmac.new(secret.encode(), (challenge + timestamp).encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class HmacSigner:
    """Challenge-HMAC login for gateways that offer it (not part of the official KSeF 2.0 API)."""

    # plain class attributes (not attrs fields, so not options)
    method = "hmac"
    uses_public_keys = False

    challenge_path: str = attrs.field(
        default="/hmac/challenge",
        validator=_path,
        metadata={"help": "Where to POST for a challenge, relative to the base URL."},
    )
    session_path: str = attrs.field(
        default="/hmac/session",
        validator=_path,
        metadata={"help": "Where to POST the HMAC'd challenge for a session token."},
    )

    def preflight(
        self, credential: Credential, context: ContextIdentifier, environment: Environment
    ) -> None:
        if not isinstance(credential, (KsefToken, SharedSecret)):
            raise CredentialError(
                f"the hmac signer needs a KSeF token or a shared secret, got a"
                f" {type(credential).__name__}; use a credential source that provides one"
            )
        secret = credential.token if isinstance(credential, KsefToken) else credential.secret
        if not secret:
            raise CredentialError("the hmac signer got an empty secret")
        try:
            secret.reveal().encode("utf-8")
        except UnicodeEncodeError as exc:
            raise CredentialError(
                f"the hmac signer's secret has a character that is not UTF-8 at position"
                f" {exc.start} (bytes in another encoding): set the secret again"
            ) from None

    def sign(self, request: SignRequest) -> Submission:
        credential = request.credential
        self.preflight(credential, request.context, request.environment)
        assert isinstance(credential, (KsefToken, SharedSecret))
        secret = credential.token if isinstance(credential, KsefToken) else credential.secret
        challenge = request.challenge
        body = {
            "challenge": challenge.challenge,
            "timestamp": challenge.timestamp,
            "authorisation": authorisation(
                secret.reveal(), challenge.challenge, challenge.timestamp
            ),
            "contextIdentifier": request.context.to_json(),
        }
        return Submission(
            path=self.session_path,
            content=json.dumps(body).encode(),
            content_type="application/json",
            kind="session",
        )
