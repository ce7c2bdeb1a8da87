"""Status polling, redeem, refresh, sessions and revocation."""

from __future__ import annotations

import time

import httpx
from conftest import NIP, SyncASGI, fast
from sim_client import bearer, ksef_error_code, redeem, start_token_auth, token_login

from ksef_auth_simulator import Simulator, jwt


def _client(sim: Simulator) -> httpx.Client:
    return httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2")


def test_status_401_410_21304_403(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    init = start_token_auth(client, token, NIP).json()
    ref, auth = init["referenceNumber"], init["authenticationToken"]["token"]
    assert client.get(f"/auth/{ref}").status_code == 401
    bad = client.get(f"/auth/{ref}", headers=bearer(auth[:-2] + "xx"))
    assert bad.status_code == 401
    assert bad.headers["content-type"].startswith("application/problem+json")
    assert bad.json()["title"] == "Unauthorized"
    unknown = "20250101-AU-0000000000-0000000000-00"
    response = client.get(f"/auth/{unknown}", headers=bearer(auth))
    assert response.status_code == 400 and ksef_error_code(response) == 21304
    other = start_token_auth(client, token, NIP).json()
    wrong = client.get(f"/auth/{other['referenceNumber']}", headers=bearer(auth))
    assert wrong.status_code == 403 and wrong.json()["reasonCode"] == "insufficient-resource-access"


def test_410_after_operation_ttl() -> None:
    sim = Simulator(fast(operation_ttl=0.1))
    with _client(sim) as client:
        init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
        time.sleep(0.15)
        response = client.get(
            f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
        )
        assert response.status_code == 410
        assert response.json()["detail"] == "Operacja wygasła i nie jest już dostępna."


def test_auth_token_expiry_401() -> None:
    sim = Simulator(fast(auth_token_ttl=0.1))
    with _client(sim) as client:
        init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
        time.sleep(0.15)
        headers = bearer(init["authenticationToken"]["token"])
        assert client.get(f"/auth/{init['referenceNumber']}", headers=headers).status_code == 401
        assert client.post("/auth/token/redeem", headers=headers).status_code == 401


def test_redeem_once_and_not_before_200() -> None:
    sim = Simulator(fast(auth_delay=0.2))
    with _client(sim) as client:
        init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
        early = redeem(client, init)
        assert ksef_error_code(early) == 21301 and "(100)" in early.text
        time.sleep(0.25)
        assert redeem(client, init).status_code == 200
        again = redeem(client, init)
        assert ksef_error_code(again) == 21301 and "zostały już pobrane" in again.text
        status = client.get(
            f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
        ).json()
        assert status["isTokenRedeemed"] is True and status["refreshTokenValidUntil"]


def test_redeem_with_json_body(client: httpx.Client, sim: Simulator) -> None:
    init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
    headers = bearer(init["authenticationToken"]["token"])
    assert client.post("/auth/token/redeem", headers=headers, json={}).status_code == 200


def test_redeem_after_failed_auth(client: httpx.Client, sim: Simulator) -> None:
    init = start_token_auth(client, "unknown", NIP).json()
    assert ksef_error_code(redeem(client, init)) == 21301


def test_refresh_not_rotated_and_unique(client: httpx.Client, sim: Simulator) -> None:
    tokens = token_login(client, sim.issue_ksef_token(NIP), NIP)
    refresh = tokens["refreshToken"]["token"]
    first = client.post("/auth/token/refresh", headers=bearer(refresh)).json()
    second = client.post("/auth/token/refresh", headers=bearer(refresh)).json()
    assert set(first) == {"accessToken"}
    assert first["accessToken"]["token"] != second["accessToken"]["token"]  # unique jti
    claims = jwt.decode(first["accessToken"]["token"], sim.secret)
    assert claims["typ"] == "ContextToken"
    # an access token is not a refresh token
    wrong = client.post("/auth/token/refresh", headers=bearer(tokens["accessToken"]["token"]))
    assert wrong.status_code == 401


def test_refresh_after_expiry_21301() -> None:
    sim = Simulator(fast(refresh_token_ttl=0.1))
    with _client(sim) as client:
        tokens = token_login(client, sim.issue_ksef_token(NIP), NIP)
        time.sleep(0.15)
        response = client.post(
            "/auth/token/refresh", headers=bearer(tokens["refreshToken"]["token"])
        )
        assert ksef_error_code(response) == 21301


def test_refresh_after_token_revoked(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    tokens = token_login(client, token, NIP)
    sim.revoke_ksef_token(token)
    response = client.post("/auth/token/refresh", headers=bearer(tokens["refreshToken"]["token"]))
    assert ksef_error_code(response) == 21301 and "unieważniony" in response.text


def test_access_token_expiry() -> None:
    sim = Simulator(fast(access_token_ttl=0.1))
    with _client(sim) as client:
        tokens = token_login(client, sim.issue_ksef_token(NIP), NIP)
        access = tokens["accessToken"]["token"]
        assert client.get("/auth/sessions", headers=bearer(access)).status_code == 200
        time.sleep(0.15)
        assert client.get("/auth/sessions", headers=bearer(access)).status_code == 401
        fresh = client.post("/auth/token/refresh", headers=bearer(tokens["refreshToken"]["token"]))
        access = fresh.json()["accessToken"]["token"]
        assert client.get("/auth/sessions", headers=bearer(access)).status_code == 200


def test_sessions_paging(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    logins = [token_login(client, token, NIP) for _ in range(12)]
    access = logins[-1]["accessToken"]["token"]
    first = client.get("/auth/sessions", headers=bearer(access)).json()
    assert len(first["items"]) == 10 and first["continuationToken"]
    assert first["items"][0]["isCurrent"] is True
    assert sum(item["isCurrent"] for item in first["items"]) == 1
    second = client.get(
        "/auth/sessions",
        headers={**bearer(access), "x-continuation-token": first["continuationToken"]},
    ).json()
    assert len(second["items"]) == 2 and "continuationToken" not in second
    bad = client.get("/auth/sessions", headers={**bearer(access), "x-continuation-token": "zzz"})
    assert ksef_error_code(bad) == 21418
    for size in ("5", "101", "x"):
        response = client.get(f"/auth/sessions?pageSize={size}", headers=bearer(access))
        assert ksef_error_code(response) == 21405
    assert (
        len(client.get("/auth/sessions?pageSize=100", headers=bearer(access)).json()["items"]) == 12
    )


def test_revoke_current_425(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    init = start_token_auth(client, token, NIP).json()
    tokens = redeem(client, init).json()
    response = client.delete(
        "/auth/sessions/current", headers=bearer(tokens["refreshToken"]["token"])
    )
    assert response.status_code == 204 and response.content == b""
    status = client.get(
        f"/auth/{init['referenceNumber']}", headers=bearer(init["authenticationToken"]["token"])
    ).json()
    assert status["status"]["code"] == 425
    refresh = client.post("/auth/token/refresh", headers=bearer(tokens["refreshToken"]["token"]))
    assert ksef_error_code(refresh) == 21301
    # issued access tokens live until exp
    assert (
        client.get("/auth/sessions", headers=bearer(tokens["accessToken"]["token"])).status_code
        == 200
    )


def test_revoke_other_session(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    old = start_token_auth(client, token, NIP).json()
    old_tokens = redeem(client, old).json()
    current = token_login(client, token, NIP)
    access = current["accessToken"]["token"]
    response = client.delete(f"/auth/sessions/{old['referenceNumber']}", headers=bearer(access))
    assert response.status_code == 204
    refresh = client.post(
        "/auth/token/refresh", headers=bearer(old_tokens["refreshToken"]["token"])
    )
    assert ksef_error_code(refresh) == 21301
    missing = client.delete(
        "/auth/sessions/20250101-AU-0000000000-0000000000-00", headers=bearer(access)
    )
    assert ksef_error_code(missing) == 21405


def test_ip_policy_403(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    policy = {"allowedIps": {"ip4Addresses": ["10.1.2.3"], "ip4Masks": ["192.168.0.0/16"]}}
    tokens = token_login(client, token, NIP, policy=policy)
    response = client.get("/auth/sessions", headers=bearer(tokens["accessToken"]["token"]))
    assert response.status_code == 403
    body = response.json()
    assert body["reasonCode"] == "ip-not-allowed"
    assert body["security"] == {"clientIp": "127.0.0.1"}
    allowed = token_login(
        client, token, NIP, policy={"allowedIps": {"ip4Ranges": ["127.0.0.1-127.0.0.9"]}}
    )
    assert (
        client.get("/auth/sessions", headers=bearer(allowed["accessToken"]["token"])).status_code
        == 200
    )


def test_lifetime_fraction_claims() -> None:
    sim = Simulator(fast(access_token_ttl=0.5))
    with _client(sim) as client:
        tokens = token_login(client, sim.issue_ksef_token(NIP), NIP)
        claims = jwt.decode(tokens["accessToken"]["token"], sim.secret)
        assert abs(claims["exp"] - claims["iat"] - 0.5) < 0.002
