"""Every auth, session, token and public-key response validates against open-api.json."""

from __future__ import annotations

import time

import httpx
from conftest import NIP, OTHER_NIP, SyncASGI, fast
from sim_client import bearer, redeem, start_token_auth, token_login, wait_status, xades_login
from sim_openapi import check, spec
from sim_signing import Signer, auth_request_xml, hand_sign

from ksef_auth_simulator import FaultRule, Simulator

OPERATIONS_UNDER_TEST = {
    ("POST", "/auth/challenge"),
    ("POST", "/auth/ksef-token"),
    ("POST", "/auth/xades-signature"),
    ("GET", "/auth/{referenceNumber}"),
    ("POST", "/auth/token/redeem"),
    ("POST", "/auth/token/refresh"),
    ("GET", "/auth/sessions"),
    ("DELETE", "/auth/sessions/current"),
    ("DELETE", "/auth/sessions/{referenceNumber}"),
    ("GET", "/security/public-key-certificates"),
    ("POST", "/tokens"),
    ("GET", "/tokens"),
    ("GET", "/tokens/{referenceNumber}"),
    ("DELETE", "/tokens/{referenceNumber}"),
}


def test_operations_exist_in_spec() -> None:
    for method, path in OPERATIONS_UNDER_TEST:
        assert method.lower() in spec()["paths"][path]


