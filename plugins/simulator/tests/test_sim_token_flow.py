"""KSeF-token login end to end over real HTTP, and every way it can fail."""

from __future__ import annotations

import base64
import re
from datetime import datetime

import httpx
import pytest
from conftest import NIP, OTHER_NIP, SyncASGI, fast
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding
from sim_client import (
    bearer,
    encrypt,
    ksef_error_code,
    redeem,
    start_token_auth,
    token_key,
    token_login,
    wait_status,
)

from ksef_auth_simulator import Simulator, jwt
from ksef_auth_simulator.refs import is_reference
from ksef_auth_simulator.server import RunningSimulator


@pytest.fixture
def http(ksef_simulator: RunningSimulator) -> httpx.Client:
    with httpx.Client(base_url=ksef_simulator.base_url) as client:
        yield client


def test_challenge_shape(http: httpx.Client) -> None:
    for kwargs in ({}, {"json": {}}):
        body = http.post("/auth/challenge", **kwargs).json()
        assert len(body["challenge"]) == 36 and is_reference(body["challenge"], "CR")
        assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{7}\+00:00", body["timestamp"])
        parsed = datetime.fromisoformat(body["timestamp"][:26] + "+00:00")
        assert int(parsed.timestamp() * 1000) == body["timestampMs"]
        assert body["clientIp"] == "127.0.0.1"


def test_public_keys(http: httpx.Client) -> None:
    keys = http.get("/security/public-key-certificates").json()
    assert sorted(k["usage"][0] for k in keys) == ["KsefTokenEncryption", "SymmetricKeyEncryption"]
    assert len({k["publicKeyId"] for k in keys}) == 2
    from cryptography import x509

    for k in keys:
        assert len(k["publicKeyId"]) == 44
        cert = x509.load_der_x509_certificate(base64.b64decode(k["certificate"]))
        assert "Ministerstwo Finansów" in cert.subject.rfc4514_string()


