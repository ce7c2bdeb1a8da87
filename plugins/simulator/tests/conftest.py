"""Shared fixtures: keys and certificates (generated once per session), simulators, clients."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from sim_certificates import certificate, name
from sim_signing import Signer

from ksef_auth_simulator import Simulator, SimulatorConfig

NIP = "5261040828"
OTHER_NIP = "5265877635"
PESEL = "44051401359"


@pytest.fixture(scope="session")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def rsa_key2() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@pytest.fixture(scope="session")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="session")
def seal(rsa_key: rsa.RSAPrivateKey) -> Signer:
    """A self-signed seal for NIP (organizationIdentifier=VATPL-NIP), RSA-2048."""
    return Signer(rsa_key, certificate(rsa_key, name(seal_nip=NIP)))


@pytest.fixture(scope="session")
def ec_seal(ec_key: ec.EllipticCurvePrivateKey) -> Signer:
    return Signer(ec_key, certificate(ec_key, name(seal_nip=NIP)))


@pytest.fixture(scope="session")
def person_nip(rsa_key: rsa.RSAPrivateKey) -> Signer:
    return Signer(rsa_key, certificate(rsa_key, name(nip=NIP)))


@pytest.fixture(scope="session")
def person_pesel(rsa_key: rsa.RSAPrivateKey) -> Signer:
    return Signer(rsa_key, certificate(rsa_key, name(pesel=PESEL)))


@pytest.fixture(scope="session")
def anonymous(rsa_key: rsa.RSAPrivateKey) -> Signer:
    """No NIP/PESEL in the subject: usable only with certificateFingerprint."""
    return Signer(rsa_key, certificate(rsa_key, name(common_name="Integrator")))


@pytest.fixture(scope="session")
def expired_seal(rsa_key: rsa.RSAPrivateKey) -> Signer:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(days=400)
    cert = certificate(
        rsa_key, name(seal_nip=NIP), not_before=past, not_after=past + dt.timedelta(days=30)
    )
    return Signer(rsa_key, cert)


@pytest.fixture(scope="session")
def weak_seal() -> Signer:
    key = rsa.generate_private_key(public_exponent=65537, key_size=1024)
    return Signer(key, certificate(key, name(seal_nip=NIP)))


@pytest.fixture(scope="session")
def ca(rsa_key2: rsa.RSAPrivateKey) -> Signer:
    return Signer(rsa_key2, certificate(rsa_key2, name(common_name="Test CA"), ca=True))


@pytest.fixture(scope="session")
def ca_issued_seal(rsa_key: rsa.RSAPrivateKey, ca: Signer) -> Signer:
    return Signer(rsa_key, certificate(rsa_key, name(seal_nip=NIP), issuer=(ca.key, ca.cert)))


#: answers the simulator gives although the spec declares no such status there, and why
UNDECLARED = {
    # ASP.NET answers a wrong Content-Type so before the action runs; the spec lists no 415
    ("POST", "/v2/auth/xades-signature", 415): "a wrong Content-Type",
}


@pytest.fixture(autouse=True)
def every_response_matches_the_spec(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every KSeF response a test receives (any ``httpx.Client``, in-process or over loopback)
    is checked against the shipped open-api.json (API 2.9.0): declared status, media type and
    body schema. Not checked: the simulator's own ``/_sim`` and ``/v2/hmac`` routes (not KSeF),
    answers a fault rule injected (``X-Simulator-Fault``) and the :data:`UNDECLARED` ones."""
    from sim_openapi import check

    send = httpx.Client.send
    checked: list[str] = []

    def checking(self: httpx.Client, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        response = send(self, request, **kwargs)
        path = request.url.path
        if (
            path.startswith("/v2/")
            and not path.startswith("/v2/hmac/")
            and "x-simulator-fault" not in response.headers
            and (request.method, path, response.status_code) not in UNDECLARED
        ):
            response.read()
            check(response)
            checked.append(f"{request.method} {path} {response.status_code}")
        return response

    monkeypatch.setattr(httpx.Client, "send", checking)
    yield checked


def fast(**overrides: Any) -> SimulatorConfig:
    return SimulatorConfig(**{"rate_limits": False, "auth_delay": 0.0, **overrides})


@pytest.fixture
def sim() -> Simulator:
    return Simulator(fast())


@pytest.fixture
def client(sim: Simulator) -> Iterator[httpx.Client]:
    """In-process client (httpx.ASGITransport is async-only; run it through a portal)."""
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as c:
        yield c


class SyncASGI(httpx.BaseTransport):
    """Drive an ASGI app synchronously through httpx.ASGITransport on a private event loop."""

    def __init__(self, app: Any, client_host: str = "127.0.0.1") -> None:
        import anyio.from_thread

        self._transport = httpx.ASGITransport(app=app, client=(client_host, 50000))
        self._portal_cm = anyio.from_thread.start_blocking_portal()
        self._portal = self._portal_cm.__enter__()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        async def run() -> httpx.Response:
            body = request.read()
            req = httpx.Request(request.method, request.url, headers=request.headers, content=body)
            response = await self._transport.handle_async_request(req)
            content = await response.aread()
            return httpx.Response(response.status_code, headers=response.headers, content=content)

        return self._portal.call(run)

    def close(self) -> None:
        self._portal_cm.__exit__(None, None, None)
