"""Rate limits as API 2.9.0 publishes them: per operation, public per IP, protected per
(context, IP); GET /rate-limits; the limits come from the shipped spec's x-rate-limits."""

from __future__ import annotations

import time

import httpx
import pytest
from conftest import NIP, OTHER_NIP, SyncASGI, fast
from sim_client import bearer, start_token_auth, token_login, wait_status
from sim_openapi import check, spec

from ksef_auth_simulator import Simulator
from ksef_auth_simulator.app import ksef_routes
from ksef_auth_simulator.ratelimit import ANONYMOUS, published_limits

AUTH_OPERATIONS = [
    "POST /auth/challenge",
    "POST /auth/ksef-token",
    "POST /auth/xades-signature",
    "GET /auth/{referenceNumber}",
    "POST /auth/token/redeem",
    "POST /auth/token/refresh",
    "GET /security/public-key-certificates",
]


class Clock:
    """A clock that moves only when told (the windows are seconds, minutes and hours)."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def _client(sim: Simulator, host: str = "127.0.0.1") -> httpx.Client:
    return httpx.Client(transport=SyncASGI(sim.app, host), base_url="http://ksef.local/v2")


def test_every_served_operation_has_its_published_limits() -> None:
    """Each operation's limits are its own x-rate-limits in the shipped 2.9.0 spec."""
    table = published_limits()
    for route in ksef_routes(Simulator(fast())):
        entry = table[route.operation]
        if route.path.startswith("/hmac/"):
            assert entry.group == ANONYMOUS  # not KSeF: public, 60/s per IP
            continue
        published = spec()["paths"][route.path][route.method.lower()]["x-rate-limits"]
        assert entry.values() == {
            "perSecond": published.get("perSecond", -1),
            "perMinute": published.get("perMinute", -1),
            "perHour": published.get("perHour", -1),
        }
    for operation in AUTH_OPERATIONS:
        assert table[operation].group == ANONYMOUS and not table[operation].per_context
    for operation in ("GET /auth/sessions", "POST /tokens", "GET /rate-limits"):
        assert table[operation].group == "other" and table[operation].per_context


def test_each_auth_operation_has_its_own_60_per_second() -> None:
    """A login is five operations; KSeF counts each separately, so 60 logins/s per IP fit
    (one shared counter would have stopped at 12)."""
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, clock=clock))
    token = sim.issue_ksef_token(NIP)
    with _client(sim) as client:
        logins = [token_login(client, token, NIP) for _ in range(60)]  # all in one second
        assert sim.counters()["events"].get("rate_limited", 0) == 0
        for operation in ("POST /auth/challenge", "POST /auth/token/redeem"):
            assert sim.counters()["endpoints"][operation] == {"calls": 60, "200": 60}
        assert client.post("/auth/challenge").status_code == 429
        assert client.get("/security/public-key-certificates").status_code == 429
        refresh = bearer(logins[0]["refreshToken"]["token"])
        assert client.post("/auth/token/refresh", headers=refresh).status_code == 200
        clock.now += 1.01
        assert client.post("/auth/challenge").status_code == 200


def test_public_operations_are_counted_per_ip() -> None:
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, rate_limit_scale=0.1, clock=clock))  # 6/s
    with _client(sim, "10.0.0.1") as one, _client(sim, "10.0.0.2") as two:
        assert [one.post("/auth/challenge").status_code for _ in range(7)][-2:] == [200, 429]
        assert two.post("/auth/challenge").status_code == 200


def test_status_polls_are_per_ip_across_contexts() -> None:
    """The anonymous group (status, redeem, refresh too) is per IP, whatever the context."""
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, rate_limit_scale=0.1, clock=clock))  # 6/s
    with _client(sim) as client:
        started = []
        for nip in (NIP, OTHER_NIP):
            started.append(start_token_auth(client, sim.issue_ksef_token(nip), nip).json())
            clock.now += 1.01  # each start costs a key listing, a challenge, a submission
        codes = []
        for n in range(7):
            op = started[n % 2]
            headers = bearer(op["authenticationToken"]["token"])
            codes.append(client.get(f"/auth/{op['referenceNumber']}", headers=headers).status_code)
        assert codes == [200] * 6 + [429]