def test_token_login_end_to_end(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    init = start_token_auth(http, token, NIP)
    assert init.status_code == 202
    body = init.json()
    assert is_reference(body["referenceNumber"], "AU")
    status = http.get(
        f"/auth/{body['referenceNumber']}", headers=bearer(body["authenticationToken"]["token"])
    ).json()
    assert status["status"]["code"] == 100  # the fixture's 0.05 s delay makes clients poll
    assert wait_status(http, body)["status"]["code"] == 200
    tokens = redeem(http, body).json()
    claims = jwt.decode(tokens["accessToken"]["token"], ksef_simulator.sim.secret)
    assert claims["typ"] == "ContextToken" and claims["civ"] == NIP and claims["cit"] == "Nip"
    assert claims["exp"] - claims["iat"] == 900
    refresh = jwt.decode(tokens["refreshToken"]["token"], ksef_simulator.sim.secret)
    assert refresh["typ"] == "RefreshToken" and refresh["exp"] - refresh["iat"] == 604800
    sessions = http.get("/auth/sessions", headers=bearer(tokens["accessToken"]["token"]))
    assert sessions.json()["items"][0]["isCurrent"] is True
    counters = ksef_simulator.sim.counters()
    assert counters["events"]["logins_completed"] == 1
    assert counters["contexts"][NIP]["logins_completed"] == 1


def test_lowercase_nip_and_no_key_id(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    token_login(http, token, NIP, context_type="nip", send_key_id=False)


def test_timestamp_from_iso_matches(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    """A client deriving the milliseconds from the ISO timestamp gets the same number."""
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    challenge = http.post("/auth/challenge").json()
    when = datetime.fromisoformat(challenge["timestamp"][:26] + "+00:00")
    stamp = int(when.timestamp() * 1000)
    public_key, key_id = token_key(http)
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": encrypt(public_key, f"{token}|{stamp}"),
        "publicKeyId": key_id,
    }
    init = http.post("/auth/ksef-token", json=body)
    assert wait_status(http, init.json())["status"]["code"] == 200


def _final(http: httpx.Client, response: httpx.Response) -> dict:
    assert response.status_code == 202, response.text
    return wait_status(http, response.json())["status"]


def _raw_submission(
    http: httpx.Client, ciphertext: bytes | None = None, plain: bytes = b""
) -> dict:
    """Submit ``ciphertext``, or ``plain`` encrypted under the simulator's token key."""
    challenge = http.post("/auth/challenge").json()
    if ciphertext is None:
        public_key, _ = token_key(http)
        oaep = padding.OAEP(
            mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=None
        )
        ciphertext = public_key.encrypt(
            plain.replace(b"{ms}", str(challenge["timestampMs"]).encode()), oaep
        )
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": base64.b64encode(ciphertext).decode(),
    }
    return _final(http, http.post("/auth/ksef-token", json=body))


def test_450_undecryptable(http: httpx.Client) -> None:
    status = _raw_submission(http, b"\x01" * 256)
    assert status["code"] == 450 and status["details"] == ["Nieprawidłowe szyfrowanie tokena"]


@pytest.mark.parametrize("plain", [b"\xff\xfe not utf-8|{ms}", b"no separator", b"token|12ab"])
def test_450_bad_token_encoding(http: httpx.Client, plain: bytes) -> None:
    status = _raw_submission(http, plain=plain)
    assert status["code"] == 450 and status["details"] == ["Nieprawidłowe kodowanie tokena"]


def test_450_challenge_expired_before_verification() -> None:
    """The challenge must still be valid when KSeF verifies the submission (asynchronously)."""
    now = [1_800_000_000.0]
    sim = Simulator(fast(challenge_ttl=10, auth_delay=20, clock=lambda: now[0]))
    token = sim.issue_ksef_token(NIP)
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        init = start_token_auth(client, token, NIP)
        assert init.status_code == 202, init.text
        now[0] += 21
        status = wait_status(client, init.json())["status"]
    assert status["code"] == 450 and status["details"] == ["Nieprawidłowe wyzwanie autoryzacyjne"]


def test_450_wrong_timestamp(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    status = _final(http, start_token_auth(http, token, NIP, timestamp_ms=1))
    assert status["details"] == ["Nieprawidłowy czas tokena"]


def test_450_unknown_token(http: httpx.Client) -> None:
    status = _final(http, start_token_auth(http, "no-such-token", NIP))
    assert status["code"] == 450 and status["details"] == ["Nieprawidłowy token"]


def test_450_revoked_token(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    ksef_simulator.sim.revoke_ksef_token(token)
    status = _final(http, start_token_auth(http, token, NIP))
    assert status["code"] == 450 and status["details"] == ["Token unieważniony"]


def test_450_inactive_token(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    ksef_simulator.sim.config.token_activation_delay = 60
    token = ksef_simulator.sim.issue_ksef_token(NIP, active=False)
    status = _final(http, start_token_auth(http, token, NIP))
    assert status["code"] == 450 and status["details"] == ["Token nieaktywny"]


def test_450_token_of_another_context(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    """Since API 2.6.1 a KSeF token presented for another context ends in 450 (was 415)."""
    token = ksef_simulator.sim.issue_ksef_token(OTHER_NIP)
    status = _final(http, start_token_auth(http, token, NIP))
    assert status["code"] == 450
    assert status["details"] == [f"Token nie może być użyty w kontekście {NIP}"]


def test_480_blocked(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    ksef_simulator.sim.block_context(NIP)
    assert _final(http, start_token_auth(http, token, NIP))["code"] == 480


def test_21111_reused_challenge(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    challenge = http.post("/auth/challenge").json()
    public_key, _ = token_key(http)
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": encrypt(public_key, f"{token}|{challenge['timestampMs']}"),
    }
    assert http.post("/auth/ksef-token", json=body).status_code == 202
    again = http.post("/auth/ksef-token", json=body)
    assert again.status_code == 400 and ksef_error_code(again) == 21111


def test_21470_unknown_and_retired_key(
    http: httpx.Client, ksef_simulator: RunningSimulator
) -> None:
    token = ksef_simulator.sim.issue_ksef_token(NIP)
    challenge = http.post("/auth/challenge").json()
    public_key, key_id = token_key(http)
    body = {
        "challenge": challenge["challenge"],
        "contextIdentifier": {"type": "Nip", "value": NIP},
        "encryptedToken": encrypt(public_key, f"{token}|{challenge['timestampMs']}"),
        "publicKeyId": "A" * 43 + "=",
    }
    response = http.post("/auth/ksef-token", json=body)
    assert ksef_error_code(response) == 21470
    ksef_simulator.sim.retire_key(key_id)
    body["publicKeyId"] = key_id
    assert ksef_error_code(http.post("/auth/ksef-token", json=body)) == 21470


def test_rotation_lists_two_keys(make_ksef_simulator) -> None:
    running = make_ksef_simulator(rotate_keys=True)
    with httpx.Client(base_url=running.base_url) as http:
        keys = http.get("/security/public-key-certificates").json()
        token_keys = [k for k in keys if k["usage"] == ["KsefTokenEncryption"]]
        assert len(token_keys) == 2
        token = running.sim.issue_ksef_token(NIP)
        token_login(http, token, NIP)  # newest key (latest validFrom)
        running.sim.retire_key(token_keys[0]["publicKeyId"])
        keys = http.get("/security/public-key-certificates").json()
        assert len([k for k in keys if k["usage"] == ["KsefTokenEncryption"]]) == 1


@pytest.mark.parametrize(
    "body",
    [
        {},
        {
            "challenge": "short",
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "encryptedToken": "AA==",
        },
        {
            "challenge": "x" * 36,
            "contextIdentifier": {"type": "Foo", "value": NIP},
            "encryptedToken": "AA==",
        },
        {
            "challenge": "x" * 36,
            "contextIdentifier": {"type": "Nip", "value": "123"},
            "encryptedToken": "AA==",
        },
        {
            "challenge": "x" * 36,
            "contextIdentifier": {"type": "Nip", "value": "5261040829"},
            "encryptedToken": "AA==",
        },
        {
            "challenge": "x" * 36,
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "encryptedToken": "!!",
        },
        {
            "challenge": "x" * 36,
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "encryptedToken": "AA==",
            "publicKeyId": "x",
        },
        {
            "challenge": "x" * 36,
            "contextIdentifier": {"type": "Nip", "value": NIP},
            "encryptedToken": "AA==",
            "authorizationPolicy": {"allowedIps": {"ip4Addresses": ["999.0.0.1"]}},
        },
    ],
)
def test_21405_validation(http: httpx.Client, body: dict) -> None:
    response = http.post("/auth/ksef-token", json=body)
    assert response.status_code == 400 and ksef_error_code(response) == 21405


def test_21001_not_json(http: httpx.Client) -> None:
    """API 2.9.0 lists 21001 "Nieczytelna treść." for an unreadable body of this endpoint."""
    response = http.post(
        "/auth/ksef-token", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400 and ksef_error_code(response) == 21001


def test_problem_details_dialect(http: httpx.Client) -> None:
    response = http.post("/auth/ksef-token", json={}, headers={"X-Error-Format": "problem-details"})
    assert response.headers["content-type"].startswith("application/problem+json")
    body = response.json()
    assert body["status"] == 400 and body["errors"][0]["code"] == 21405
    assert body["instance"] == "/v2/auth/ksef-token"


def test_register_token_any_format(http: httpx.Client, ksef_simulator: RunningSimulator) -> None:
    ksef_simulator.sim.register_ksef_token(NIP, "my-seeded-token")
    token_login(http, "my-seeded-token", NIP)
