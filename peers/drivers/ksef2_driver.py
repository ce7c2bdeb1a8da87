"""ksef2 (stacking-hq/ksef2) driven through its public API; runs in ksef2's own virtualenv.

ksef2 only knows KSeF's hosts (``Environment.TEST``); its ``Client(http_client=...)`` takes an
``httpx.Client``, whose transport sends every request to the simulator instead.

    python ksef2_driver.py ROOT_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import base64
import re
import sys
from typing import Any

import httpx
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from ksef2 import Client, Environment
from ksef2.xades import load_certificate_from_pem, load_private_key_from_pem
from rpc import Sessions, serve

POLL = 0.1  # with_token/with_xades take poll_interval; the default is 1 s


class ToSimulator(httpx.BaseTransport):
    """Sends every request made for KSeF's TEST host to the simulator at ``root``."""

    def __init__(self, root: str) -> None:
        self.root = httpx.URL(root)
        self.inner = httpx.HTTPTransport()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        request.url = request.url.copy_with(
            scheme=self.root.scheme, host=self.root.host, port=self.root.port
        )
        request.headers["Host"] = f"{self.root.host}:{self.root.port}"
        return self.inner.handle_request(request)

    def close(self) -> None:
        self.inner.close()


client = Client(Environment.TEST, http_client=httpx.Client(transport=ToSimulator(sys.argv[1])))
sessions = Sessions()


def logged_in(auth: Any) -> dict[str, Any]:
    return {
        "session": sessions.add(auth),
        "access": auth.access_token,
        "refresh": auth.refresh_token,
    }


def token_login(nip: str, token: str) -> dict[str, Any]:
    return logged_in(
        client.authentication.with_token(ksef_token=token, nip=nip, poll_interval=POLL)
    )


def xades_login(nip: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    auth = client.authentication.with_xades(
        nip=nip,
        cert=load_certificate_from_pem(cert_pem.encode()),
        private_key=load_private_key_from_pem(key_pem.encode()),
        poll_interval=POLL,
    )
    return logged_in(auth)


def own_certificate_login(nip: str) -> dict[str, Any]:
    """ksef2 makes its own self-signed TEST seal (``with_test_certificate``)."""
    return logged_in(client.authentication.with_test_certificate(nip=nip, poll_interval=POLL))


def refresh(session: int) -> dict[str, Any]:
    refreshed = client.authentication.refresh(refresh_token=sessions[session].refresh_token)
    return {"access": refreshed.access_token.token}


def list_sessions(session: int) -> list[dict[str, Any]]:
    return [
        {"referenceNumber": s.reference_number, "isCurrent": bool(s.is_current)}
        for s in sessions[session].sessions.list()
    ]


def revoke_current(session: int) -> None:
    sessions[session].sessions.terminate_current()


def revoke(session: int, reference: str) -> None:
    sessions[session].sessions.terminate(reference)


def generate_token(session: int, description: str, permissions: list[str]) -> dict[str, str]:
    """A KSeF token made by the peer (``POST /tokens``), once the peer sees it Active."""
    snake = [re.sub(r"(?<!^)(?=[A-Z])", "_", p).lower() for p in permissions]  # ksef2's names
    made = sessions[session].tokens.generate(permissions=snake, description=description)
    made.wait(timeout=30, poll_interval=POLL)
    return {"reference": made.reference_number, "token": made.token}


def token_status(session: int, reference: str) -> str:
    return str(sessions[session].tokens.get_status(reference_number=reference).status)


def revoke_token(session: int, reference: str) -> None:
    sessions[session].tokens.revoke(reference_number=reference)


#: ksef2's enrollment data fields -> subject attribute OIDs (ksef2 takes a ready CSR; this
#: driver builds it from what ksef2 returns)
DATA_OIDS = {
    "common_name": "2.5.4.3",
    "surname": "2.5.4.4",
    "serial_number": "2.5.4.5",
    "iso_country_code": "2.5.4.6",
    "organization_name": "2.5.4.10",
    "name": "2.5.4.42",
    "unique_identifier": "2.5.4.45",
    "organization_identifier": "2.5.4.97",
}


def enroll_certificate(session: int, name: str) -> dict[str, str]:
    """A KSeF certificate through ksef2: enrollment data, enroll, wait, retrieve."""
    certificates = sessions[session].certificates
    data = certificates.get_enrollment_data()
    subject = x509.Name(
        [
            x509.NameAttribute(x509.ObjectIdentifier(oid), getattr(data, field))
            for field, oid in DATA_OIDS.items()
            if getattr(data, field)
        ]
    )
    key = ec.generate_private_key(ec.SECP256R1())
    csr = x509.CertificateSigningRequestBuilder().subject_name(subject).sign(key, hashes.SHA256())
    der = csr.public_bytes(serialization.Encoding.DER)
    enrollment = certificates.enroll(
        certificate_name=name,
        certificate_type="authentication",
        csr=base64.b64encode(der).decode(),
    )
    serial = enrollment.wait(timeout=30, poll_interval=POLL).certificate_serial_number
    (issued,) = certificates.retrieve(certificate_serial_numbers=[serial]).certificates
    certificate = x509.load_der_x509_certificate(
        base64.b64decode(issued.base64_encoded_certificate)
    )
    key_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return {
        "serial": serial,
        "cert_pem": certificate.public_bytes(serialization.Encoding.PEM).decode(),
        "key_pem": key_pem.decode(),
    }


def environments() -> dict[str, str]:
    return {environment.name: environment.value for environment in Environment}


serve(
    "ksef2",
    {
        "token_login": token_login,
        "xades_login": xades_login,
        "own_certificate_login": own_certificate_login,
        "refresh": refresh,
        "sessions": list_sessions,
        "revoke_current": revoke_current,
        "revoke": revoke,
        "environments": environments,
        "generate_token": generate_token,
        "token_status": token_status,
        "revoke_token": revoke_token,
        "enroll_certificate": enroll_certificate,
    },
)
