"""ksef-auth-token: signers that log in with a KSeF token.

* ``ksef-token`` (:class:`KsefTokenSigner`): KSeF 2.0's official token login, RSA-OAEP.
* ``hmac`` (:class:`HmacSigner`): a challenge-HMAC scheme of some shop gateways; **not** part of
  KSeF 2.0.
"""

from __future__ import annotations

from ksef_auth import Register, hookimpl
from ksef_auth_token.hmac_signer import HmacSigner
from ksef_auth_token.ksef_token import KsefTokenSigner

__all__ = ["HmacSigner", "KsefTokenSigner"]


@hookimpl
def ksef_auth_register_signers(register: Register) -> None:
    register("ksef-token", KsefTokenSigner)
    register("hmac", HmacSigner)
