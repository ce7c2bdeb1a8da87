"""Request bodies: a size limit, and unreadable or deeply nested JSON is a 400 (21001 where API
2.9.0 lists it, 21405 elsewhere), never a 500, on every endpoint that reads a body."""

from __future__ import annotations

import httpx
import pytest
from conftest import NIP, SyncASGI, fast
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sim_client import bearer, ksef_error_code, token_login
from sim_openapi import check

from ksef_auth_simulator import Simulator
from ksef_auth_simulator.bodies import MAX_JSON_DEPTH
from ksef_auth_simulator.server import RunningSimulator

DEEP = b"[" * 100_000 + b"]" * 100_000
JUST_TOO_DEEP = b'{"a":' * (MAX_JSON_DEPTH + 1) + b"1" + b"}" * (MAX_JSON_DEPTH + 1)
JSON = {"Content-Type": "application/json"}


@pytest.fixture
def sim() -> Simulator:
    return Simulator(fast(max_body_bytes=64 * 1024))


@pytest.fixture
def client(sim: Simulator) -> httpx.Client:
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as c:
        yield c


@pytest.mark.parametrize(
    ("path", "code"),
    [("/auth/ksef-token", 21001), ("/auth/challenge", 21405), ("/hmac/session", 21405)],
)
def test_deep_json_is_400(client: httpx.Client, path: str, code: int) -> None:
    response = client.post(path, content=JUST_TOO_DEEP, headers=JSON)
    assert response.status_code == 400 and ksef_error_code(response) == code
    assert "Zagnieżdżenie" in response.text


def test_deep_json_within_the_size_limit_is_400() -> None:
    sim = Simulator(fast())  # 1 MB: 100k-deep JSON fits, and would overflow the parser
    with httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2") as client:
        for path in ("/auth/ksef-token", "/auth/challenge"):
            response = client.post(path, content=DEEP, headers=JSON)
            assert response.status_code == 400, path
            check(response)
        access = token_login(client, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]
        response = client.post("/tokens", content=DEEP, headers={**JSON, **bearer(access)})
        assert response.status_code == 400 and ksef_error_code(response) == 21001
        check(response)
        admin = httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local")
        with admin:
            response = admin.post("/_sim/faults", content=DEEP, headers=JSON)
            assert response.status_code == 400 and "Zagnieżdżenie" in response.json()["error"]


def test_json_nested_to_the_limit_is_read(client: httpx.Client) -> None:
    """Depth alone (up to the limit) is not an error: the body is then judged as usual."""
    depth = MAX_JSON_DEPTH - 1
    nested = b'{"x":' * depth + b"1" + b"}" * depth
    body = b'{"challenge": "x", "contextIdentifier": {"type": "Nip", "value": "5261040828"},'
    body += b' "encryptedToken": "AAAA", "extra": ' + nested + b"}"
    response = client.post("/auth/ksef-token", content=body, headers=JSON)
    assert response.status_code == 400 and ksef_error_code(response) == 21405  # challenge


@pytest.mark.parametrize("path", ["/auth/ksef-token", "/auth/xades-signature", "/auth/challenge"])
def test_body_over_the_limit(client: httpx.Client, path: str) -> None:
    big = b'{"pad": "' + b"x" * (64 * 1024) + b'"}'
    media = "application/xml" if "xades" in path else "application/json"
    response = client.post(path, content=big, headers={"Content-Type": media})
    assert response.status_code == 400 and "przekracza 65536 bajtów" in response.text
    check(response)


def test_body_over_the_limit_streamed_without_length(sim: Simulator, client: httpx.Client) -> None:
    def chunks():
        for _ in range(100):
            yield b"x" * 4096

    response = client.post("/auth/ksef-token", content=chunks(), headers=JSON)
    assert response.status_code == 400 and ksef_error_code(response) == 21001


def test_over_real_http(make_ksef_simulator) -> None:
    running: RunningSimulator = make_ksef_simulator(max_body_bytes=10_000)
    with httpx.Client(base_url=running.base_url) as http:
        response = http.post("/auth/ksef-token", content=b"{" * 20_000, headers=JSON)
        assert response.status_code == 400 and ksef_error_code(response) == 21001
        response = http.post("/auth/ksef-token", content=b"[" * 5_000, headers=JSON)
        assert response.status_code == 400 and ksef_error_code(response) == 21001
        assert http.post("/auth/challenge").status_code == 200  # still serving


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(body=st.binary(max_size=300) | st.text(max_size=300).map(str.encode))
def test_no_body_gives_500(client: httpx.Client, body: bytes) -> None:
    for path in ("/auth/ksef-token", "/auth/challenge", "/auth/xades-signature", "/hmac/session"):
        media = "application/xml" if "xades" in path else "application/json"
        response = client.post(path, content=body, headers={"Content-Type": media})
        assert response.status_code < 500, (path, body, response.text)
