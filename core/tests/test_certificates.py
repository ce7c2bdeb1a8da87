"""Certificate material in every form a source meets, and every way it can be wrong."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import pkcs12
from cryptography.x509.oid import NameOID

from ksef_auth import (
    CertificateCredential,
    CertificateError,
    CredentialError,
    SecretRef,
    WrongPassword,
)
from ksef_auth.certificates import (
    credential_from_json,
    credential_from_pem,
    credential_from_pkcs12,
    credential_from_value,
    text_to_bytes,
)

PASSWORD = "Zażółć-gęślą-jaźń-42"


def name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def issue(subject: str, public_key, issuer_key, issuer: str | None = None) -> x509.Certificate:  # type: ignore[no-untyped-def]
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(name(subject))
        .issuer_name(name(issuer or subject))
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=30))
        .sign(issuer_key, hashes.SHA256())
    )


@pytest.fixture(scope="module")
def material() -> dict[str, object]:
    ca_key = ec.generate_private_key(ec.SECP384R1())
    ca = issue("Test CA", ca_key.public_key(), ca_key)
    key = ec.generate_private_key(ec.SECP256R1())
    leaf = issue("Seal", key.public_key(), ca_key, issuer="Test CA")
    return {"key": key, "leaf": leaf, "ca": ca}


def pem(obj: object) -> bytes:
    if isinstance(obj, x509.Certificate):
        return obj.public_bytes(serialization.Encoding.PEM)
    return obj.private_bytes(  # type: ignore[attr-defined,no-any-return]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def key_body(material: dict[str, object]) -> str:
    """A line from inside the key's PEM: no message may ever hold it."""
    return pem(material["key"]).decode().splitlines()[2]


def p12(material: dict[str, object], password: str | None = PASSWORD) -> bytes:
    encryption = (
        serialization.BestAvailableEncryption(password.encode())
        if password
        else serialization.NoEncryption()
    )
    return pkcs12.serialize_key_and_certificates(
        b"seal",
        material["key"],  # type: ignore[arg-type]
        material["leaf"],  # type: ignore[arg-type]
        [material["ca"]],  # type: ignore[list-item]
        encryption,
    )


def assert_credential(credential: CertificateCredential, material: dict[str, object]) -> None:
    assert credential.certificate == material["leaf"]
    assert list(credential.chain) == [material["ca"]]
    assert credential.key.public_key() == material["key"].public_key()  # type: ignore[attr-defined]
    assert credential.source == "test"


def test_pem_bundle_in_any_order(material: dict[str, object]) -> None:
    bundle = pem(material["ca"]) + pem(material["key"]) + pem(material["leaf"])
    credential = credential_from_value(bundle.decode(), where="variable X", source="test")
    assert_credential(credential, material)


def test_pem_with_escaped_newlines(material: dict[str, object]) -> None:
    bundle = (pem(material["leaf"]) + pem(material["key"]) + pem(material["ca"])).decode()
    one_line = bundle.replace("\n", "\\n")
    assert "\n" not in one_line
    assert_credential(credential_from_value(one_line, where="X", source="test"), material)


def test_separate_key_as_base64_der(material: dict[str, object]) -> None:
    der_key = material["key"].private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    certificate = (pem(material["leaf"]) + pem(material["ca"])).decode()
    credential = credential_from_value(
        certificate, key=base64.b64encode(der_key).decode(), where="X", source="test"
    )
    assert_credential(credential, material)


def test_pkcs12_bytes_and_base64(material: dict[str, object]) -> None:
    data = p12(material)
    ref = SecretRef.value(PASSWORD)
    assert_credential(credential_from_value(data, password=ref, where="X", source="test"), material)
    text = base64.b64encode(data).decode()
    assert_credential(credential_from_value(text, password=ref, where="X", source="test"), material)


def test_legacy_pkcs12(material: dict[str, object]) -> None:
    encryption = (
        serialization.PrivateFormat.PKCS12.encryption_builder()
        .kdf_rounds(2048)
        .key_cert_algorithm(pkcs12.PBES.PBESv1SHA1And3KeyTripleDESCBC)
        .hmac_hash(hashes.SHA1())
        .build(PASSWORD.encode())
    )
    data = pkcs12.serialize_key_and_certificates(
        b"seal",
        material["key"],  # type: ignore[arg-type]
        material["leaf"],  # type: ignore[arg-type]
        [material["ca"]],  # type: ignore[list-item]
        encryption,
    )
    credential = credential_from_pkcs12(
        data, password=SecretRef.value(PASSWORD), where="X", source="test"
    )
    assert_credential(credential, material)


def test_unencrypted_pkcs12_needs_no_password(material: dict[str, object]) -> None:
    credential = credential_from_pkcs12(
        p12(material, None), password=None, where="X", source="test"
    )
    assert_credential(credential, material)


def test_wrong_pkcs12_password_is_typed_and_holds_no_secret(material: dict[str, object]) -> None:
    wrong = "not-the-password-123"
    with pytest.raises(WrongPassword, match=r"wrong password for secret s \(password from") as info:
        credential_from_pkcs12(
            p12(material), password=SecretRef.value(wrong), where="secret s", source="test"
        )
    assert wrong not in str(info.value) and PASSWORD not in str(info.value)


def test_missing_pkcs12_password(material: dict[str, object]) -> None:
    with pytest.raises(WrongPassword, match="password-protected and no password is set: do it"):
        credential_from_pkcs12(
            p12(material), password=None, where="X", source="test", no_password_hint="do it"
        )


