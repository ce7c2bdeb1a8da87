"""ksef (samupl/python-ksef) driven through its public API, in its own virtualenv.

Its ``Environment`` enum holds only KSeF's hosts; each authorization object keeps the URL it
uses in its public ``base_url`` attribute, set here to the simulator's. It offers logins
(``TokenAuthorization``, ``XadesAuthorization``: its own lxml + cryptography signer) and
nothing for refresh or sessions. It polls once a second (a module constant).

    python ksef_driver.py BASE_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import sys
from typing import Any

from ksef.auth.token import TokenAuthorization
from ksef.auth.xades import XadesAuthorization
from ksef.constants import Environment
from rpc import serve

BASE_URL = sys.argv[1].rstrip("/") + "/"  # urljoin needs the trailing slash


def logged_in(auth: Any, nip: str) -> dict[str, Any]:
    auth.base_url = BASE_URL
    tokens = auth.authorize(nip=nip)
    return {"access": tokens.access_token.token, "refresh": tokens.refresh_token.token}


def token_login(nip: str, token: str) -> dict[str, Any]:
    return logged_in(TokenAuthorization(token=token, environment=Environment.TEST), nip)


def xades_login(nip: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    auth = XadesAuthorization(
        signing_cert=cert_pem.encode(),
        private_key=key_pem.encode(),
        environment=Environment.TEST,
    )
    return logged_in(auth, nip)


def environments() -> dict[str, str]:
    return {environment.name: environment.value for environment in Environment}


serve(
    "ksef",
    {"token_login": token_login, "xades_login": xades_login, "environments": environments},
)
