"""Checks run before any network call: would KSeF accept a XAdES login with this certificate?

Each failure raises :class:`~ksef_auth.errors.CertificateError` whose message names the
certificate (subject and validity dates) and what to do; no message holds key material. What
cannot be decided locally comes back as notes (strings) for the caller to show or log.
"""

from __future__ import annotations

import logging
from datetime import datetime

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    Credential,
    CredentialError,
    Environment,
)
from ksef_auth_xades import certinfo

log = logging.getLogger("ksef_auth.xades")


def preflight(
    credential: Credential,
    context: ContextIdentifier,
    environment: Environment,
    *,
    subject_identifier: str = "certificateSubject",
    allow_other_context: bool = False,
    verify_certificate_chain: bool = False,
    now: datetime | None = None,
) -> list[str]:
    """Raise ``CertificateError`` for what KSeF would reject; return notes for the rest (also
    logged on ``ksef_auth.xades``: the expiry warning as a warning, the others as info)."""
    if not isinstance(credential, CertificateCredential):
        raise CredentialError(
            f"the xades signer needs a certificate (pem, pkcs12 or test-certificate source),"
            f" not a {type(credential).__name__}"
            + (f" from {credential.source}" if getattr(credential, "source", "") else "")
        )
    certificate = credential.certificate
    described = certinfo.describe(certificate)
    notes: list[str] = []

    problem = certinfo.key_problem(certificate.public_key())
    if problem:
        raise CertificateError(f"the certificate {described} has a key KSeF rejects: {problem}")
    if not certinfo.public_keys_match(certificate, credential.key.public_key()):
        raise CertificateError(
            f"the private key ({credential.key.description}) does not belong to the certificate"
            f" {described}: load the key that was issued with this certificate"
        )
    problem = certinfo.validity_problem(certificate, now)
    if problem:
        raise CertificateError(f"{problem}; renew it or use another certificate")

    self_signed = certificate.issuer == certificate.subject
    if self_signed and not environment.accepts_test_certificates:
        raise CertificateError(
            f"the certificate {described} is self-signed: {environment.name} accepts only"
            " qualified certificates (or KSeF-issued ones); self-signed ones work on TEST only"
        )
    if self_signed and verify_certificate_chain:
        raise CertificateError(
            f"verify_certificate_chain is on, but the certificate {described} is self-signed"
            " and has no chain to verify: turn the option off or use a CA-issued certificate"
        )

    if subject_identifier == "certificateSubject":
        for note in _identity_notes(credential, context, described, allow_other_context):
            log.info("%s", note)
            notes.append(note)

    warning = certinfo.expiry_warning(certificate, now=now)
    if warning:
        log.warning("%s", warning)
        notes.append(warning)
    return notes


def _identity_notes(
    credential: CertificateCredential,
    context: ContextIdentifier,
    described: str,
    allow_other_context: bool,
) -> list[str]:
    identity = certinfo.certificate_identity(credential.certificate)
    if context.nip_part is None:
        return [f"the identity in {described} is checked by KSeF only ({context.type} context)"]
    if identity is None:
        raise CertificateError(
            f"the certificate {described} carries no NIP or PESEL (organizationIdentifier"
            " VATPL-<NIP>, serialNumber TINPL-<NIP> or PNOPL-<PESEL>): log in with"
            " subject_identifier = certificateFingerprint, after permissions were granted to"
            f" the fingerprint {credential.fingerprint}"
        )
    if identity.kind == "pesel":
        return [
            f"the certificate identifies a person by PESEL; whether PESEL {identity.value} may"
            f" act for NIP {context.nip_part} cannot be checked locally (KSeF decides)"
        ]
    if identity.value != context.nip_part:
        if allow_other_context:
            return [
                f"the certificate's NIP {identity.value} differs from the context NIP"
                f" {context.nip_part}: KSeF accepts this only if permissions were granted"
            ]
        raise CertificateError(
            f"the certificate {described} belongs to NIP {identity.value} (from"
            f" {identity.attribute}), but the context is NIP {context.nip_part}: use this"
            " context's certificate, or set allow_other_context = true if permissions in"
            f" {context.nip_part} were granted to NIP {identity.value}"
        )
    return []
