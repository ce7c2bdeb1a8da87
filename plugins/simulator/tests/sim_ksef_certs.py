"""The tests' own way through the certificate endpoints: XAdES logins and CSRs made with plain
``cryptography`` (never the client's code), so the simulator is judged independently."""

from __future__ import annotations

import base64
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from sim_client import bearer, redeem, wait_status, xades_login
from sim_signing import Signer, auth_request_xml, hand_sign

OIDS = {
    "commonName": "2.5.4.3",
    "surname": "2.5.4.4",
    "serialNumber": "2.5.4.5",
    "countryName": "2.5.4.6",
    "organizationName": "2.5.4.10",
    "givenName": "2.5.4.42",
    "uniqueIdentifier": "2.5.4.45",
    "organizationIdentifier": "2.5.4.97",
}
NIP = "5261040828"


def start_xades(client: httpx.Client, signer: Signer, nip: str = NIP) -> dict[str, Any]:
    challenge = client.post("/auth/challenge").json()["challenge"]
    method = "ecdsa" if isinstance(signer.key, ec.EllipticCurvePrivateKey) else "pkcs1"
    response = xades_login(
        client, hand_sign(auth_request_xml(challenge, nip), signer, method=method)
    )
    assert response.status_code == 202, response.text
    return response.json()


def xades_access(client: httpx.Client, signer: Signer, nip: str = NIP) -> str:
    """Log in with ``signer`` (XAdES) and return the access token."""
    init = start_xades(client, signer, nip)
    status = wait_status(client, init)
    assert status["status"]["code"] == 200, status
    return str(redeem(client, init).json()["accessToken"]["token"])


def subject_of(data: dict[str, Any]) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(x509.ObjectIdentifier(OIDS[field]), str(value))
            for field, value in data.items()
            if value is not None
        ]
    )


def new_key(kind: str = "ec") -> rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey:
    if kind == "ec":
        return ec.generate_private_key(ec.SECP256R1())
    if kind == "p384":
        return ec.generate_private_key(ec.SECP384R1())
    bits = 1024 if kind == "rsa1024" else 2048
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def make_csr(
    key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey,
    subject: x509.Name,
    *,
    algorithm: hashes.HashAlgorithm | None = None,
    pss: bool = False,
) -> bytes:
    builder = x509.CertificateSigningRequestBuilder().subject_name(subject)
    hash_algorithm = algorithm or hashes.SHA256()
    if pss:
        padding_ = padding.PSS(mgf=padding.MGF1(hash_algorithm), salt_length=32)
        request = builder.sign(key, hash_algorithm, rsa_padding=padding_)
    else:
        request = builder.sign(key, hash_algorithm)
    return request.public_bytes(serialization.Encoding.DER)


def b64(der: bytes) -> str:
    return base64.b64encode(der).decode()


def enroll(
    client: httpx.Client,
    access: str,
    csr_der: bytes,
    *,
    name: str = "Certyfikat testowy",
    kind: str = "Authentication",
    **extra: Any,
) -> httpx.Response:
    body = {"certificateName": name, "certificateType": kind, "csr": b64(csr_der), **extra}
    return client.post("/certificates/enrollments", json=body, headers=bearer(access))


def wait_enrollment(client: httpx.Client, access: str, ref: str) -> dict[str, Any]:
    import time

    deadline = time.monotonic() + 5
    while True:
        body = client.get(f"/certificates/enrollments/{ref}", headers=bearer(access)).json()
        if body["status"]["code"] != 100 or time.monotonic() > deadline:
            return dict(body)
        time.sleep(0.01)


def issue(
    client: httpx.Client, access: str, kind: str = "ec", certificate_type: str = "Authentication"
) -> Signer:
    """Enroll a new key for the logged-in subject and return it with its KSeF certificate."""
    data = client.get("/certificates/enrollments/data", headers=bearer(access)).json()
    key = new_key(kind)
    response = enroll(client, access, make_csr(key, subject_of(data)), kind=certificate_type)
    assert response.status_code == 202, response.text
    status = wait_enrollment(client, access, response.json()["referenceNumber"])
    assert status["status"]["code"] == 200, status
    serial = status["certificateSerialNumber"]
    got = client.post(
        "/certificates/retrieve",
        json={"certificateSerialNumbers": [serial]},
        headers=bearer(access),
    ).json()["certificates"]
    certificate = x509.load_der_x509_certificate(base64.b64decode(got[0]["certificate"]))
    return Signer(key, certificate)


def serial_of(signer: Signer) -> str:
    return f"{signer.cert.serial_number:016X}"


def _der(tag: int, body: bytes) -> bytes:
    size = len(body)
    if size < 0x80:
        return bytes([tag, size]) + body
    length = size.to_bytes((size.bit_length() + 7) // 8, "big")
    return bytes([tag, 0x80 | len(length)]) + length + body


def resign_rsa(der: bytes, key: rsa.RSAPrivateKey, oid_der: bytes, algorithm: Any) -> bytes:
    """The request ``der`` signed again with PKCS#1 v1.5 and ``algorithm``, labelled with the
    DER-encoded OID ``oid_der`` (for hashes ``cryptography`` refuses to sign CSRs with)."""
    info = x509.load_der_x509_csr(der).tbs_certrequest_bytes
    signature = key.sign(info, padding.PKCS1v15(), algorithm)
    algorithm_id = _der(0x30, oid_der + b"\x05\x00")
    return _der(0x30, info + algorithm_id + _der(0x03, b"\x00" + signature))


SHA1_WITH_RSA = bytes.fromhex("06092a864886f70d010105")
MD5_WITH_RSA = bytes.fromhex("06092a864886f70d010104")