def test_every_response_matches_the_spec(seal: Signer) -> None:
    recorded: list[httpx.Response] = []

    def record(response: httpx.Response) -> None:
        response.read()
        recorded.append(response)

    sim = Simulator(fast(auth_delay=0.05, operation_ttl=3600))
    transport = SyncASGI(sim.app)
    with httpx.Client(
        transport=transport, base_url="http://ksef.local/v2", event_hooks={"response": [record]}
    ) as c:
        problem = {"X-Error-Format": "problem-details"}
        token = sim.issue_ksef_token(NIP)
        # login by token, polling through 100
        init = start_token_auth(c, token, NIP).json()
        wait_status(c, init)
        tokens = redeem(c, init).json()
        access, refresh = tokens["accessToken"]["token"], tokens["refreshToken"]["token"]
        redeem(c, init)  # 400 21301
        c.post(
            "/auth/token/redeem",
            headers={**bearer(init["authenticationToken"]["token"]), **problem},
        )
        c.post("/auth/token/refresh", headers=bearer(refresh))
        c.post("/auth/token/refresh", headers=bearer("x.y.z"))  # 401
        # xades login
        challenge = c.post("/auth/challenge").json()["challenge"]
        xinit = xades_login(c, hand_sign(auth_request_xml(challenge), seal)).json()
        wait_status(c, xinit)
        xades_login(c, b"garbage")
        xades_login(c, b"garbage", "?verifyCertificateChain=true")
        c.post(
            "/auth/xades-signature",
            content=b"x",
            headers={"Content-Type": "application/xml", **problem},
        )
        # token auth errors, both dialects
        c.post("/auth/ksef-token", json={})
        c.post("/auth/ksef-token", json={}, headers=problem)
        failed = start_token_auth(c, "unknown", NIP).json()
        wait_status(c, failed)
        c.get(
            "/auth/20250101-AU-0000000000-0000000000-00",
            headers=bearer(init["authenticationToken"]["token"]),
        )
        c.get(
            f"/auth/{failed['referenceNumber']}",
            headers=bearer(init["authenticationToken"]["token"]),
        )  # 403
        c.get(f"/auth/{init['referenceNumber']}")  # 401
        c.get("/security/public-key-certificates")
        # sessions
        c.get("/auth/sessions", headers=bearer(access))
        c.get(
            "/auth/sessions?pageSize=10", headers={**bearer(access), "x-continuation-token": "bad"}
        )
        c.get("/auth/sessions")
        other = token_login(c, token, NIP)
        c.delete(f"/auth/sessions/{other_ref(sim, other)}", headers=bearer(access))
        c.delete("/auth/sessions/20250101-AU-0000000000-0000000000-00", headers=bearer(access))
        # tokens
        created = c.post(
            "/tokens",
            json={"permissions": ["InvoiceRead"], "description": "abcdef"},
            headers=bearer(access),
        ).json()
        c.post(
            "/tokens",
            json={"permissions": ["Bad"], "description": "abcdef"},
            headers=bearer(access),
        )
        limited = token_login(c, sim.issue_ksef_token(NIP, ["InvoiceRead"]), NIP)["accessToken"][
            "token"
        ]
        c.post(
            "/tokens", json={"permissions": [], "description": "abcdef"}, headers=bearer(limited)
        )  # 403
        c.get("/tokens", headers=bearer(access))
        c.get("/tokens?status=Active&pageSize=10", headers=bearer(access))
        c.get("/tokens", headers={**bearer(access), "x-continuation-token": "bad"})
        c.get(f"/tokens/{created['referenceNumber']}", headers=bearer(access))
        c.get("/tokens/20250101-EC-0000000000-0000000000-00", headers=bearer(access))
        c.delete(f"/tokens/{created['referenceNumber']}", headers=bearer(access))
        c.get("/tokens")
        # ip policy 403
        restricted = token_login(
            c, token, NIP, policy={"allowedIps": {"ip4Addresses": ["10.0.0.1"]}}
        )
        c.get("/auth/sessions", headers=bearer(restricted["accessToken"]["token"]))
        c.get("/tokens", headers=bearer(restricted["accessToken"]["token"]))
        # 429 in both dialects on every operation
        sim.add_fault(
            FaultRule(endpoint="*", status=429, retry_after=2, times=2 * len(OPERATIONS_UNDER_TEST))
        )
        for headers in ({}, problem):
            c.post("/auth/challenge", headers=headers)
            c.post("/auth/ksef-token", json={}, headers=headers)
            c.post(
                "/auth/xades-signature",
                content=b"x",
                headers={"Content-Type": "application/xml", **headers},
            )
            c.get(f"/auth/{init['referenceNumber']}", headers=headers)
            c.post("/auth/token/redeem", headers=headers)
            c.post("/auth/token/refresh", headers=headers)
            c.get("/auth/sessions", headers=headers)
            c.delete("/auth/sessions/current", headers=headers)
            c.delete(f"/auth/sessions/{init['referenceNumber']}", headers=headers)
            c.get("/security/public-key-certificates", headers=headers)
            c.post("/tokens", json={}, headers=headers)
            c.get("/tokens", headers=headers)
            c.get(f"/tokens/{created['referenceNumber']}", headers=headers)
            c.delete(f"/tokens/{created['referenceNumber']}", headers=headers)
        sim.clear_faults()
        c.delete("/auth/sessions/current", headers=bearer(access))
    # 410 after the operation's lifetime
    short = Simulator(fast(operation_ttl=0.05))
    with httpx.Client(
        transport=SyncASGI(short.app),
        base_url="http://ksef.local/v2",
        event_hooks={"response": [record]},
    ) as c2:
        gone = start_token_auth(c2, short.issue_ksef_token(OTHER_NIP), OTHER_NIP).json()
        time.sleep(0.1)
        c2.get(
            f"/auth/{gone['referenceNumber']}", headers=bearer(gone["authenticationToken"]["token"])
        )

    seen = {check(response) for response in recorded}
    statuses = {(m, t): set() for m, t in OPERATIONS_UNDER_TEST}
    for method, template, status in seen:
        statuses.setdefault((method, template), set()).add(status)
    for operation, codes in statuses.items():
        assert codes, f"{operation} never exercised"
        assert any(code < 300 for code in codes), f"{operation} never succeeded"
        assert 429 in codes, f"{operation} never rate limited"
    assert 410 in statuses[("GET", "/auth/{referenceNumber}")]
    assert {401, 403} <= statuses[("GET", "/auth/sessions")]


def other_ref(sim: Simulator, tokens: dict) -> str:
    from ksef_auth_simulator import jwt

    return jwt.decode(tokens["accessToken"]["token"], sim.secret)["arn"]
