"""KSeF certificates in the simulator: enrollment data, CSR checks, asynchronous issuing, the CA,
logins as InternalCertificate, revocation, shortened validity, limits, and the spec's shapes."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from conftest import NIP, OTHER_NIP, PESEL, SyncASGI, fast
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID
from sim_client import bearer, ksef_error_code, token_login, wait_status
from sim_ksef_certs import (
    MD5_WITH_RSA,
    OIDS,
    SHA1_WITH_RSA,
    enroll,
    issue,
    make_csr,
    new_key,
    resign_rsa,
    serial_of,
    start_xades,
    subject_of,
    wait_enrollment,
    xades_access,
)
from sim_openapi import check, spec
from sim_signing import Signer

from ksef_auth_simulator import Simulator
from ksef_auth_simulator.ksef_certificates import DAY, CertificateSettings

assert ExtendedKeyUsageOID  # imported for readers looking for EKU: KSeF sets none


class Clock:
    def __init__(self) -> None:
        import time

        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def recorded() -> list[httpx.Response]:
    return []


def client_for(sim: Simulator, recorded: list[httpx.Response]) -> httpx.Client:
    def record(response: httpx.Response) -> None:
        response.read()
        recorded.append(response)

    return httpx.Client(
        transport=SyncASGI(sim.app),
        base_url="http://ksef.local/v2",
        event_hooks={"response": [record]},
    )


@pytest.fixture
def sim() -> Simulator:
    return Simulator(fast(certificates=CertificateSettings(enrollment_delay=0.05)))


@pytest.fixture
def c(sim: Simulator, recorded: list[httpx.Response]) -> Iterator[httpx.Client]:
    with client_for(sim, recorded) as client:
        yield client
    for response in recorded:  # every response this module provokes is one the spec declares
        if response.request.url.path.startswith("/v2/"):
            check(response)


def data(c: httpx.Client, access: str) -> dict[str, Any]:
    response = c.get("/certificates/enrollments/data", headers=bearer(access))
    assert response.status_code == 200, response.text
    return dict(response.json())


# --- the happy path ---------------------------------------------------------------------------


def test_enrollment_data_comes_from_the_seal(c: httpx.Client, seal: Signer) -> None:
    got = data(c, xades_access(c, seal))
    assert got["organizationIdentifier"] == f"VATPL-{NIP}"
    assert got["organizationName"] == "Firma Testowa Sp. z o.o."
    assert got["commonName"] == "Test" and got["countryName"] == "PL"
    assert len(got["uniqueIdentifier"]) == 36
    assert "givenName" not in got and "surname" not in got
    assert data(c, xades_access(c, seal)) == got  # the same subject gets the same data


def test_personal_certificates_get_normalized_serial_numbers(
    c: httpx.Client, person_nip: Signer, person_pesel: Signer, sim: Simulator
) -> None:
    assert data(c, xades_access(c, person_nip))["serialNumber"] == f"TINPL-{NIP}"
    sim.link_pesel(NIP, PESEL)
    got = data(c, xades_access(c, person_pesel))
    assert got["serialNumber"] == f"PNOPL-{PESEL}"
    assert got["givenName"] == "Jan" and got["surname"] == "Kowalski"


@pytest.mark.parametrize("kind", ["ec", "rsa"])
def test_enroll_retrieve_and_log_in_as_internal_certificate(
    c: httpx.Client, seal: Signer, sim: Simulator, kind: str
) -> None:
    access = xades_access(c, seal)
    limits = c.get("/certificates/limits", headers=bearer(access)).json()
    assert limits == {
        "canRequest": True,
        "enrollment": {"limit": 300, "remaining": 300},
        "certificate": {"limit": 100, "remaining": 100},
    }
    key = new_key(kind)
    response = enroll(c, access, make_csr(key, subject_of(data(c, access))))
    assert response.status_code == 202
    ref = response.json()["referenceNumber"]
    assert ref[9:11] == "EH" and len(ref) == 36
    first = c.get(f"/certificates/enrollments/{ref}", headers=bearer(access)).json()
    assert first["status"] == {"code": 100, "description": "Wniosek przyjęty do realizacji"}
    done = wait_enrollment(c, access, ref)
    assert done["status"]["code"] == 200
    serial = done["certificateSerialNumber"]
    got = c.post(
        "/certificates/retrieve",
        json={"certificateSerialNumbers": [serial, "0000000000000001"]},
        headers=bearer(access),
    ).json()["certificates"]
    assert [g["certificateSerialNumber"] for g in got] == [serial]
    assert got[0]["certificateType"] == "Authentication"
    certificate = x509.load_der_x509_certificate(base64.b64decode(got[0]["certificate"]))
    assert f"{certificate.serial_number:016X}" == serial
    assert certificate.issuer == sim.ksef_certificates.ca.certificate.subject
    certificate.verify_directly_issued_by(sim.ksef_certificates.ca.certificate)
    usage = certificate.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.content_commitment
    lifetime = certificate.not_valid_after_utc - certificate.not_valid_before_utc
    assert lifetime.days == 730
    assert certificate.subject == make_subject_back(data(c, access))

    ksef = Signer(key, certificate)
    init = start_xades(c, ksef)
    status = wait_status(c, init)
    assert status["status"]["code"] == 200, status
    assert status["authenticationMethod"] == "InternalCertificate"
    assert status["authenticationMethodInfo"]["displayName"] == "Certyfikat KSeF"
    assert sim.ksef_certificates.find(serial).last_use is not None


def make_subject_back(fields: dict[str, Any]) -> x509.Name:
    return subject_of(fields)


def test_a_ksef_certificate_enrolls_its_successor(c: httpx.Client, seal: Signer) -> None:
    seal_access = xades_access(c, seal)
    first = issue(c, seal_access, "ec")
    access = xades_access(c, first)
    assert data(c, access) == data(c, seal_access)  # the same subject, the same DN
    second = issue(c, access, "rsa")
    assert second.cert.subject == first.cert.subject
    listed = c.post("/certificates/query", json={}, headers=bearer(access)).json()
    assert [item["certificateSerialNumber"] for item in listed["certificates"]] == [
        serial_of(second),
        serial_of(first),
    ]  # requestDate, newest first
    item = listed["certificates"][0]
    assert item["subjectIdentifier"] == {"type": "Nip", "value": NIP}
    assert item["status"] == "Active" and item["type"] == "Authentication"
    assert listed["hasMore"] is False


def test_enrollment_with_valid_from_starts_later(
    c: httpx.Client, seal: Signer, sim: Simulator
) -> None:
    import datetime as dt

    access = xades_access(c, seal)
    start = dt.datetime.now(dt.UTC) + dt.timedelta(days=2)
    key = new_key()
    response = enroll(
        c, access, make_csr(key, subject_of(data(c, access))), validFrom=start.isoformat()
    )
    done = wait_enrollment(c, access, response.json()["referenceNumber"])
    record = sim.ksef_certificates.find(done["certificateSerialNumber"])
    assert record is not None and abs(record.valid_from - start.timestamp()) < 1
    certificate = x509.load_der_x509_certificate(record.der)
    init = start_xades(c, Signer(key, certificate))
    status = wait_status(c, init)
    assert status["status"]["code"] == 460
    assert status["status"]["details"] == ["Nieważny certyfikat"]


# --- what KSeF refuses ------------------------------------------------------------------------


def test_a_token_login_cannot_enroll_read_data_or_revoke(
    c: httpx.Client, sim: Simulator, seal: Signer
) -> None:
    access = token_login(c, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]
    response = c.get("/certificates/enrollments/data", headers=bearer(access))
    assert response.status_code == 400 and ksef_error_code(response) == 25001
    subject = subject_of({"commonName": "x", "countryName": "PL"})
    response = enroll(c, access, make_csr(new_key(), subject))
    assert response.status_code == 400 and ksef_error_code(response) == 25002
    limits = c.get("/certificates/limits", headers=bearer(access)).json()
    assert limits["canRequest"] is False
    ksef = issue(c, xades_access(c, seal))
    response = c.post(f"/certificates/{serial_of(ksef)}/revoke", headers=bearer(access))
    assert response.status_code == 403
    assert response.json()["reasonCode"] == "auth-method-not-allowed"


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("dn", 25003),
        ("missing-attribute", 25003),
        ("extra-attribute", 25003),
        ("rsa1024", 25010),
        ("p384", 25010),
        ("bad-signature", 25004),
        ("not-a-csr", 25004),
        ("not-base64", 21405),
        ("sha224", 25011),
    ],
)
def test_csr_checks(c: httpx.Client, seal: Signer, change: str, code: int) -> None:
    access = xades_access(c, seal)
    fields = data(c, access)
    kind = change if change in ("rsa1024", "p384") else "ec"
    key = new_key(kind)
    if change == "dn":
        fields["organizationName"] = "Inna Firma"
    elif change == "missing-attribute":
        del fields["uniqueIdentifier"]
    elif change == "extra-attribute":
        fields["surname"] = "Kowalski"
    algorithm = hashes.SHA224() if change == "sha224" else None
    der = make_csr(key, subject_of(fields), algorithm=algorithm)
    if change == "bad-signature":
        der = der[:-3] + bytes([der[-3] ^ 0x01]) + der[-2:]
    if change == "not-a-csr":
        der = b"\x30\x03\x02\x01\x00"
    if change == "not-base64":
        body = {"certificateName": "Certyfikat", "certificateType": "Authentication", "csr": "@@"}
        response = c.post("/certificates/enrollments", json=body, headers=bearer(access))
    else:
        response = enroll(c, access, der)
    assert response.status_code == 400, response.text
    assert ksef_error_code(response) == code


def test_md5_signed_requests_are_25011(c: httpx.Client, seal: Signer) -> None:
    access = xades_access(c, seal)
    key = new_key("rsa")
    assert isinstance(key, rsa.RSAPrivateKey)
    der = resign_rsa(make_csr(key, subject_of(data(c, access))), key, MD5_WITH_RSA, hashes.MD5())
    response = enroll(c, access, der)
    assert response.status_code == 400 and ksef_error_code(response) == 25011


def test_rsa_pss_and_sha1_signed_requests_are_accepted(c: httpx.Client, seal: Signer) -> None:
    access = xades_access(c, seal)
    subject = subject_of(data(c, access))
    rsa_key = new_key("rsa")
    assert isinstance(rsa_key, rsa.RSAPrivateKey)
    sha1 = resign_rsa(make_csr(rsa_key, subject), rsa_key, SHA1_WITH_RSA, hashes.SHA1())
    for der in (
        make_csr(new_key("rsa"), subject, pss=True),
        sha1,
        make_csr(new_key("ec"), subject, algorithm=hashes.SHA512()),
    ):
        response = enroll(c, access, der)
        assert response.status_code == 202, response.text


@pytest.mark.parametrize(
    "body",
    [
        {"certificateName": "abc", "certificateType": "Authentication", "csr": "AA=="},
        {"certificateName": "Nazwa: zła", "certificateType": "Authentication", "csr": "AA=="},
        {"certificateName": "Certyfikat", "certificateType": "Signing", "csr": "AA=="},
        {"certificateName": "Certyfikat", "certificateType": "Offline"},
        {
            "certificateName": "Certyfikat",
            "certificateType": "Offline",
            "csr": "AA==",
            "validFrom": "jutro",
        },
    ],
)
def test_enrollment_body_validation(c: httpx.Client, seal: Signer, body: dict[str, Any]) -> None:
    response = c.post("/certificates/enrollments", json=body, headers=bearer(xades_access(c, seal)))
    assert response.status_code == 400 and ksef_error_code(response) == 21405


def test_unreadable_json_is_21001(c: httpx.Client, seal: Signer) -> None:
    access = xades_access(c, seal)
    for path in ("/certificates/enrollments", "/certificates/retrieve", "/certificates/query"):
        response = c.post(path, content=b"{not json", headers=bearer(access))
        assert response.status_code == 400 and ksef_error_code(response) == 21001, path


def test_limits_are_kept(seal: Signer, recorded: list[httpx.Response]) -> None:
    sim = Simulator(fast(certificates=CertificateSettings(enrollment_limit=2, certificate_limit=1)))
    with client_for(sim, recorded) as c:
        access = xades_access(c, seal)
        issue(c, access)
        limits = c.get("/certificates/limits", headers=bearer(access)).json()
        assert limits["certificate"] == {"limit": 1, "remaining": 0}
        assert limits["canRequest"] is False
        response = enroll(c, access, make_csr(new_key(), subject_of(data(c, access))))
        assert ksef_error_code(response) == 25007
        sim.ksef_certificates.settings.certificate_limit = 5
        issue(c, access)
        response = enroll(c, access, make_csr(new_key(), subject_of(data(c, access))))
        assert ksef_error_code(response) == 25006
    for response in recorded:
        check(response)


def test_limit_reached_while_processing_rejects_the_enrollment(seal: Signer) -> None:
    sim = Simulator(fast(certificates=CertificateSettings(certificate_limit=1)))
    with client_for(sim, []) as c:
        access = xades_access(c, seal)
        subject = subject_of(data(c, access))
        refs = [
            enroll(c, access, make_csr(new_key(), subject)).json()["referenceNumber"]
            for _ in range(2)
        ]
        outcomes = [wait_enrollment(c, access, ref)["status"] for ref in refs]
    assert outcomes[0]["code"] == 200
    assert outcomes[1] == {
        "code": 400,
        "description": "Wniosek odrzucony",
        "details": ["Osiągnięto dopuszczalny limit posiadanych certyfikatów."],
    }


def test_a_key_certified_for_another_subject_is_rejected(c: httpx.Client, seal: Signer) -> None:
    from conftest import certificate, name

    other = Signer(seal.key, certificate(seal.key, name(seal_nip=OTHER_NIP)))
    key = new_key()
    first = xades_access(c, seal)
    ref = enroll(c, first, make_csr(key, subject_of(data(c, first)))).json()["referenceNumber"]
    assert wait_enrollment(c, first, ref)["status"]["code"] == 200
    second = xades_access(c, other, OTHER_NIP)
    ref = enroll(c, second, make_csr(key, subject_of(data(c, second)))).json()["referenceNumber"]
    status = wait_enrollment(c, second, ref)["status"]
    assert status["code"] == 400
    assert status["details"] == ["Klucz publiczny został już certyfikowany przez inny podmiot."]


def test_enrollment_status_of_another_subject_or_unknown_is_25005(
    c: httpx.Client, seal: Signer, person_nip: Signer
) -> None:
    from conftest import certificate, name

    access = xades_access(c, seal)
    ref = enroll(c, access, make_csr(new_key(), subject_of(data(c, access)))).json()[
        "referenceNumber"
    ]
    other_seal = Signer(seal.key, certificate(seal.key, name(seal_nip=OTHER_NIP)))
    other = xades_access(c, other_seal, OTHER_NIP)
    for token, path in (
        (other, f"/certificates/enrollments/{ref}"),
        (access, "/certificates/enrollments/20250101-EH-0000000000-0000000000-00"),
    ):
        response = c.get(path, headers=bearer(token))
        assert response.status_code == 400 and ksef_error_code(response) == 25005
    response = c.get("/certificates/enrollments/short", headers=bearer(access))
    assert ksef_error_code(response) == 21405


def test_enrollment_status_is_gone_after_30_days(seal: Signer) -> None:
    clock = Clock()
    sim = Simulator(fast(clock=clock))
    with client_for(sim, []) as c:
        access = xades_access(c, seal)
        ref = enroll(c, access, make_csr(new_key(), subject_of(data(c, access)))).json()[
            "referenceNumber"
        ]
        clock.now += 29 * DAY
        access = xades_access(c, seal)
        assert c.get(f"/certificates/enrollments/{ref}", headers=bearer(access)).status_code == 200
        clock.now += 2 * DAY
        access = xades_access(c, seal)
        response = c.get(f"/certificates/enrollments/{ref}", headers=bearer(access))
        assert response.status_code == 410
        check(response)


# --- after issuing ----------------------------------------------------------------------------


def test_a_revoked_certificate_no_longer_logs_in(c: httpx.Client, seal: Signer) -> None:
    access = xades_access(c, seal)
    ksef = issue(c, access)
    serial = serial_of(ksef)
    response = c.post(
        f"/certificates/{serial}/revoke",
        json={"revocationReason": "Superseded"},
        headers=bearer(access),
    )
    assert response.status_code == 204 and response.content == b""
    status = wait_status(c, start_xades(c, ksef))
    assert status["status"]["code"] == 460
    assert status["status"]["details"] == ["Certyfikat odwołany"]
    again = c.post(f"/certificates/{serial}/revoke", headers=bearer(access))
    assert ksef_error_code(again) == 25009
    unknown = c.post("/certificates/0123456789ABCDEF/revoke", headers=bearer(access))
    assert ksef_error_code(unknown) == 25008
    bad = c.post("/certificates/xyz/revoke", headers=bearer(access))
    assert ksef_error_code(bad) == 21405
    reason = c.post(
        f"/certificates/{serial}/revoke",
        json={"revocationReason": "Lost"},
        headers=bearer(access),
    )
    assert ksef_error_code(reason) == 21405
    revoked = c.post(
        "/certificates/query", json={"status": "Revoked"}, headers=bearer(access)
    ).json()
    assert [i["certificateSerialNumber"] for i in revoked["certificates"]] == [serial]


def test_shortened_validity_ends_logins(c: httpx.Client, seal: Signer, sim: Simulator) -> None:
    import datetime as dt

    access = xades_access(c, seal)
    ksef = issue(c, access)
    serial = serial_of(ksef)
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(days=10)
    response = c.put(
        f"/testdata/certificates/{serial}",
        json={"validTo": soon.isoformat()},
        headers=bearer(access),
    )
    assert response.status_code == 200
    listed = c.post(
        "/certificates/query", json={"certificateSerialNumber": serial}, headers=bearer(access)
    ).json()["certificates"]
    assert listed[0]["validTo"].startswith(soon.strftime("%Y-%m-%dT%H:%M:%S"))
    status = wait_status(c, start_xades(c, ksef))
    assert status["status"]["code"] == 200  # still valid for 10 days
    later = soon + dt.timedelta(days=1)
    response = c.put(
        f"/testdata/certificates/{serial}",
        json={"validTo": later.isoformat()},
        headers=bearer(access),
    )
    assert ksef_error_code(response) == 21405  # never later than now
    past = dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)
    c.put(
        f"/testdata/certificates/{serial}",
        json={"validTo": past.isoformat().replace("+00:00", "Z")},
        headers=bearer(access),
    )
    status = wait_status(c, start_xades(c, ksef))
    assert status["status"]["code"] == 460
    assert status["status"]["details"] == ["Nieważny certyfikat"]
    expired = c.post(
        "/certificates/query", json={"status": "Expired"}, headers=bearer(access)
    ).json()
    assert [i["certificateSerialNumber"] for i in expired["certificates"]] == [serial]
    unknown = c.put(
        "/testdata/certificates/0123456789ABCDEF",
        json={"validTo": past.isoformat()},
        headers=bearer(access),
    )
    assert ksef_error_code(unknown) == 25008
    assert sim.ksef_certificates.find(serial) is not None


def test_an_offline_certificate_cannot_log_in(c: httpx.Client, seal: Signer) -> None:
    offline = issue(c, xades_access(c, seal), certificate_type="Offline")
    usage = offline.cert.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.content_commitment and not usage.digital_signature
    from sim_client import xades_login
    from sim_signing import auth_request_xml, hand_sign

    challenge = c.post("/auth/challenge").json()["challenge"]
    response = xades_login(c, hand_sign(auth_request_xml(challenge), offline, method="ecdsa"))
    assert response.status_code == 400 and ksef_error_code(response) == 21115


def test_a_certificate_not_issued_here_is_not_internal(
    c: httpx.Client, seal: Signer, sim: Simulator
) -> None:
    """A look-alike (same serial, subject and issuer name, another key signs it) stays a seal."""
    ksef = issue(c, xades_access(c, seal))
    forged = (
        x509.CertificateBuilder()
        .subject_name(ksef.cert.subject)
        .issuer_name(ksef.cert.issuer)
        .public_key(ksef.key.public_key())
        .serial_number(ksef.cert.serial_number)
        .not_valid_before(ksef.cert.not_valid_before_utc)
        .not_valid_after(ksef.cert.not_valid_after_utc)
        .sign(new_key(), hashes.SHA256())  # type: ignore[arg-type]
    )
    assert sim.ksef_certificates.recognize(forged) is None
    status = wait_status(c, start_xades(c, Signer(ksef.key, forged)))
    assert status["authenticationMethod"] == "QualifiedSeal"
    assert sim.ksef_certificates.recognize(ksef.cert) is not None


def test_query_filters_and_pages(c: httpx.Client, seal: Signer) -> None:
    access = xades_access(c, seal)
    made = [issue(c, access) for _ in range(11)]
    offline = issue(c, access, certificate_type="Offline")
    first = c.post("/certificates/query", headers=bearer(access)).json()
    assert len(first["certificates"]) == 10 and first["hasMore"] is True
    second = c.post("/certificates/query?pageOffset=1", headers=bearer(access)).json()
    assert len(second["certificates"]) == 2 and second["hasMore"] is False
    only_offline = c.post(
        "/certificates/query", json={"type": "Offline"}, headers=bearer(access)
    ).json()["certificates"]
    assert [i["certificateSerialNumber"] for i in only_offline] == [serial_of(offline)]
    named = c.post(
        "/certificates/query?pageSize=50", json={"name": "testowy"}, headers=bearer(access)
    ).json()["certificates"]
    assert len(named) == 12
    assert serial_of(made[0]) in {i["certificateSerialNumber"] for i in named}
    for bad in ("pageSize=5", "pageSize=51", "pageOffset=-1", "pageSize=x"):
        response = c.post(f"/certificates/query?{bad}", headers=bearer(access))
        assert ksef_error_code(response) == 21405, bad
    response = c.post("/certificates/query", json={"status": "Lost"}, headers=bearer(access))
    assert ksef_error_code(response) == 21405


def test_certificates_need_an_access_token(c: httpx.Client) -> None:
    assert c.get("/certificates/limits").status_code == 401
    assert c.post("/certificates/query", json={}).status_code == 401


def test_every_certificate_operation_is_exercised_against_the_spec(
    seal: Signer, sim: Simulator
) -> None:
    """Success, 400, 401 and 429 (both error dialects) on each operation, all spec-valid."""
    from ksef_auth_simulator import FaultRule

    recorded: list[httpx.Response] = []
    problem = {"X-Error-Format": "problem-details"}
    operations = [
        ("GET", "/certificates/limits"),
        ("GET", "/certificates/enrollments/data"),
        ("POST", "/certificates/enrollments"),
        ("GET", "/certificates/enrollments/{referenceNumber}"),
        ("POST", "/certificates/retrieve"),
        ("POST", "/certificates/query"),
        ("POST", "/certificates/{certificateSerialNumber}/revoke"),
        ("PUT", "/testdata/certificates/{serialNumber}"),
    ]
    with client_for(sim, recorded) as c:
        access = xades_access(c, seal)
        ksef = issue(c, access)
        serial = serial_of(ksef)
        ref = enroll(c, access, make_csr(new_key(), subject_of(data(c, access)))).json()[
            "referenceNumber"
        ]
        auth = bearer(access)
        calls = {
            "/certificates/limits": lambda h: c.get("/certificates/limits", headers=h),
            "/certificates/enrollments/data": lambda h: c.get(
                "/certificates/enrollments/data", headers=h
            ),
            "/certificates/enrollments": lambda h: c.post(
                "/certificates/enrollments", json={}, headers=h
            ),
            "/certificates/enrollments/{referenceNumber}": lambda h: c.get(
                f"/certificates/enrollments/{ref}", headers=h
            ),
            "/certificates/retrieve": lambda h: c.post(
                "/certificates/retrieve", json={"certificateSerialNumbers": []}, headers=h
            ),
            "/certificates/query": lambda h: c.post(
                "/certificates/query?pageSize=1", json={}, headers=h
            ),
            "/certificates/{certificateSerialNumber}/revoke": lambda h: c.post(
                "/certificates/bad/revoke", headers=h
            ),
            "/testdata/certificates/{serialNumber}": lambda h: c.put(
                f"/testdata/certificates/{serial}", json={}, headers=h
            ),
        }
        for dialect in ({}, problem):
            for call in calls.values():
                call({**auth, **dialect})  # mostly 400s (and the data/limits/status 200s)
                call(dialect)  # 401
        c.get("/certificates/enrollments/short", headers={**auth, **problem})
        c.post("/certificates/query", json={}, headers=auth)
        by_token = token_login(c, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]
        c.get("/certificates/enrollments/data", headers=bearer(by_token))  # 25001
        c.post(f"/certificates/{serial}/revoke", json={}, headers=auth)
        c.put(
            f"/testdata/certificates/{serial}",
            json={"validTo": "2020-01-01T00:00:00Z"},
            headers=auth,
        )
        sim.add_fault(FaultRule(endpoint="*", status=429, retry_after=3, times=2 * len(calls)))
        for dialect in ({}, problem):
            for call in calls.values():
                call({**auth, **dialect})
        sim.clear_faults()
    tagged = {
        (method.upper(), path)
        for path, ops in spec()["paths"].items()
        for method, op in ops.items()
        if isinstance(op, dict) and "Certyfikaty" in op.get("tags", [])
    }
    assert tagged == set(operations)  # the simulator has every operation of the tag
    seen: dict[tuple[str, str], set[int]] = {op: set() for op in operations}
    for response in recorded:
        method, template, status = check(response)
        seen.setdefault((method, template), set()).add(status)
    for operation in operations:
        codes = seen[operation]
        assert any(code < 300 for code in codes), f"{operation} never succeeded: {codes}"
        expected = {401, 429} if operation[1] == "/certificates/limits" else {400, 401, 429}
        assert expected <= codes, f"{operation}: {codes}"


def test_the_ca_certificate_is_a_ca(sim: Simulator) -> None:
    ca = sim.ksef_certificates.ca.certificate
    assert ca.extensions.get_extension_for_class(x509.BasicConstraints).value.ca
    assert ca.subject.get_attributes_for_oid(NameOID.COUNTRY_NAME)[0].value == "PL"
    assert OIDS["organizationIdentifier"] == "2.5.4.97"
