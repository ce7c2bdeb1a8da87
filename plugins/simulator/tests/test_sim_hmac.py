"""The challenge-HMAC flow (NOT part of the official KSeF 2.0 API; a simulator extension)."""

from __future__ import annotations

import hashlib
import hmac

import httpx
from conftest import NIP, OTHER_NIP
from sim_client import bearer, ksef_error_code

from ksef_auth_simulator import Simulator, jwt


def _session(client: httpx.Client, token: str, nip: str = NIP, **override: str) -> httpx.Response:
    challenge = client.post("/hmac/challenge").json()
    data = (challenge["challenge"] + challenge["timestamp"]).encode()
    body = {
        "challenge": challenge["challenge"],
        "timestamp": challenge["timestamp"],
        "authorisation": hmac.new(token.encode(), data, hashlib.sha256).hexdigest(),
        "contextIdentifier": {"type": "Nip", "value": nip},
    }
    body.update(override)
    return client.post("/hmac/session", json=body)


def test_hmac_session_usable_as_access_token(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    response = _session(client, token)
    assert response.status_code == 200
    session = response.json()["sessionToken"]
    claims = jwt.decode(session["token"], sim.secret)
    assert claims["typ"] == "ContextToken" and claims["civ"] == NIP
    assert claims["exp"] - claims["iat"] == 1800
    assert client.get("/auth/sessions", headers=bearer(session["token"])).status_code == 200


def test_challenge_accepts_empty_json(client: httpx.Client) -> None:
    body = client.post("/hmac/challenge", json={}).json()
    assert set(body) == {"challenge", "timestamp"}


def test_wrong_hmac_401(client: httpx.Client, sim: Simulator) -> None:
    sim.issue_ksef_token(NIP)
    response = _session(client, "not-the-token")
    assert response.status_code == 401
    assert response.headers["content-type"].startswith("application/problem+json")
    # a token of another context is not a key for this one
    other = sim.issue_ksef_token(OTHER_NIP)
    assert _session(client, other).status_code == 401


def test_unknown_or_used_challenge_21111(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    response = _session(client, token, challenge="deadbeef")
    assert response.status_code == 400 and ksef_error_code(response) == 21111
    challenge = client.post("/hmac/challenge").json()
    data = (challenge["challenge"] + challenge["timestamp"]).encode()
    body = {
        **challenge,
        "authorisation": hmac.new(token.encode(), data, hashlib.sha256).hexdigest(),
        "contextIdentifier": {"type": "Nip", "value": NIP},
    }
    assert client.post("/hmac/session", json=body).status_code == 200
    assert ksef_error_code(client.post("/hmac/session", json=body)) == 21111


def test_revoked_token_is_no_key(client: httpx.Client, sim: Simulator) -> None:
    token = sim.issue_ksef_token(NIP)
    sim.revoke_ksef_token(token)
    assert _session(client, token).status_code == 401


def test_ttl_configurable() -> None:
    from conftest import SyncASGI, fast

    sim = Simulator(fast(hmac_session_ttl=60))
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        session = _session(client, sim.issue_ksef_token(NIP)).json()["sessionToken"]
        claims = jwt.decode(session["token"], sim.secret)
        assert claims["exp"] - claims["iat"] == 60
