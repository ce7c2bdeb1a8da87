"""KsefAuth: the session manager as an httpx.Auth, sync and async, against the simulator."""

from __future__ import annotations

import httpx
import pytest

from ksef_auth import ConfigError, Environment
from ksef_auth.httpx_auth import KsefAuth
from ksef_auth_simulator import FaultRule, RunningSimulator

from .test_flow_support import EndpointDelta, context_counts, make_strategy, simulator_fixtures

_shared_sim, _sim = simulator_fixtures()


def test_base_url_and_requests(sim: RunningSimulator) -> None:
    auth = make_strategy(sim).httpx_auth()
    assert isinstance(auth, KsefAuth)
    assert auth.base_url == sim.base_url
    with httpx.Client(base_url=auth.base_url, auth=auth) as client:
        response = client.get("/auth/sessions")
    assert response.status_code == 200
    assert response.request.headers["Authorization"] == f"Bearer {auth.token()}"


def test_a_401_invalidates_the_token_used_and_replays_once(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    auth = strategy.httpx_auth()
    used = auth.token()
    sim.sim.add_fault(FaultRule(endpoint="GET /auth/sessions", status=401, times=1))
    delta = EndpointDelta(sim)
    with httpx.Client(base_url=auth.base_url, auth=auth) as client:
        response = client.get("/auth/sessions")
    assert response.status_code == 200
    assert response.request.headers["Authorization"] != f"Bearer {used}"
    assert [r.status_code for r in response.history] == [401]
    assert delta("GET /auth/sessions", "401") == 1
    assert context_counts(sim, strategy.context.value)["refreshes"] == 1


def test_a_second_401_is_returned_not_replayed_again(sim: RunningSimulator) -> None:
    auth = make_strategy(sim).httpx_auth()
    sim.sim.add_fault(FaultRule(endpoint="GET /auth/sessions", status=401, times=2))
    with httpx.Client(base_url=auth.base_url, auth=auth) as client:
        response = client.get("/auth/sessions")
    assert response.status_code == 401
    assert len(response.history) == 1


def test_a_streaming_body_is_not_replayed(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    auth = strategy.httpx_auth()
    used = auth.token()
    sim.sim.add_fault(FaultRule(endpoint="POST /tokens", status=401, times=1))

    def body() -> object:
        yield b'{"permissions": ["InvoiceRead"], "description": "streamed"}'

    with httpx.Client(base_url=auth.base_url, auth=auth) as client:
        response = client.post("/tokens", content=body())  # type: ignore[arg-type]
    assert response.status_code == 401
    assert auth.token() != used  # the token was still dropped: the next request gets a new one


async def test_async_client_replays_after_401(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    auth = strategy.httpx_auth()
    used = await auth.atoken()
    sim.sim.add_fault(FaultRule(endpoint="GET /auth/sessions", status=401, times=1))
    async with httpx.AsyncClient(base_url=auth.base_url, auth=auth) as client:
        response = await client.get("/auth/sessions")
        assert response.status_code == 200
        assert response.request.headers["Authorization"] != f"Bearer {used}"
        again = await client.get("/auth/sessions")
    assert again.status_code == 200
    assert context_counts(sim, strategy.context.value)["refreshes"] == 1


async def test_async_cold_start_logs_in_once(sim: RunningSimulator) -> None:
    import asyncio

    strategy = make_strategy(sim)
    auth = strategy.httpx_auth()
    async with httpx.AsyncClient(base_url=auth.base_url, auth=auth) as client:
        responses = await asyncio.gather(*(client.get("/auth/sessions") for _ in range(8)))
    assert {r.status_code for r in responses} == {200}
    assert context_counts(sim, strategy.context.value)["logins_completed"] == 1


def test_the_token_never_goes_to_another_host(sim: RunningSimulator) -> None:
    auth = make_strategy(sim).httpx_auth()
    with httpx.Client(auth=auth) as client:
        assert client.get(sim.base_url + "/auth/sessions").status_code == 200
        # a checked origin is remembered; any other scheme, host or port is checked afresh
        for url in ("https://example.com/v2/auth/sessions", "http://example.com/v2/x"):
            with pytest.raises(ConfigError, match="refuses to send its token"):
                client.get(url)


def test_the_token_never_goes_over_plain_http(sim: RunningSimulator) -> None:
    strategy = make_strategy(sim)
    strategy.environment = Environment.of("https://ksef.example.com/v2")
    auth = KsefAuth(strategy.session)
    with httpx.Client(auth=auth) as client, pytest.raises(ConfigError, match="plain http"):
        client.get("http://ksef.example.com/v2/auth/sessions")
