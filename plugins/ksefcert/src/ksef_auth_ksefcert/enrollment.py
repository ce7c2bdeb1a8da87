"""One KSeF-certificate enrollment, end to end, through a key store::

    data     GET /certificates/enrollments/data            the subject the CSR must carry
    key      key_store.generate(KeySpec)                   in this process, a token or a KMS
    csr      ksef_auth.build_csr(key, data.subject())      signed through the key handle
    submit   POST /certificates/enrollments                -> reference number (EH)
    wait     GET /certificates/enrollments/{ref}           100 ... 200 + serial number
    fetch    POST /certificates/retrieve                   the DER certificate
    verify   its key is ours, its subject the data's
    keep     key_store.keep(key, certificate, chain)       -> the credential table to load it

The key never leaves its key store: a hardware key store generates it inside the token and the
CSR is signed there. A failure after KSeF issued the certificate says so and names the serial
number (the certificate stays listed by ``ksef-auth cert list``; revoke it if its key is lost).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

import attrs

from ksef_auth import CredentialError, KeySpec, KsefAuthError, build_csr
from ksef_auth.certificates import same_public_key
from ksef_auth.errors import DeadlineExceeded
from ksef_auth_ksefcert.client import CertificatesClient, Progress
from ksef_auth_ksefcert.errors import CertificateNotIssued
from ksef_auth_ksefcert.records import CertificateType, EnrollmentData

if TYPE_CHECKING:
    from cryptography import x509

    from ksef_auth import KeyStore


@attrs.frozen
class Enrolled:
    """What an enrollment produced: the certificate and how a strategy loads it again."""

    serial: str
    reference: str
    name: str
    certificate_type: CertificateType
    certificate: x509.Certificate = attrs.field(repr=False)
    credential: Mapping[str, Any]


def check_name(name: str) -> str:
    """A certificate name KSeF accepts: 5-100 letters (Polish ones too), digits, spaces, ``_``
    and ``-``. Raises ``ValueError`` otherwise."""
    import re

    if not 5 <= len(name) <= 100 or not re.fullmatch(r"[a-zA-Z0-9_\- ąćęłńóśźżĄĆĘŁŃÓŚŹŻ]+", name):
        raise ValueError(
            f"certificate name {name!r} must be 5-100 letters, digits, spaces, '_' or '-'"
        )
    return name


def enroll(
    client: CertificatesClient,
    key_store: KeyStore,
    *,
    name: str,
    certificate_type: CertificateType = "Authentication",
    algorithm: str = "ec-p256",
    label: str | None = None,
    valid_from: datetime | None = None,
    deadline: float = 120.0,
    progress: Progress | None = None,
) -> Enrolled:
    """Enroll a new key of ``key_store`` for the subject ``client``'s strategy logs in as."""
    check_name(name)
    data = client.enrollment_data()
    spec = KeySpec(algorithm=algorithm, label=label or name)  # type: ignore[arg-type]
    key = key_store.generate(spec)
    request = build_csr(key, data.subject())
    reference = client.submit(name, certificate_type, request, valid_from=valid_from)
    try:
        serial = client.wait(reference, deadline=deadline, progress=progress)
    except DeadlineExceeded:
        raise DeadlineExceeded(
            f"enrollment {reference} was still in progress after {deadline:g} s, so nothing"
            " was kept: enroll again with a longer wait (ksef-auth cert enroll --wait"
            f" SECONDS); if KSeF issues this one later (ksef-auth cert show --enrollment"
            f" {reference} names it), no kept key belongs to it: revoke it"
        ) from None
    found = [c for c in client.retrieve([serial]) if c.serial == serial]
    if not found:
        raise CertificateNotIssued(
            f"KSeF issued certificate {serial} (enrollment {reference}) but does not return it:"
            " try `ksef-auth cert show` later"
        )
    try:
        certificate = found[0].certificate()
    except ValueError:
        raise CertificateNotIssued(
            f"KSeF returned certificate {serial} in a form that cannot be read"
        ) from None
    _verify(certificate, key.public_key(), data, serial)
    try:
        table = key_store.keep(key, certificate, ())
    except KsefAuthError as exc:
        raise CredentialError(
            f"certificate {serial} was issued but could not be kept: {exc}; if its key is lost,"
            f" revoke it (ksef-auth cert revoke {serial})"
        ) from exc
    return Enrolled(
        serial=serial,
        reference=reference,
        name=name,
        certificate_type=certificate_type,
        certificate=certificate,
        credential=dict(table),
    )


def _verify(
    certificate: x509.Certificate, public_key: Any, data: EnrollmentData, serial: str
) -> None:
    if not same_public_key(certificate.public_key(), public_key):
        raise CertificateNotIssued(
            f"certificate {serial} does not carry the key that was enrolled: do not use it;"
            f" revoke it (ksef-auth cert revoke {serial})"
        )
    wanted = sorted((a.oid.dotted_string, str(a.value)) for a in data.subject())
    got = sorted((a.oid.dotted_string, str(a.value)) for a in certificate.subject)
    if wanted != got:
        raise CertificateNotIssued(
            f"certificate {serial} names {certificate.subject.rfc4514_string()}, not the"
            " subject that was enrolled"
        )
