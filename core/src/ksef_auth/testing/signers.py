"""The signer contract as tests: subclass :class:`SignerContract`, give a ``signer`` and the
``credential`` it signs with.

Every test's docstring is the rule it checks; a failure quotes it. What KSeF makes of the
submission is proved by a login against the simulator, not here.
"""

from __future__ import annotations

import socket
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import attrs
import pytest

from ksef_auth.model import (
    Challenge,
    ContextIdentifier,
    Environment,
    PublicKeyCertificate,
    SignRequest,
    Submission,
)
from ksef_auth.testing.stores import violated
from ksef_auth.testing.tokens import NIPS, secrets_of

__all__ = ["SignerContract", "make_public_keys"]


def make_public_keys() -> list[PublicKeyCertificate]:
    """KSeF-like public key certificates valid now (RSA-2048, self-signed), one for each usage:
    ``KsefTokenEncryption`` and ``SymmetricKeyEncryption``."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.x509.oid import NameOID

    now = datetime.now(UTC)
    keys = []
    for usage in ("KsefTokenEncryption", "SymmetricKeyEncryption"):
        key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, f"kit {usage}")])
        certificate = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - timedelta(days=1))
            .not_valid_after(now + timedelta(days=365))
            .sign(key, hashes.SHA256())
        )
        keys.append(
            PublicKeyCertificate(
                certificate=certificate.public_bytes(serialization.Encoding.DER),
                public_key_id=uuid.uuid4().hex,
                usage=(usage,),  # type: ignore[arg-type]
                valid_from=now - timedelta(days=1),
                valid_to=now + timedelta(days=365),
            )
        )
    return keys


_KEYS: list[PublicKeyCertificate] = []


class SignerContract:
    """Tests every signer must pass. Provide ``signer`` and ``credential`` (what it signs with);
    override ``sign_request`` to sign against other public keys or another context."""

    @pytest.fixture
    def signer(self) -> Any:
        """The signer under test."""
        raise NotImplementedError("provide a `signer` fixture")

    @pytest.fixture
    def credential(self) -> Any:
        """A credential the signer signs with (a ``KsefToken``, a certificate credential...)."""
        raise NotImplementedError("provide a `credential` fixture")

    @pytest.fixture
    def sign_request(self, credential: Any) -> SignRequest:
        """A login to sign: a fresh challenge, NIP ``NIPS[0]``, KSeF-like public keys."""
        if not _KEYS:
            _KEYS.extend(make_public_keys())
        now = datetime.now(UTC)
        return SignRequest(
            challenge=Challenge(
                challenge=f"{now:%Y%m%d}-CR-{uuid.uuid4().hex[:10].upper()}-{uuid.uuid4().hex[:10].upper()}-00",
                timestamp=now.isoformat(),
                timestamp_ms=int(now.timestamp() * 1000),
            ),
            context=ContextIdentifier.nip(NIPS[0]),
            credential=credential,
            environment=Environment.of("http://127.0.0.1:1/v2"),
            public_keys=tuple(_KEYS),
        )

    def test_says_its_method_and_challenge_path(self, signer: Any) -> None:
        """A signer names its ``method`` (what reports show: ``ksef-token``, ``xades``...) and
        the ``challenge_path`` the flow fetches a challenge from (``/auth/challenge``)."""
        method, path = getattr(signer, "method", None), getattr(signer, "challenge_path", None)
        if not isinstance(method, str) or not method:
            violated(f"signer.method is {method!r}")
        if not isinstance(path, str) or not path.startswith("/"):
            violated(f"signer.challenge_path is {path!r}, not a path starting with /")

    def test_sign_returns_a_submission(self, signer: Any, sign_request: SignRequest) -> None:
        """``sign(request)`` returns a ``Submission``: the path to post to, the body, its
        content type."""
        submission = signer.sign(sign_request)
        if not isinstance(submission, Submission):
            violated(f"sign() returned {type(submission).__name__}, not a Submission")
        if not submission.path.startswith("/") or not submission.content:
            violated(f"the submission to {submission.path!r} is not a path with a body")

    def test_sign_makes_no_network_call(
        self, signer: Any, sign_request: SignRequest, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """``sign`` does no network I/O: the flow fetched the challenge and the public keys
        before, and sends the submission after, under its own deadlines and retries."""
        attempts: list[str] = []

        def refuse(*args: Any, **kwargs: Any) -> Any:
            attempts.append(repr(args[:2]))
            raise OSError("the kit forbids network I/O in sign()")

        monkeypatch.setattr(socket.socket, "connect", refuse)
        monkeypatch.setattr(socket, "getaddrinfo", refuse)
        try:
            signer.sign(sign_request)
        except Exception:
            if not attempts:
                raise
        if attempts:
            violated(f"sign() tried to reach the network ({attempts[0]})")

    def test_the_secret_is_not_sent_in_clear(self, signer: Any, sign_request: SignRequest) -> None:
        """The credential's secret never travels in clear: not in the submission's body or
        parameters (a KSeF token is encrypted under KSeF's public key)."""
        submission = signer.sign(sign_request)
        sent = submission.content.decode("utf-8", "replace") + repr(dict(submission.params))
        for secret in secrets_of(sign_request.credential):
            if secret in sent:
                violated("the submission holds the credential's secret in clear")

    def test_no_secret_in_repr(self, signer: Any, sign_request: SignRequest) -> None:
        """Neither the signer's nor the submission's ``repr`` shows the secret."""
        text = repr(signer) + repr(signer.sign(sign_request))
        for secret in secrets_of(sign_request.credential):
            if secret in text:
                violated("repr() of the signer or of its submission shows the secret")

    def test_the_submission_answers_this_challenge(
        self, signer: Any, sign_request: SignRequest
    ) -> None:
        """The submission is bound to its challenge: another challenge gives another
        submission (a recorded one cannot be replayed)."""
        first = signer.sign(sign_request)
        other = attrs.evolve(
            sign_request,
            challenge=attrs.evolve(
                sign_request.challenge,
                challenge=sign_request.challenge.challenge[:-14] + "0000000000-00",
                timestamp_ms=sign_request.challenge.timestamp_ms + 1,
            ),
        )
        if signer.sign(other).content == first.content:
            violated("two different challenges gave the same submission")
