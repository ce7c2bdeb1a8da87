"""SimulatorConfig: every knob of the simulator, with KSeF's published defaults."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ksef_auth_simulator.ksef_certificates import CertificateSettings


def _certificate_settings() -> CertificateSettings:
    from ksef_auth_simulator.ksef_certificates import CertificateSettings

    return CertificateSettings()


@dataclass
class SimulatorConfig:
    """Lifetimes are in seconds (floats accepted: tests use fractions of a second).

    Defaults follow the published KSeF values: access token 900 s, refresh token 7 days,
    authentication (operation) token 45 min, challenge 10 min, status resource 7 days.
    """

    access_token_ttl: float = 900.0
    refresh_token_ttl: float = 604800.0
    auth_token_ttl: float = 2700.0
    challenge_ttl: float = 600.0
    operation_ttl: float = 7 * 86400.0
    hmac_session_ttl: float = 1800.0
    #: seconds an authentication operation reports status 100 before its final status
    auth_delay: float = 0.0
    #: seconds a token created through ``POST /tokens`` stays ``Pending`` before ``Active``
    token_activation_delay: float = 0.0
    rate_limits: bool = True
    #: multiplier applied to every published limit (0.1 = ten times stricter)
    rate_limit_scale: float = 1.0
    #: list two keys per usage from the start (planned rotation)
    rotate_keys: bool = False
    #: PEM CA certificates a XAdES signer may chain to when ``verifyCertificateChain=true``
    trusted_ca_pems: Sequence[bytes | str] = ()
    #: JWT ``iss``/``aud`` (the OpenAPI examples show ``ksef-api-ti``; TEST shows ``ksef-api-te``)
    issuer: str = "ksef-api-ti"
    #: HS256 secret; random per Simulator when None
    jwt_secret: bytes | None = None
    #: reject NIPs with a wrong check digit (21405); UNVERIFIED on the real auth endpoints
    validate_nip_checksum: bool = True
    #: require XAdES qualifying properties (SignedProperties) and not just XMLDSig
    require_xades: bool = False
    #: seed for probabilistic fault rules that carry no seed of their own
    seed: int | None = None
    #: the simulator's wall clock (seconds since the epoch); replace it to travel in time
    clock: Callable[[], float] = field(default=time.time, repr=False)
    #: largest accepted request body
    max_body_bytes: int = 1_000_000
    #: KSeF certificates: enrollment delay, validity, limits (see ``ksef_certificates``)
    certificates: CertificateSettings = field(default_factory=_certificate_settings)

    def __post_init__(self) -> None:
        for name in (
            "access_token_ttl",
            "refresh_token_ttl",
            "auth_token_ttl",
            "challenge_ttl",
            "operation_ttl",
            "hmac_session_ttl",
        ):
            value = float(getattr(self, name))
            if value <= 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
            setattr(self, name, value)
        for name in ("auth_delay", "token_activation_delay"):
            value = float(getattr(self, name))
            if value < 0:
                raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
            setattr(self, name, value)
        if self.rate_limit_scale <= 0:
            raise ValueError("rate_limit_scale must be positive (use rate_limits=False to disable)")
