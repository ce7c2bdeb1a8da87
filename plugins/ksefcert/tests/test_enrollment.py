"""Enrollment through the client and a key store, against the simulator: EC and RSA, the file
it writes, and every refusal as a typed error that says what to do and holds no secret."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from conftest import NIP, PASSWORD, PASSWORD_ENV, seal_strategy, token_strategy
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.serialization import pkcs12

from ksef_auth import (
    CertificateError,
    ConfigError,
    KeySpec,
    LocalKey,
    SecretRef,
    WrongPassword,
    build_csr,
)
from ksef_auth_ksefcert import (
    CertificatesClient,
    EnrollmentRejected,
    Pkcs12File,
    Pkcs12KeyStore,
    enroll,
)
from ksef_auth_ksefcert.enrollment import check_name


@pytest.fixture
def client(simulator: Any) -> CertificatesClient:
    return CertificatesClient(seal_strategy(simulator.base_url))


@pytest.mark.parametrize(("algorithm", "key_class"), [("ec-p256", ec), ("rsa-2048", rsa)])
def test_enroll_keeps_an_encrypted_pkcs12(
    client: CertificatesClient,
    simulator: Any,
    tmp_path: Path,
    password: str,
    algorithm: str,
    key_class: Any,
) -> None:
    path = tmp_path / "server.p12"
    seen: list[int] = []
    # long enough that the first status poll comes first, on a busy machine too (0.1 s was not)
    simulator.sim.ksef_certificates.settings.enrollment_delay = 1.0
    enrolled = enroll(
        client,
        Pkcs12KeyStore(path, SecretRef.env(PASSWORD_ENV)),
        name="Serwer ERP",
        algorithm=algorithm,
        progress=lambda status, waited: seen.append(status.code),
    )
    assert seen[0] == 100 and seen[-1] == 200  # the simulator made us wait
    assert enrolled.credential == {
        "use": "pkcs12",
        "path": str(path),
        "password": {"env": PASSWORD_ENV},
    }
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    data = path.read_bytes()
    with pytest.raises(ValueError):
        pkcs12.load_key_and_certificates(data, None)
    key, certificate, _ = pkcs12.load_key_and_certificates(data, PASSWORD.encode())
    assert certificate == enrolled.certificate
    assert isinstance(
        key, key_class.EllipticCurvePrivateKey if key_class is ec else rsa.RSAPrivateKey
    )
    record = simulator.sim.ksef_certificates.find(enrolled.serial)
    assert record is not None and record.name == "Serwer ERP"
    assert certificate.issuer == simulator.sim.ksef_certificates.ca.certificate.subject
    organization_id = certificate.subject.get_attributes_for_oid(x509.ObjectIdentifier("2.5.4.97"))
    assert organization_id[0].value == f"VATPL-{NIP}"


def test_the_file_loads_back_and_a_wrong_password_is_typed(
    client: CertificatesClient, tmp_path: Path, password: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "server.p12"
    enrolled = enroll(client, Pkcs12KeyStore(path, SecretRef.env(PASSWORD_ENV)), name="Serwer")
    file = Pkcs12File(path, SecretRef.env(PASSWORD_ENV))
    assert file.load().certificate == enrolled.certificate
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    with pytest.raises(WrongPassword) as caught:
        file.load()
    message = str(caught.value)
    assert PASSWORD_ENV in message and str(path) in message
    assert "not-the-password" not in message and PASSWORD not in message


def test_an_existing_file_is_not_overwritten(
    client: CertificatesClient, tmp_path: Path, password: str
) -> None:
    path = tmp_path / "server.p12"
    path.write_bytes(b"precious")
    with pytest.raises(Exception, match="already exists"):
        enroll(client, Pkcs12KeyStore(path, SecretRef.env(PASSWORD_ENV)), name="Serwer")
    assert path.read_bytes() == b"precious"


def test_after_a_token_login_enrollment_is_refused(
    simulator: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, password: str
) -> None:
    token = simulator.sim.issue_ksef_token(NIP)
    monkeypatch.setenv("KSEFCERT_TEST_TOKEN", token)
    client = CertificatesClient(token_strategy(simulator.base_url, "KSEFCERT_TEST_TOKEN"))
    with pytest.raises(EnrollmentRejected) as caught:
        client.enrollment_data()
    assert caught.value.code == 25001
    assert "XAdES login" in str(caught.value)
    request = build_csr(
        LocalKey(ec.generate_private_key(ec.SECP256R1())),
        x509.Name([x509.NameAttribute(x509.oid.NameOID.COMMON_NAME, "x")]),
    )
    with pytest.raises(EnrollmentRejected) as refused:
        client.submit("Serwer", "Authentication", request)
    assert refused.value.code == 25002 and refused.value.http_status == 400
    assert "KSeF tokens cannot enroll" in str(refused.value)
    assert token not in str(refused.value) and token not in str(caught.value)


def _subject(client: CertificatesClient, change: str | None = None) -> x509.Name:
    data = client.enrollment_data()
    attributes = list(data.subject())
    if change == "dn":
        attributes = [
            x509.NameAttribute(a.oid, "Inna Firma")
            if a.oid == x509.oid.NameOID.ORGANIZATION_NAME
            else a
            for a in attributes
        ]
    return x509.Name(attributes)


@pytest.mark.parametrize(
    ("case", "code"),
    [("changed-dn", 25003), ("rsa-1024", 25010), ("p-384", 25010), ("bad-signature", 25004)],
)
def test_refused_requests_are_typed_errors_with_advice(
    client: CertificatesClient, case: str, code: int
) -> None:
    if case == "rsa-1024":
        key = LocalKey(rsa.generate_private_key(public_exponent=65537, key_size=1024))
    elif case == "p-384":
        key = LocalKey(ec.generate_private_key(ec.SECP384R1()))
    else:
        key = LocalKey(ec.generate_private_key(ec.SECP256R1()))
    request = build_csr(key, _subject(client, "dn" if case == "changed-dn" else None))
    if case == "bad-signature":
        der = bytearray(request.public_bytes(serialization.Encoding.DER))
        der[-5] ^= 0x01  # inside the signature's bytes
        request = x509.load_der_x509_csr(bytes(der))
    with pytest.raises(EnrollmentRejected) as caught:
        client.submit("Serwer testowy", "Authentication", request)
    error = caught.value
    assert error.code == code and error.http_status == 400
    message = str(error)
    assert f"code {code}" in message
    advice = {
        25003: "must be exactly the enrollment data",
        25010: "RSA 2048-bit and EC P-256",
        25004: "does not verify",
    }[code]
    assert advice in message
    assert "PRIVATE KEY" not in message


def test_a_broken_key_handle_is_caught_before_kseF(client: CertificatesClient) -> None:
    class Liar:
        """Signs with another key than it claims."""

        def __init__(self) -> None:
            self.real = LocalKey(ec.generate_private_key(ec.SECP256R1()))
            self.other = LocalKey(ec.generate_private_key(ec.SECP256R1()))

        def public_key(self) -> Any:
            return self.real.public_key()

        def sign(self, data: bytes, hash_name: str = "sha256") -> bytes:
            return self.other.sign(data, hash_name)  # type: ignore[arg-type]

        @property
        def description(self) -> str:
            return "EC-secp256r1"

    class LiarStore:
        def generate(self, spec: KeySpec) -> Any:
            return Liar()

        def keep(self, key: Any, certificate: Any, chain: Any) -> Any:
            raise AssertionError("never reached")

    with pytest.raises(CertificateError, match="does not verify"):
        enroll(client, LiarStore(), name="Serwer testowy")  # type: ignore[arg-type]
    assert not client.query()


def test_the_wait_for_kseF_keeps_its_deadline_and_says_nothing_was_kept(
    simulator: Any, client: CertificatesClient, tmp_path: Path, password: str
) -> None:
    import time

    from ksef_auth.errors import DeadlineExceeded

    simulator.sim.ksef_certificates.settings.enrollment_delay = 3600.0  # KSeF is slow today
    path = tmp_path / "server.p12"
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded) as caught:
        enroll(
            client, Pkcs12KeyStore(path, SecretRef.env(PASSWORD_ENV)), name="Serwer", deadline=0.5
        )
    assert time.monotonic() - started < 30  # the deadline, not KSeF's hour
    message = str(caught.value)
    [pending] = simulator.sim.ksef_certificates.enrollments.values()
    assert f"enrollment {pending.ref} was still in progress after 0.5 s" in message
    assert "nothing was kept" in message and "--wait" in message and "revoke it" in message
    assert f"ksef-auth cert show --enrollment {pending.ref}" in message
    assert not path.exists() and PASSWORD not in message


def test_certificate_names_are_checked_locally() -> None:
    assert check_name("Serwer ERP_1-ąę") == "Serwer ERP_1-ąę"
    for bad in ("abc", "x" * 101, "Serwer: 1", "Serwer/1"):
        with pytest.raises(ValueError, match="5-100"):
            check_name(bad)


def test_offline_certificates(client: CertificatesClient, tmp_path: Path, password: str) -> None:
    enrolled = enroll(
        client,
        Pkcs12KeyStore(tmp_path / "offline.p12", SecretRef.env(PASSWORD_ENV)),
        name="Kody QR offline",
        certificate_type="Offline",
    )
    usage = enrolled.certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and not usage.digital_signature
    [info] = client.query(certificate_type="Offline")
    assert info.serial == enrolled.serial and info.type == "Offline"


def test_limits_query_retrieve_revoke_and_shorten(
    client: CertificatesClient, tmp_path: Path, password: str
) -> None:
    import datetime as dt

    assert client.limits().can_request
    first = enroll(
        client, Pkcs12KeyStore(tmp_path / "a.p12", SecretRef.env(PASSWORD_ENV)), name="Pierwszy"
    )
    second = enroll(
        client, Pkcs12KeyStore(tmp_path / "b.p12", SecretRef.env(PASSWORD_ENV)), name="Drugi serwer"
    )
    limits = client.limits()
    assert limits.certificate.remaining == limits.certificate.limit - 2
    assert [c.serial for c in client.query()] == [second.serial, first.serial]
    [got] = client.retrieve([first.serial])
    assert got.certificate() == first.certificate and got.name == "Pierwszy"
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
    client.shorten(first.serial, soon)
    info = client.find(first.serial)
    assert info is not None and abs((info.valid_to - soon).total_seconds()) < 1
    client.revoke(first.serial, "KeyCompromise")
    assert [c.serial for c in client.query(status="Revoked")] == [first.serial]
    with pytest.raises(Exception) as again:
        client.revoke(first.serial)
    assert getattr(again.value, "code", None) == 25009
    assert "already revoked" in str(again.value)


def test_test_data_is_refused_outside_test(simulator: Any) -> None:
    import datetime as dt

    from ksef_auth import Environment

    strategy = seal_strategy(simulator.base_url)
    object.__setattr__(strategy, "environment", Environment.of("production"))
    with pytest.raises(ConfigError, match="only on TEST"):
        CertificatesClient(strategy).shorten("0123456789ABCDEF", dt.datetime.now(dt.UTC))