def test_unreadable_password_reference(material: dict[str, object]) -> None:
    ref = SecretRef.env("KSEF_TEST_NO_SUCH_VARIABLE")
    with pytest.raises(CredentialError, match="KSEF_TEST_NO_SUCH_VARIABLE is not set"):
        credential_from_pkcs12(p12(material), password=ref, where="X", source="test")


def test_pkcs12_without_key(material: dict[str, object]) -> None:
    data = pkcs12.serialize_key_and_certificates(
        b"seal",
        None,
        material["leaf"],  # type: ignore[arg-type]
        None,
        serialization.NoEncryption(),
    )
    with pytest.raises(CertificateError, match="holds no private key .only: CN=Seal"):
        credential_from_value(data, where="X", source="test")


def test_encrypted_pem_key(material: dict[str, object]) -> None:
    encrypted = material["key"].private_bytes(  # type: ignore[attr-defined]
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(PASSWORD.encode()),
    )
    certificate = pem(material["leaf"]) + pem(material["ca"])
    credential = credential_from_pem(
        certificate, encrypted, password=SecretRef.value(PASSWORD), where="X", source="test"
    )
    assert_credential(credential, material)
    with pytest.raises(WrongPassword, match="is encrypted and no password is set"):
        credential_from_pem(certificate, encrypted, where="X", source="test")
    with pytest.raises(WrongPassword, match="wrong password for X") as info:
        credential_from_pem(
            certificate, encrypted, password=SecretRef.value("nope-nope"), where="X", source="t"
        )
    assert "nope-nope" not in str(info.value)


def test_key_of_another_certificate(material: dict[str, object]) -> None:
    other = pem(ec.generate_private_key(ec.SECP256R1()))
    with pytest.raises(CertificateError, match="does not belong to the certificate") as info:
        credential_from_value(
            pem(material["leaf"]).decode(), key=other.decode(), where="X", source="test"
        )
    assert other.decode().splitlines()[2] not in str(info.value)


def test_key_kind_ksef_refuses() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name("Ed"))
        .issuer_name(name("Ed"))
        .public_key(key.public_key())
        .serial_number(1)
        .not_valid_before(datetime.now(UTC))
        .not_valid_after(datetime.now(UTC) + timedelta(days=1))
        .sign(key, None)
    )
    with pytest.raises(CertificateError, match="Ed25519.*only RSA .* and ECDSA"):
        credential_from_value((pem(certificate) + pem(key)).decode(), where="X", source="t")


def test_rsa_works_too() -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    certificate = issue("RSA seal", key.public_key(), key)
    credential = credential_from_value(
        (pem(certificate) + pem(key)).decode(), where="X", source="test"
    )
    assert credential.key.description == "RSA-2048"


def test_json_with_pem_fields(material: dict[str, object]) -> None:
    document = {
        "certificate": pem(material["leaf"]).decode(),
        "private_key": pem(material["key"]).decode(),
        "chain": [pem(material["ca"]).decode()],
        "nip": "5261040828",
    }
    assert_credential(
        credential_from_value(json.dumps(document), where="X", source="test"), material
    )
    assert_credential(credential_from_json(document, where="X", source="test"), material)


def test_json_with_pkcs12_field(material: dict[str, object]) -> None:
    document = {"pkcs12": base64.b64encode(p12(material)).decode()}
    credential = credential_from_json(
        document, password=SecretRef.value(PASSWORD), where="X", source="test"
    )
    assert_credential(credential, material)


def test_json_without_certificate_lists_keys_not_values(material: dict[str, object]) -> None:
    document = {"token": "a-secret-token-value", "private_key": pem(material["key"]).decode()}
    with pytest.raises(
        CertificateError, match="without a certificate .its keys: private_key, token"
    ):
        credential_from_json(document, where="secret s", source="test")
    try:
        credential_from_json(document, where="secret s", source="test")
    except CertificateError as exc:
        assert "a-secret-token-value" not in str(exc) and key_body(material) not in str(exc)


def test_json_without_key(material: dict[str, object]) -> None:
    document = {"certificate": pem(material["leaf"]).decode()}
    with pytest.raises(CertificateError, match="a certificate but no private key"):
        credential_from_json(document, where="X", source="test")


def test_json_field_of_the_wrong_type() -> None:
    with pytest.raises(CertificateError, match="under 'certificate' is a JSON int"):
        credential_from_json({"certificate": 5}, where="X", source="test")


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        ("   ", CredentialError, "X is empty"),
        (b"", CredentialError, "X is empty"),
        ("not base64 at all!", CertificateError, "neither PEM text, nor base64"),
        ('{"certificate": ', CertificateError, "starts like JSON but is not"),
        ("[1, 2]", CertificateError, "neither PEM"),
        (base64.b64encode(b"junk" * 20).decode(), CertificateError, "not a PKCS#12 file"),
        (
            "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n",
            CertificateError,
            "holds no readable certificate",
        ),
    ],
)
def test_malformed_values(value: str | bytes, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        credential_from_value(value, where="X", source="test")


def test_certificate_alone_is_no_credential(material: dict[str, object]) -> None:
    with pytest.raises(CertificateError, match="holds no private key: give the key too"):
        credential_from_value(pem(material["leaf"]).decode(), where="X", source="test")


def test_text_to_bytes() -> None:
    assert text_to_bytes(base64.b64encode(b"\x30\x03abc").decode(), "x") == b"\x30\x03abc"
    with pytest.raises(CredentialError, match="x is empty"):
        text_to_bytes("  ", "x")
