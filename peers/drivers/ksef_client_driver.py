"""ksef-client (smekcio/ksef-client-python) driven through its public API, in its own virtualenv.

``KsefClientOptions(base_url=...)`` points it at the simulator; its ``AuthCoordinator`` runs the
logins (its XAdES signer is python-xmlsec, i.e. libxmlsec1).

    python ksef_client_driver.py BASE_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import base64
import sys
import time
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from ksef_client import KsefClient, KsefClientOptions, KsefEnvironment
from ksef_client.models import (
    EnrollCertificateRequest,
    GenerateTokenRequest,
    RetrieveCertificatesRequest,
)
from ksef_client.services import AuthCoordinator
from ksef_client.services.csr import generate_csr_ec
from rpc import Sessions, serve

POLL = 0.1  # poll_interval_seconds; the default is 2 s

client = KsefClient(KsefClientOptions(base_url=sys.argv[1]))
sessions = Sessions()


def logged_in(result: Any) -> dict[str, Any]:
    return {
        "session": sessions.add(result),
        "access": result.access_token,
        "refresh": result.refresh_token,
        "reference": result.reference_number,
    }


def token_login(nip: str, token: str) -> dict[str, Any]:
    key = client.security.get_public_key_certificate("KsefTokenEncryption")
    result = AuthCoordinator(client.auth).authenticate_with_ksef_token(
        token=token,
        public_certificate=key.certificate,
        public_key_id=key.public_key_id,
        context_identifier_type="nip",
        context_identifier_value=nip,
        poll_interval_seconds=POLL,
    )
    return logged_in(result)


def xades_login(nip: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    result = AuthCoordinator(client.auth).authenticate_with_xades(
        context_identifier_type="nip",
        context_identifier_value=nip,
        subject_identifier_type="certificateSubject",
        certificate_pem=cert_pem,
        private_key_pem=key_pem,
        poll_interval_seconds=POLL,
    )
    return logged_in(result)


def refresh(session: int) -> dict[str, Any]:
    refreshed = client.auth.refresh_access_token(sessions[session].refresh_token)
    return {"access": refreshed.access_token.token}


def list_sessions(session: int) -> list[dict[str, Any]]:
    listed = client.auth.get_active_sessions(access_token=sessions[session].access_token)
    return [
        {"referenceNumber": item.reference_number, "isCurrent": bool(item.is_current)}
        for item in listed.items
    ]


def revoke_current(session: int) -> None:
    client.auth.revoke_current_session(sessions[session].access_token)


def revoke(session: int, reference: str) -> None:
    client.auth.revoke_session(reference, sessions[session].access_token)


def waited(read: Any, done: Any, timeout: float = 30) -> Any:
    """Poll ``read()`` (ksef-client has no waiting helper for tokens or enrollments)."""
    deadline = time.monotonic() + timeout
    while True:
        value = read()
        if done(value) or time.monotonic() > deadline:
            return value
        time.sleep(POLL)


def generate_token(session: int, description: str, permissions: list[str]) -> dict[str, str]:
    """A KSeF token made by the peer (``POST /tokens``), once the peer sees it Active."""
    access = sessions[session].access_token
    request = GenerateTokenRequest.from_dict(
        {"description": description, "permissions": permissions}
    )
    made = client.tokens.generate_token(request, access_token=access)
    waited(
        lambda: client.tokens.get_token_status(made.reference_number, access_token=access),
        lambda status: token_text(status.status) != "Pending",
    )
    return {"reference": made.reference_number, "token": made.token}


def token_text(status: Any) -> str:
    return str(getattr(status, "value", status))


def token_status(session: int, reference: str) -> str:
    access = sessions[session].access_token
    return token_text(client.tokens.get_token_status(reference, access_token=access).status)


def revoke_token(session: int, reference: str) -> None:
    client.tokens.revoke_token(reference, access_token=sessions[session].access_token)


def enroll_certificate(session: int, name: str) -> dict[str, str]:
    """A KSeF certificate through ksef-client: enrollment data, its own CSR builder
    (``generate_csr_ec``), enroll, poll, retrieve."""
    access = sessions[session].access_token
    data = client.certificates.get_enrollment_data(access)
    csr = generate_csr_ec(data.to_dict())
    request = EnrollCertificateRequest.from_dict(
        {"certificateName": name, "certificateType": "Authentication", "csr": csr.csr_base64}
    )
    reference = client.certificates.send_enrollment(request, access_token=access).reference_number
    status = waited(
        lambda: client.certificates.get_enrollment_status(reference, access_token=access),
        lambda status: status.status.code != 100,
    )
    if status.status.code != 200:
        raise RuntimeError(f"enrollment {reference} ended with {status.status}")
    serial = status.certificate_serial_number
    retrieve = RetrieveCertificatesRequest.from_dict({"certificateSerialNumbers": [serial]})
    (issued,) = client.certificates.retrieve_certificate(retrieve, access_token=access).certificates
    certificate = x509.load_der_x509_certificate(base64.b64decode(issued.certificate))
    key = serialization.load_der_private_key(base64.b64decode(csr.private_key_base64), None)
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
    known = {
        "TEST": KsefEnvironment.TEST,
        "DEMO": KsefEnvironment.DEMO,
        "PRODUCTION": KsefEnvironment.PROD,
    }
    return {
        name: KsefClientOptions(base_url=environment.value).normalized_base_url()
        for name, environment in known.items()
    }


serve(
    "ksef-client",
    {
        "token_login": token_login,
        "xades_login": xades_login,
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