def test_protected_operations_are_per_context_and_per_operation() -> None:
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, clock=clock))  # other: 10/s, 30/min, 120/h
    with _client(sim) as client:
        first = token_login(client, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]
        clock.now += 1.01
        other = token_login(client, sim.issue_ksef_token(OTHER_NIP), OTHER_NIP)
        second = other["accessToken"]["token"]
        clock.now += 1.01
        codes = [client.get("/auth/sessions", headers=bearer(first)).status_code for _ in range(11)]
        assert codes == [200] * 10 + [429]
        # another context, same IP, same operation: its own counter
        assert client.get("/auth/sessions", headers=bearer(second)).status_code == 200
        # same context, another operation: its own counter
        assert client.get("/tokens", headers=bearer(first)).status_code == 200
        assert client.get("/rate-limits", headers=bearer(first)).status_code == 200
    per_context = sim.counters(context=NIP)
    assert per_context["events"]["rate_limited"] == 1
    assert per_context["endpoints"]["GET /auth/sessions"] == {"calls": 11, "200": 10, "429": 1}
    assert "429" not in sim.counters(context=OTHER_NIP)["endpoints"]["GET /auth/sessions"]


def test_minute_and_hour_windows() -> None:
    clock = Clock()
    sim = Simulator(fast(rate_limits=True, clock=clock))
    with _client(sim) as client:
        headers = bearer(
            token_login(client, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]
        )
        codes = []
        for _ in range(31):
            codes.append(client.get("/tokens", headers=headers).status_code)
            clock.now += 0.15
        assert codes[:30] == [200] * 30 and codes[30] == 429
        response = client.get("/tokens", headers=headers)
        assert 50 <= int(response.headers["retry-after"]) <= 60
        assert "na minutę" in response.json()["status"]["details"][0]


@pytest.mark.parametrize("scale", [1.0, 0.1])
def test_get_rate_limits(scale: float) -> None:
    """GET /rate-limits reports every 2.8+ group with the limits in force (scaled)."""
    sim = Simulator(fast(rate_limit_scale=scale))
    example = spec()["paths"]["/rate-limits"]["get"]["responses"]["200"]["content"][
        "application/json"
    ]["example"]
    with _client(sim) as client:
        assert client.get("/rate-limits").status_code == 401
        access = token_login(client, sim.issue_ksef_token(NIP), NIP)["accessToken"]["token"]
        response = client.get("/rate-limits", headers=bearer(access))
        check(response)
    body = response.json()
    assert set(body) == set(example)
    for group, values in example.items():
        expected = {k: (max(1, int(v * scale)) if v > 0 else -1) for k, v in values.items()}
        assert body[group] == expected, group
    assert body == sim.rate_limits()
    assert body["anonymous"]["perSecond"] == max(1, int(60 * scale))


def test_counters_of_one_context_over_http(make_ksef_simulator) -> None:
    running = make_ksef_simulator()
    token = running.sim.issue_ksef_token(NIP)
    with httpx.Client(base_url=running.base_url) as http:
        token_login(http, token, NIP)
        wait_status(http, start_token_auth(http, "unknown", NIP).json())
    mine = httpx.get(f"{running.root_url}/_sim/counters", params={"context": NIP}).json()
    assert mine["context"] == NIP
    assert mine["events"]["logins_completed"] == 1
    assert mine["endpoints"]["POST /auth/ksef-token"] == {"calls": 2, "202": 2}
    assert mine["endpoints"]["POST /auth/token/redeem"] == {"calls": 1, "200": 1}
    assert mine["endpoints"]["GET /auth/{referenceNumber}"]["calls"] >= 2
    assert "POST /auth/challenge" not in mine["endpoints"]  # a challenge has no context yet
    assert mine == running.sim.counters(context=NIP)
    nobody = httpx.get(f"{running.root_url}/_sim/counters", params={"context": OTHER_NIP}).json()
    assert nobody == {"context": OTHER_NIP, "events": {}, "endpoints": {}}


def test_scaled_limits_count_exactly() -> None:
    """--rate-limit-scale 1000: 60,000 challenges in a second pass, the next one waits for the
    first to leave the window (the limiter keeps one log per window: no rescans)."""
    from ksef_auth_simulator.errors import TooManyRequests
    from ksef_auth_simulator.ratelimit import RateLimiter

    limiter = RateLimiter(scale=1000)
    start = 1_800_000_000.0
    for n in range(60_000):
        limiter.hit("POST /auth/challenge", "10.0.0.1", start + n * 1e-5)
    with pytest.raises(TooManyRequests) as info:
        limiter.hit("POST /auth/challenge", "10.0.0.1", start + 0.7)
    assert info.value.retry_after == 1
    limiter.hit("POST /auth/challenge", "10.0.0.2", start + 0.7)  # another IP
    limiter.hit("POST /auth/challenge", "10.0.0.1", start + 1.0 + 1e-6)  # the first has left
    for n in range(30_000):  # sessions at scale 1000: 10,000/s, 30,000/min, 120,000/h
        limiter.hit("GET /auth/sessions", ("5261040828", "10.0.0.1"), start + n * 1e-3)
    with pytest.raises(TooManyRequests) as info:
        limiter.hit("GET /auth/sessions", ("5261040828", "10.0.0.1"), start + 31)
    assert 25 <= info.value.retry_after <= 30 and "na minutę" in info.value.detail
