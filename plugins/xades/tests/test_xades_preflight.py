"""Preflight: what KSeF would reject is caught before any network call, with a clear message."""

from __future__ import annotations

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from xades_support import NIP, OTHER_NIP, PESEL, dated

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    ContextIdentifier,
    CredentialError,
    Environment,
    KsefToken,
    LocalKey,
)
from ksef_auth_testcert.builder import personal_subject, seal_subject, self_signed
from ksef_auth_xades import XadesSigner

TEST = Environment.of("test")
LOCAL = Environment.of("http://127.0.0.1:8765/v2")
CONTEXT = ContextIdentifier.nip(NIP)


def run(credential, context=CONTEXT, environment=LOCAL, **options) -> list[str]:
    return XadesSigner(**options).preflight(credential, context, environment)


def test_good_certificate_passes(rsa_seal, ec_seal, ec_personal) -> None:
    for credential in (rsa_seal, ec_seal, ec_personal):
        assert run(credential) == []


def test_key_certificate_mismatch(rsa_seal, ec_key) -> None:
    wrong = CertificateCredential(rsa_seal.certificate, LocalKey(ec_key))
    with pytest.raises(CertificateError, match=r"EC-secp256r1\) does not belong") as info:
        run(wrong)
    assert "Test Company" in str(info.value) and "valid" in str(info.value)


def test_expired(ec_key) -> None:
    with pytest.raises(CertificateError, match="has expired") as info:
        run(dated(ec_key, -400, -1))
    message = str(info.value)
    assert "VATPL-" in message and " to " in message and "UTC" in message


def test_not_yet_valid(ec_key) -> None:
    with pytest.raises(CertificateError, match="is not valid yet"):
        run(dated(ec_key, 1, 400))


def test_expiring_soon_is_a_note(ec_key) -> None:
    notes = run(dated(ec_key, -10, 5))
    assert any("expires in" in note for note in notes)


def test_nip_mismatch(rsa_seal) -> None:
    with pytest.raises(CertificateError, match=f"belongs to NIP {NIP}.*context is NIP {OTHER_NIP}"):
        run(rsa_seal, ContextIdentifier.nip(OTHER_NIP))


def test_nip_mismatch_allowed_with_option(rsa_seal) -> None:
    notes = run(rsa_seal, ContextIdentifier.nip(OTHER_NIP), allow_other_context=True)
    assert any("differs from the context NIP" in note for note in notes)


def test_nip_mismatch_irrelevant_in_fingerprint_mode(rsa_seal) -> None:
    context = ContextIdentifier.nip(OTHER_NIP)
    assert run(rsa_seal, context, subject_identifier="certificateFingerprint") == []


def test_internal_id_context_uses_its_nip(rsa_seal) -> None:
    assert run(rsa_seal, ContextIdentifier.internal_id(f"{NIP}-00001")) == []


def test_pesel_cannot_be_checked_locally(ec_key) -> None:
    certificate = self_signed(ec_key, personal_subject(pesel=PESEL))
    notes = run(CertificateCredential(certificate, LocalKey(ec_key)))
    assert any("cannot be checked locally" in note for note in notes)


def test_no_identity_suggests_fingerprint(ec_key) -> None:
    from cryptography import x509
    from cryptography.x509.oid import NameOID

    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "no identifiers")])
    credential = CertificateCredential(self_signed(ec_key, name), LocalKey(ec_key))
    with pytest.raises(CertificateError, match="certificateFingerprint"):
        run(credential)
    assert run(credential, subject_identifier="certificateFingerprint") == []


@pytest.fixture(scope="module")
def rsa_1024() -> CertificateCredential:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return CertificateCredential(self_signed(key, seal_subject(NIP)), LocalKey(key))


def test_rsa_1024_rejected(rsa_1024) -> None:
    with pytest.raises(CertificateError, match="RSA-1024 is too weak.*at least 2048"):
        run(rsa_1024)


@pytest.mark.parametrize("curve", [ec.SECP192R1(), ec.SECP256K1(), ec.BrainpoolP256R1()])
def test_unsupported_curve(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    credential = CertificateCredential(self_signed(key, seal_subject(NIP)), LocalKey(key))
    with pytest.raises(CertificateError, match=f"EC-{curve.name} is not accepted.*P-256"):
        run(credential)


@pytest.mark.parametrize("curve", [ec.SECP384R1(), ec.SECP521R1()])
def test_larger_nist_curves_accepted(curve: ec.EllipticCurve) -> None:
    key = ec.generate_private_key(curve)
    credential = CertificateCredential(self_signed(key, seal_subject(NIP)), LocalKey(key))
    assert run(credential) == []


def test_ed25519_certificate_rejected(ec_key) -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    certificate = self_signed(key, seal_subject(NIP))
    # LocalKey refuses Ed25519 itself; a third-party KeyHandle might not
    credential = CertificateCredential(certificate, LocalKey(ec_key))
    with pytest.raises(CertificateError, match="Ed25519 keys cannot sign for KSeF"):
        run(credential)


def test_self_signed_refused_on_demo_and_production(rsa_seal) -> None:
    for name in ("demo", "production"):
        with pytest.raises(CertificateError, match=f"self-signed: {name} accepts only qualified"):
            run(rsa_seal, environment=Environment.of(name))
    assert run(rsa_seal, environment=TEST) == []


def test_ca_issued_passes_on_production(ca_issued) -> None:
    assert run(ca_issued, environment=Environment.of("production")) == []


def test_self_signed_with_chain_verification(rsa_seal) -> None:
    with pytest.raises(CertificateError, match="verify_certificate_chain is on"):
        run(rsa_seal, verify_certificate_chain=True)


def test_token_credential_refused() -> None:
    with pytest.raises(CredentialError, match="needs a certificate"):
        run(KsefToken("secret-token-value", source="env:KSEF2_TOKEN"))


def test_messages_hold_no_key_material(rsa_seal, ec_key) -> None:
    from cryptography.hazmat.primitives import serialization

    wrong = CertificateCredential(rsa_seal.certificate, LocalKey(ec_key))
    with pytest.raises(CertificateError) as info:
        run(wrong)
    pem = ec_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()
    body = "".join(pem.splitlines()[1:-1])
    assert body[:40] not in str(info.value)
    assert str(ec_key.private_numbers().private_value) not in str(info.value)


def test_expiry_warning_is_logged(ec_key, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level("WARNING", logger="ksef_auth.xades"):
        run(dated(ec_key, -10, 5))
    assert any("expires in" in r.getMessage() for r in caplog.records)


def test_boolean_options_from_code_take_only_booleans() -> None:
    """``"false"`` from Python code is false, not a truthy string; nonsense is refused."""
    from ksef_auth_xades import XadesSigner

    assert XadesSigner(allow_other_context="false").allow_other_context is False
    assert XadesSigner(verify_certificate_chain="yes").verify_certificate_chain is True
    with pytest.raises(ValueError, match="true or false"):
        XadesSigner(allow_other_context="maybe")
