"""certinfo: identities and validity as KSeF reads them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.x509.oid import NameOID
from xades_support import NIP, PESEL, dated

from ksef_auth_testcert.builder import personal_subject, seal_subject, self_signed
from ksef_auth_xades import certinfo


def test_seal_identity(ec_seal) -> None:
    identity = certinfo.certificate_identity(ec_seal.certificate)
    assert identity == certinfo.CertificateIdentity("nip", NIP, "organizationIdentifier")
    assert str(identity) == f"NIP {NIP} (from organizationIdentifier)"


def test_personal_identities(ec_key) -> None:
    by_nip = self_signed(ec_key, personal_subject(nip=NIP))
    by_pesel = self_signed(ec_key, personal_subject(pesel=PESEL))
    assert certinfo.certificate_identity(by_nip) == certinfo.CertificateIdentity(
        "nip", NIP, "serialNumber"
    )
    assert certinfo.certificate_identity(by_pesel) == certinfo.CertificateIdentity(
        "pesel", PESEL, "serialNumber"
    )


@pytest.mark.parametrize(
    ("oid", "value", "expected"),
    [
        (NameOID.SERIAL_NUMBER, f"PESEL:{PESEL}", ("pesel", PESEL)),
        (NameOID.SERIAL_NUMBER, f"NIP {NIP}", ("nip", NIP)),
        (NameOID.ORGANIZATION_IDENTIFIER, f"VATPL {NIP}", ("nip", NIP)),
        (NameOID.SERIAL_NUMBER, "IDCPL-ABC123", None),
        (NameOID.ORGANIZATION_IDENTIFIER, "VATDE-123456789", None),
    ],
)
def test_identity_patterns(oid, value: str, expected, ec_key) -> None:
    name = x509.Name(
        [x509.NameAttribute(oid, value), x509.NameAttribute(NameOID.COUNTRY_NAME, "PL")]
    )
    identity = certinfo.certificate_identity(self_signed(ec_key, name))
    assert (identity.kind, identity.value) == expected if expected else identity is None


def test_days_left_and_warning(ec_key) -> None:
    soon = dated(ec_key, -10, 12.5).certificate
    assert certinfo.days_left(soon) == 12
    assert "expires in 12 days" in certinfo.expiry_warning(soon)
    later = dated(ec_key, -10, 300).certificate
    assert certinfo.expiry_warning(later) is None
    gone = dated(ec_key, -10, -2).certificate
    assert certinfo.days_left(gone) < 0
    assert "has expired" in certinfo.expiry_warning(gone)


def test_validity_problem_at_a_given_time(ec_seal) -> None:
    certificate = ec_seal.certificate
    assert certinfo.validity_problem(certificate) is None
    future = datetime.now(UTC) + timedelta(days=800)
    assert "has expired" in certinfo.validity_problem(certificate, future)


def test_fingerprint_matches_credential(rsa_seal) -> None:
    assert certinfo.fingerprint(rsa_seal.certificate) == rsa_seal.fingerprint
    assert len(rsa_seal.fingerprint) == 64


def test_describe_has_subject_and_dates(rsa_seal) -> None:
    text = certinfo.describe(rsa_seal.certificate)
    assert text.startswith("C=PL,CN=Test Company") and "(valid " in text and " to " in text


def test_seal_subject_has_no_person_names() -> None:
    name = seal_subject(NIP)
    assert not name.get_attributes_for_oid(NameOID.GIVEN_NAME)
    assert not name.get_attributes_for_oid(NameOID.SURNAME)
