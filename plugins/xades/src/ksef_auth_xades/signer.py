"""The ``xades`` signer: a XAdES-BES-signed ``AuthTokenRequest`` for ``/auth/xades-signature``."""

from __future__ import annotations

from collections.abc import Iterable
from typing import ClassVar, Literal

import attrs

from ksef_auth import (
    CertificateCredential,
    ContextIdentifier,
    Credential,
    CredentialError,
    Environment,
    SignRequest,
    Submission,
)
from ksef_auth.values import parse_bool
from ksef_auth_xades.document import AllowedIps, build_auth_token_request

PATH = "/auth/xades-signature"


def _ip_list(value: str | Iterable[str] | None) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, str):
        value = value.replace(",", " ").split()
    return tuple(str(v).strip() for v in value if str(v).strip())


def _valid_ips(
    instance: object, attribute: attrs.Attribute[tuple[str, ...]], value: tuple[str, ...]
) -> None:
    AllowedIps.parse(value)  # raises ValueError naming the bad item


@attrs.frozen
class XadesSigner:
    """Signs an AuthTokenRequest with a certificate (XAdES-BES, enveloped): pem, pkcs12 or
    test-certificate credentials."""

    method: ClassVar[str] = "xades"
    challenge_path: ClassVar[str] = "/auth/challenge"
    uses_public_keys: ClassVar[bool] = False  # a signature encrypts nothing: no key list needed

    namespace: Literal["2.1", "2.0"] = attrs.field(
        default="2.1",
        converter=str,
        validator=attrs.validators.in_(("2.1", "2.0")),
        metadata={"help": "AuthTokenRequest schema version: 2.1 (current) or 2.0."},
    )
    subject_identifier: Literal["certificateSubject", "certificateFingerprint"] = attrs.field(
        default="certificateSubject",
        validator=attrs.validators.in_(("certificateSubject", "certificateFingerprint")),
        metadata={
            "help": "certificateSubject: identity is the NIP/PESEL in the certificate;"
            " certificateFingerprint: its SHA-256 fingerprint (permissions granted to it)."
        },
    )
    allowed_ips: tuple[str, ...] = attrs.field(
        default=(),
        converter=_ip_list,
        validator=_valid_ips,
        metadata={
            "help": "IP policy of the session: IPv4 addresses, ranges a-b and masks a/n"
            " (at most 10 of each)."
        },
    )
    verify_certificate_chain: bool = attrs.field(
        default=False,
        converter=parse_bool,
        metadata={
            "help": "Ask KSeF to verify the chain and revocation (verifyCertificateChain);"
            " on TEST self-signed certificates then fail."
        },
    )
    allow_other_context: bool = attrs.field(
        default=False,
        converter=parse_bool,
        metadata={
            "help": "Allow a certificate whose NIP differs from the context NIP (permissions"
            " granted in that context, e.g. to an accounting office)."
        },
    )

    def preflight(
        self, credential: Credential, context: ContextIdentifier, environment: Environment
    ) -> list[str]:
        """Checks before any network call (key, validity, identity); returns notes, raises
        ``CertificateError`` for what KSeF would reject."""
        from ksef_auth_xades.preflight import preflight

        return preflight(
            credential,
            context,
            environment,
            subject_identifier=self.subject_identifier,
            allow_other_context=self.allow_other_context,
            verify_certificate_chain=self.verify_certificate_chain,
        )

    def sign(self, request: SignRequest) -> Submission:
        from lxml import etree

        from ksef_auth_xades.signature import sign_enveloped

        credential = request.credential
        if not isinstance(credential, CertificateCredential):
            raise CredentialError(
                "the xades signer needs a certificate (pem, pkcs12 or test-certificate source),"
                f" not a {type(credential).__name__}"
            )
        root = build_auth_token_request(
            challenge=request.challenge.challenge,
            context=request.context,
            subject_identifier_type=self.subject_identifier,
            allowed_ips=self.allowed_ips,
            namespace=self.namespace,
        )
        sign_enveloped(root, credential.certificate, credential.key, chain=credential.chain)
        return Submission(
            path=PATH,
            content=etree.tostring(root, xml_declaration=True, encoding="utf-8"),
            content_type="application/xml",
            params={"verifyCertificateChain": "true" if self.verify_certificate_chain else "false"},
            kind="operation",
        )
