"""Fault injection and rate limits."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import NIP, SyncASGI, fast
from sim_client import bearer, start_token_auth, token_login, wait_status

from ksef_auth_simulator import FaultRule, Simulator
from ksef_auth_simulator.server import RunningSimulator


def test_429_on_refresh_both_dialects(client: httpx.Client, sim: Simulator) -> None:
    tokens = token_login(client, sim.issue_ksef_token(NIP), NIP)
    sim.add_fault(
        FaultRule(endpoint="POST /auth/token/refresh", status=429, retry_after=3, times=2)
    )
    headers = bearer(tokens["refreshToken"]["token"])
    legacy = client.post("/auth/token/refresh", headers=headers)
    assert legacy.status_code == 429 and legacy.headers["retry-after"] == "3"
    assert legacy.json()["status"]["code"] == 429
    problem = client.post(
        "/auth/token/refresh", headers={**headers, "X-Error-Format": "problem-details"}
    )
    assert problem.headers["content-type"].startswith("application/problem+json")
    assert problem.json()["status"] == 429 and problem.json()["title"] == "Too Many Requests"
    assert client.post("/auth/token/refresh", headers=headers).status_code == 200  # times=2 used
    assert sim.counters()["events"]["rate_limited"] == 2


def test_nth_call_and_5xx(client: httpx.Client, sim: Simulator) -> None:
    sim.add_fault(FaultRule(endpoint="POST /auth/challenge", status=503, nth=2, times=1))
    codes = [client.post("/auth/challenge").status_code for _ in range(4)]
    assert codes == [200, 503, 200, 200]
    sim.clear_faults()
    sim.add_fault(FaultRule(endpoint="*", status=500, times=1))
    assert client.get("/security/public-key-certificates").status_code == 500


def test_probability_with_seed(client: httpx.Client, sim: Simulator) -> None:
    def run() -> list[int]:
        sim.clear_faults()
        sim.add_fault(
            FaultRule(endpoint="POST /auth/challenge", status=500, probability=0.5, seed=7)
        )
        return [client.post("/auth/challenge").status_code for _ in range(20)]

    first = run()
    assert first == run() and 0 < first.count(500) < 20


def test_template_endpoint_and_delay(client: httpx.Client, sim: Simulator) -> None:
    init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
    sim.add_fault(FaultRule(endpoint="GET /auth/{referenceNumber}", delay=0.2, times=1))
    started = time.monotonic()
    assert wait_status(client, init)["status"]["code"] == 200
    assert time.monotonic() - started >= 0.2


def test_stuck_at_100(client: httpx.Client, sim: Simulator) -> None:
    sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", stuck=True, times=1))
    init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
    assert wait_status(client, init, timeout=0.3)["status"]["code"] == 100


@pytest.mark.parametrize("code", [550, 460, 500])
def test_forced_final_status(client: httpx.Client, sim: Simulator, code: int) -> None:
    sim.add_fault(FaultRule(endpoint="POST /auth/ksef-token", auth_status=code))
    init = start_token_auth(client, sim.issue_ksef_token(NIP), NIP).json()
    status = wait_status(client, init)["status"]
    assert status["code"] == code and status["description"]


def test_drop_over_real_http(ksef_simulator: RunningSimulator) -> None:
    sim = ksef_simulator.sim
    sim.add_fault(FaultRule(endpoint="POST /auth/token/refresh", drop=True, times=1))
    with httpx.Client(base_url=ksef_simulator.base_url) as http:
        tokens = token_login(http, sim.issue_ksef_token(NIP), NIP)
        headers = bearer(tokens["refreshToken"]["token"])
        with pytest.raises(httpx.TransportError):
            http.post("/auth/token/refresh", headers=headers)
        assert http.post("/auth/token/refresh", headers=headers).status_code == 200
    assert sim.counters()["events"]["dropped_connections"] == 1


def test_drop_in_process(client: httpx.Client, sim: Simulator) -> None:
    sim.add_fault(FaultRule(endpoint="POST /auth/challenge", drop=True, times=1))
    with pytest.raises(httpx.TransportError):
        client.post("/auth/challenge")
    assert client.post("/auth/challenge").status_code == 200


def test_fault_rule_validation() -> None:
    with pytest.raises(ValueError):
        FaultRule(status=200)
    with pytest.raises(ValueError):
        FaultRule(probability=2.0)
    with pytest.raises(ValueError):
        FaultRule.from_dict({"bogus": 1})


def _client(sim: Simulator) -> httpx.Client:
    return httpx.Client(transport=SyncASGI(sim.app), base_url="http://ksef.local/v2")


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_rate_limit_public_per_second() -> None:
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, rate_limit_scale=0.1, clock=clock))  # 6 per second
    with _client(sim) as client:
        codes = [client.post("/auth/challenge").status_code for _ in range(8)]
        assert codes[:6] == [200] * 6 and codes[6:] == [429, 429]
        response = client.post("/auth/challenge")
        assert response.headers["retry-after"] == "1"
        assert "na sekundę" in response.json()["status"]["details"][0]
        clock.now += 1.01
        assert client.post("/auth/challenge").status_code == 200


def test_rate_limit_protected_minute_and_hour() -> None:
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, clock=clock))  # sessions: 10/s, 30/min, 120/h
    with _client(sim) as client:
        tokens = token_login(client, sim.issue_ksef_token(NIP), NIP)
        headers = bearer(tokens["accessToken"]["token"])
        codes = []
        for _ in range(31):
            codes.append(client.get("/auth/sessions", headers=headers).status_code)
            clock.now += 0.15
        assert codes[:30] == [200] * 30 and codes[30] == 429
        retry = int(client.get("/auth/sessions", headers=headers).headers["retry-after"])
        assert 50 <= retry <= 60
        for _ in range(3):  # 4 x 30 per minute = 120 per hour
            clock.now += 61
            for _ in range(30):
                assert client.get("/auth/sessions", headers=headers).status_code == 200
                clock.now += 0.15
        clock.now += 61
        blocked = client.get("/auth/sessions", headers=headers)
        assert blocked.status_code == 429 and int(blocked.headers["retry-after"]) > 60
        # the limit is per (context, IP): the public challenge endpoint is unaffected
        assert client.post("/auth/challenge").status_code == 200


def test_rate_limits_off(client: httpx.Client) -> None:
    assert all(client.post("/auth/challenge").status_code == 200 for _ in range(80))
