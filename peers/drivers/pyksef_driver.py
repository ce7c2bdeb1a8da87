"""pyksef (icedevml/pyksef) driven through its public API, in its own virtualenv.

pyksef does XAdES logins only (a PEM key, or a key behind PKCS#11: the tests use SoftHSM2),
signed with signxml's ``XAdESSigner``; every function takes ``api_base_url``.

    python pyksef_driver.py BASE_URL      # then JSON lines on stdin (see rpc.py)
"""

from __future__ import annotations

import os
import sys
from typing import Any

from pyksef import ksef_auth_xades
from pyksef.auth.identifier import ContextIdentifier, ContextIdentifierType
from pyksef.auth.local_key import PEMPrivateKey
from pyksef.auth.state import ksef_poll_auth_finalized
from pyksef.p11 import PKCS11Lib, create_p11_private_key
from pyksef.x509 import load_pem_x509_certificate
from rpc import serve

BASE_URL = sys.argv[1]


def logged_in(nip: str, cert: Any, key: Any) -> dict[str, Any]:
    started = ksef_auth_xades(
        api_base_url=BASE_URL,
        cert=cert,
        key=key,
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


def xades_login(nip: str, cert_pem: str, key_pem: str) -> dict[str, Any]:
    cert = load_pem_x509_certificate(cert_pem.encode())
    return logged_in(nip, cert, PEMPrivateKey(key_pem.encode(), None))


def pkcs11_login(
    nip: str, cert_pem: str, module: str, token_label: str, pin: str, key_label: str, config: str
) -> dict[str, Any]:
    """The key never leaves the token: pyksef signs through ``PKCS11Lib``."""
    os.environ["SOFTHSM2_CONF"] = config  # read when the module initialises
    library = PKCS11Lib(module)
    library.set_token(token_label=token_label, user_pin=pin)
    library.set_private_key(key_label=key_label)
    cert = load_pem_x509_certificate(cert_pem.encode())
    return logged_in(nip, cert, create_p11_private_key(library, cert))


serve("pyksef", {"xades_login": xades_login, "pkcs11_login": pkcs11_login})
