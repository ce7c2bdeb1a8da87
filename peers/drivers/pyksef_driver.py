"""pyksef (icedevml/pyksef) driven through its public API, in its own virtualenv.

pyksef does XAdES logins only (a PEM key, or a key behind PKCS#11), signed with signxml's
``XAdESSigner``; every function takes ``api_base_url``.

    python pyksef_driver.py BASE_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import sys
from typing import Any

from pyksef import ksef_auth_xades
from pyksef.auth.identifier import ContextIdentifier, ContextIdentifierType
from pyksef.auth.local_key import PEMPrivateKey
from pyksef.auth.state import ksef_poll_auth_finalized
from pyksef.x509 import load_pem_x509_certificate
from rpc import serve

BASE_URL = sys.argv[1]


def xades_login(nip: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    started = ksef_auth_xades(
        api_base_url=BASE_URL,
        cert=load_pem_x509_certificate(cert_pem.encode()),
        key=PEMPrivateKey(key_pem.encode(), None),
        context_id=ContextIdentifier(type=ContextIdentifierType.nip, value=nip),
    )
    finished = ksef_poll_auth_finalized(
        api_base_url=BASE_URL,
        reference_number=started["referenceNumber"],
        authentication_token=started["authenticationToken"]["token"],
        poll_interval=0.1,
    )
    tokens = finished["redeemResult"]
    return {
        "access": tokens["accessToken"]["token"],
        "refresh": tokens["refreshToken"]["token"],
        "reference": started["referenceNumber"],
    }


serve("pyksef", {"xades_login": xades_login})
