"""ksef2 (stacking-hq/ksef2) driven through its public API; runs in ksef2's own virtualenv.

ksef2 only knows KSeF's hosts (``Environment.TEST``); its ``Client(http_client=...)`` takes an
``httpx.Client``, whose transport sends every request to the simulator instead.

    python ksef2_driver.py ROOT_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import sys
from typing import Any

import httpx
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


def environments() -> dict[str, str]:
    return {environment.name: environment.value for environment in Environment}


serve(
    "ksef2",
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
