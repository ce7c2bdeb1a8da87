"""ksef-client (smekcio/ksef-client-python) driven through its public API, in its own virtualenv.

``KsefClientOptions(base_url=...)`` points it at the simulator; its ``AuthCoordinator`` runs the
logins (its XAdES signer is python-xmlsec, i.e. libxmlsec1).

    python ksef_client_driver.py BASE_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import sys
from typing import Any

from ksef_client import KsefClient, KsefClientOptions, KsefEnvironment
from ksef_client.services import AuthCoordinator
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
    },
)
